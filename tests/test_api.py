"""The public API (``import dcl``): every name documented, Google style, every argument named."""

import inspect

import lightning as L
import pytest
from torch import nn

import dcl

# Methods that override a Lightning or torch hook are documented by their base class.
HOOK_BASES = (L.LightningModule, L.LightningDataModule, L.Callback, nn.Module)


def _undocumented_arguments(func) -> list[str]:
    doc = inspect.getdoc(func) or ""
    names = [
        p.name
        for p in inspect.signature(func).parameters.values()
        if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if names and "Args:" not in doc:
        return names
    return [n for n in names if f"{n}:" not in doc and f"{n} (" not in doc]


def _public_methods(cls) -> list[str]:
    own = [
        n
        for n, f in inspect.getmembers(cls, inspect.isfunction)
        if not n.startswith("_") and f.__module__.startswith("dcl")
    ]
    return [n for n in own if not any(hasattr(base, n) for base in HOOK_BASES)]


PUBLIC = [n for n in dcl.__all__ if callable(getattr(dcl, n))]


def test_import_dcl_exports_what_a_user_needs():
    for name in ("RealDataModule", "SynthesisModule", "SyntheticSet", "EvaluationModule"):
        assert name in dcl.__all__
    assert {"run_protocol", "build_network", "select_baseline"} <= set(dcl.__all__)
    assert dcl.__version__


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_document_every_argument(name):
    obj = getattr(dcl, name)
    assert inspect.getdoc(obj), f"dcl.{name} has no docstring"
    target = obj.__init__ if inspect.isclass(obj) else obj
    doc_owner = obj  # a class documents its constructor's arguments (what the CLI shows)
    missing = [
        a for a in _undocumented_arguments(target) if f"{a}:" not in (inspect.getdoc(doc_owner))
    ]
    assert not missing, f"dcl.{name}: arguments without a description: {missing}"
    if inspect.isclass(obj):
        for method in _public_methods(obj):
            func = getattr(obj, method)
            assert inspect.getdoc(func), f"dcl.{name}.{method} has no docstring"
            gaps = _undocumented_arguments(func)
            assert not gaps, f"dcl.{name}.{method}: arguments without a description: {gaps}"
