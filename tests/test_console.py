"""Commands: packaged config names, errors as one message, exit statuses, the installed scripts."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dcl import console
from dcl.cli import train_main
from dcl.configs import HERE, config_names, config_path, resolve_config_args

REPO = Path(__file__).resolve().parents[1]


def test_packaged_configs_are_the_repositorys_and_resolve_by_name():
    names = config_names()
    assert "quickstart" in names and "dm/cifar10_ipc10" in names and len(names) == 67
    # The repository's configs/ is the packaged folder, so both spellings name one file.
    assert (REPO / "configs").resolve() == HERE
    for spelling in ("dm/cifar10_ipc10", "dm/cifar10_ipc10.yaml", "configs/dm/cifar10_ipc10.yaml"):
        assert config_path(spelling) == HERE / "dm" / "cifar10_ipc10.yaml"


def test_an_unknown_config_name_suggests_the_close_ones():
    with pytest.raises(FileNotFoundError, match=r"Did you mean dm/cifar10_ipc1, dm/cifar10_ipc10"):
        config_path("dm/cifar10_ipc11")


def test_only_names_are_rewritten(tmp_path):
    local = tmp_path / "quickstart"  # a local file wins over the packaged name
    local.write_text("seed_everything: 1\n")
    args = ["fit", "--config", "quickstart", "--config=dm/mnist_ipc1", "--model.ipc", "3"]
    assert resolve_config_args(args) == [
        "fit",
        "--config",
        str(HERE / "quickstart.yaml"),
        f"--config={HERE / 'dm' / 'mnist_ipc1.yaml'}",
        "--model.ipc",
        "3",
    ]
    assert resolve_config_args(["--config", str(local)]) == ["--config", str(local)]
    inline = "{seed_everything: 2}"
    assert resolve_config_args(["--config", inline]) == ["--config", inline]


def test_train_runs_a_packaged_config_by_name(tmp_path):
    args = ["fit", "--config", "quickstart", "--trainer.max_steps", "1", "--trainer.callbacks=[]"]
    args += ["--trainer.default_root_dir", str(tmp_path), "--data.cache_dir", str(tmp_path / "c")]
    args += ["--trainer.enable_progress_bar", "false", "--model.batch_real", "4"]
    cli = train_main(args)
    assert cli.trainer.global_step == 1 and cli.model.hparams.method == "dm"


def test_user_errors_print_one_message_and_exit_2(capsys, monkeypatch):
    def bad(args):
        raise ValueError("ipc must be at least 1, got 0.")

    monkeypatch.delenv("DCL_DEBUG", raising=False)
    assert console.run(bad) == 2
    err = capsys.readouterr().err
    assert "error: ipc must be at least 1, got 0." in err and "DCL_DEBUG=1" in err
    assert "Traceback" not in err
    monkeypatch.setenv("DCL_DEBUG", "1")
    with pytest.raises(ValueError, match="ipc must be at least 1"):
        console.run(bad)


def test_success_exits_0_whatever_the_command_returns():
    # ``sys.exit`` of a returned object would print it and exit 1: the scripts return 0.
    assert console.run(lambda args: {"results": 1}) == 0


def test_bugs_still_show_their_traceback():
    def broken(args):
        raise KeyError("internal")

    with pytest.raises(KeyError):
        console.run(broken)


@pytest.mark.slow
def test_the_script_reports_a_bad_value_without_a_traceback(tmp_path):
    env = {**os.environ, "DCL_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("DCL_DEBUG", None)
    argv = [sys.executable, str(REPO / "train_synthetic.py"), "fit", "--model.ipc", "0"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "train_synthetic.py: error: Invalid synthesis settings: ipc must be at least 1" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_wheel_ships_configs_and_four_commands(tmp_path):
    """What ``pip install <path>`` in another directory gets (built, not installed: no network)."""
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)]
    build = subprocess.run(argv, capture_output=True, text=True)
    if build.returncode != 0 and "setuptools" in build.stderr:
        pytest.skip(f"cannot build a wheel here (no setuptools from the index): {build.stderr}")
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("dcl_condense-*.whl")  # the distribution's name, not dcl
    files = zipfile.ZipFile(wheel).namelist()
    shipped = {f.removeprefix("dcl/configs/").removesuffix(".yaml") for f in files}
    assert set(config_names()) <= shipped
    (entry_points,) = [f for f in files if f.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("dcl-train", "dcl-evaluate", "dcl-continual", "dcl-nas"):
        assert f"{script} = dcl.console:" in text
