"""Where datasets are read from when no root is given: ``$DCL_DATA_ROOT``, else ``./data``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dcl.configs import config_names, config_path
from dcl.data import RealDataModule, default_data_root, load_real
from dcl.data.cache import resolve_data_root


def test_the_default_root_is_the_variable_else_data(monkeypatch, tmp_path):
    monkeypatch.delenv("DCL_DATA_ROOT", raising=False)
    assert default_data_root() == Path("data")
    monkeypatch.setenv("DCL_DATA_ROOT", "")  # set but empty: as unset
    assert default_data_root() == Path("data")
    monkeypatch.setenv("DCL_DATA_ROOT", str(tmp_path))
    assert default_data_root() == tmp_path
    assert resolve_data_root(None) == tmp_path
    assert resolve_data_root("elsewhere") == Path("elsewhere")  # an explicit root wins


def test_modules_and_loaders_read_the_variable(monkeypatch, tmp_path, make_tree):
    written = make_tree(tmp_path / "tree", {"a": 2, "b": 3})
    monkeypatch.setenv("DCL_DATA_ROOT", str(tmp_path / "tree"))
    dm = RealDataModule("imagefolder", cache_dir=str(tmp_path / "cache"))
    assert dm.root == str(tmp_path / "tree")
    train, test = load_real("imagefolder", cache_dir=tmp_path / "cache")
    assert len(train) == len(written["train"]) and len(test) == len(written["test"])
    explicit = RealDataModule("imagefolder", root=str(tmp_path / "other"))
    assert explicit.root == str(tmp_path / "other")


def test_shipped_configs_leave_the_root_to_the_machine():
    """A published config names no data root, so ``--data.root`` or the variable decides."""
    for name in config_names():
        data = yaml.safe_load(config_path(name).read_text()).get("data") or {}
        assert "root" not in data, name


@pytest.mark.parametrize(
    "module, option",
    [
        ("dcl.evaluation.parser", "--data_root"),
        ("dcl.methods.mtt.cli", "--root"),
    ],
)
def test_command_line_roots_default_to_the_variable(module, option):
    import importlib

    parser = importlib.import_module(module).build_parser()
    assert parser.get_defaults()[option.lstrip("-")] is None
    assert "DCL_DATA_ROOT" in parser.format_help()
