"""Choosing a matching method by name or class path, building it, and reading its sets' hints."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from dcl.methods.base import MatchingMethod
from dcl.methods.datadam import DataDAM
from dcl.methods.dc import DC
from dcl.methods.dm import DM
from dcl.methods.dsa import DSA
from dcl.methods.hints import PLAIN, EvaluationHints
from dcl.methods.mtt import MTT

BUILTIN: dict[str, type[MatchingMethod]] = {
    "dm": DM,
    "dc": DC,
    "dsa": DSA,
    "datadam": DataDAM,
    "mtt": MTT,
}
# SynthesisModule's own options (--model.*) that a method's constructor receives if it names them.
METHOD_OPTIONS: tuple[str, ...] = (
    "ipc",
    "metric",
    "outer_loop",
    "inner_loop",
    "lr_net",
    "momentum_net",
    "batch_train",
    "batched",
    "class_chunk",
)


def resolve_method(method: str) -> type[MatchingMethod]:
    """The class of ``method``: a built-in name or the dotted path of a ``MatchingMethod``.

    Raises:
        ValueError: Unknown name, a path that does not import, or not a ``MatchingMethod``.
    """
    if method in BUILTIN:
        return BUILTIN[method]
    hint = f"give {', '.join(BUILTIN)} or the dotted class path of a MatchingMethod subclass"
    module_name, _, attr = method.rpartition(".")
    if not module_name:
        raise ValueError(f"unknown method '{method}': {hint} (e.g. mypackage.methods.MyMethod).")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"Method '{method}': module '{module_name}' does not import ({err}); check the "
            "path and that the module is on PYTHONPATH."
        ) from err
    cls = getattr(module, attr, None)
    if cls is None:
        raise ValueError(f"Method '{method}': module '{module_name}' has no '{attr}'.")
    if not (isinstance(cls, type) and issubclass(cls, MatchingMethod)):
        raise ValueError(
            f"Method '{method}' is {cls!r}, not a subclass of dcl.methods.MatchingMethod; {hint}."
        )
    return cls


def build_method(
    cls: type[MatchingMethod], options: dict[str, Any], method_args: dict[str, Any] | None
) -> MatchingMethod:
    """``cls`` built from ``method_args`` and those of the module's ``options`` it names.

    Raises:
        ValueError: ``method_args`` repeat a module option or do not fit the constructor.
    """
    method_args = dict(method_args or {})
    repeated = sorted(set(method_args) & set(METHOD_OPTIONS))
    if repeated:
        flags = ", ".join(f"--model.{name}" for name in repeated)
        raise ValueError(f"Set {flags} as the module's option(s), not in method_args.")
    signature = inspect.signature(cls)
    named = {k: v for k, v in options.items() if k in signature.parameters}
    try:
        signature.bind(**named, **method_args)
    except TypeError as err:
        takes = ", ".join(signature.parameters) or "nothing"
        raise ValueError(
            f"method_args {method_args} do not fit {cls.__name__} ({err}); it takes: {takes}."
        ) from None
    return cls(**named, **method_args)


def evaluation_hints(method: str) -> EvaluationHints:
    """How sets of ``method`` train, for a set saved without its hints (older files).

    A built-in name or an importable method's class path gives the class's ``evaluation``;
    anything else (a coreset baseline such as ``random``, a path that no longer imports) trains
    as ``PLAIN``: no augmentation, 300 epochs.
    """
    try:
        return resolve_method(method).evaluation
    except ValueError:
        return PLAIN
