"""The README's Python example runs as written, and ``import dcl`` exposes the public API."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import dcl

README = Path(__file__).resolve().parents[1] / "README.md"


def test_public_names_are_importable_from_dcl():
    for name in dcl.__all__:
        assert getattr(dcl, name) is not None, name
    assert dcl.SynthesisModule.__module__ == "dcl.synthesis.module"


def python_blocks() -> tuple[list[str], dict[str, str]]:
    """The README's Python blocks: examples to run, and files (``# file: NAME``) they import."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    files = {
        b.split("\n")[0].removeprefix("# file: "): b for b in blocks if b.startswith("# file:")
    }
    return [b for b in blocks if not b.startswith("# file:")], files


@pytest.fixture
def readme_files(tmp_path, monkeypatch) -> Path:
    """The README's files written to a folder on ``sys.path``, which is the working directory."""
    for name, text in python_blocks()[1].items():
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_readmes_python_example_runs(tmp_path, monkeypatch, capsys, digits_cache):
    code = python_blocks()[0][0]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DCL_CACHE_DIR", str(digits_cache))
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    printed = {words[0]: float(words[1]) for words in lines if words[:1] in (["dm"], ["random"])}
    assert set(printed) == {"dm", "random"}
    assert all(0.0 <= accuracy <= 100.0 for accuracy in printed.values())


def test_the_readmes_own_network_method_and_tensors_run_in_python(readme_files, capsys):
    (code,) = python_blocks()[0][1:]
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    (line,) = [w for w in map(str.split, capsys.readouterr().out.splitlines()) if w[:1] == ["mine"]]
    assert 0.0 <= float(line[1]) <= 100.0


def test_the_readmes_own_network_and_method_run_from_the_command_line(readme_files, digits_cache):
    from dcl.cli import train_main
    from dcl.data.synthetic import SyntheticSet

    (command,) = [
        line for line in README.read_text().splitlines() if "--model.method mine." in line
    ]
    args = shlex.split(command.split("dcl-train", 1)[1])
    args += ["--trainer.max_steps", "3", "--trainer.callbacks=[]", "--data.cache_dir"]
    args += [str(digits_cache), "--trainer.default_root_dir", str(readme_files / "runs")]
    args += ["--trainer.enable_progress_bar", "false"]
    cli = train_main(args)
    syn = SyntheticSet.load(Path(cli.trainer.log_dir) / "synthetic.pt")
    assert (syn.method, syn.backbone, syn.step) == ("mine.MeanImage", "mine.TwoLayer", 3)
    assert type(cli.model.matching).__name__ == "MeanImage"
