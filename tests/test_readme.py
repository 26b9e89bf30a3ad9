"""The examples of the README and the guides run as written; ``import dcl`` exposes the API.

Every Python block of ``README.md`` and ``docs/*.md`` runs here (``# file: NAME`` blocks are
files the others import or read), and so do the command lines that use them.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import dcl

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def test_public_names_are_importable_from_dcl():
    for name in dcl.__all__:
        assert getattr(dcl, name) is not None, name
    assert dcl.SynthesisModule.__module__ == "dcl.synthesis.module"


def python_blocks() -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The pages' Python blocks: ``(page, code)`` examples to run, and files they use.

    Returns:
        The examples in page order (README first), each with its page's name, and the files
        (Python or YAML blocks that start ``# file: NAME``) by name.
    """
    examples, files = [], {}
    for page in PAGES:
        for lang, block in re.findall(r"```(python|yaml)\n(.*?)```", page.read_text(), re.S):
            if block.startswith("# file:"):
                files[block.split("\n")[0].removeprefix("# file: ")] = block
            elif lang == "python":
                examples.append((page.name, block))
    return examples, files


def example(marker: str) -> tuple[str, str]:
    """The one example (page name, code) that prints ``marker`` first on a line."""
    (found,) = [(page, code) for page, code in python_blocks()[0] if f'print("{marker}"' in code]
    return found


def command(marker: str) -> str:
    """The one command line of the pages that contains ``marker``."""
    lines = [line for page in PAGES for line in page.read_text().splitlines()]
    (found,) = [line for line in lines if marker in line]
    return found


@pytest.fixture
def readme_files(tmp_path, monkeypatch) -> Path:
    """The pages' files written to a folder on ``sys.path``, which is the working directory."""
    for name, text in python_blocks()[1].items():
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_python_example_of_the_pages_is_run_by_a_test():
    pages_and_markers = [
        (page, re.findall(r'print\("?(\w+)', code)) for page, code in python_blocks()[0]
    ]
    assert pages_and_markers == [("README.md", ["name"]), ("extending.md", ["mine"])]
    assert set(python_blocks()[1]) == {
        "mine.py",
        "cosine_dm.py",
        "cosine_dm.yaml",
        "test_cosine_dm.py",
    }


def test_the_readmes_python_example_runs(tmp_path, monkeypatch, capsys, digits_cache):
    page, code = python_blocks()[0][0]
    assert page == "README.md"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DCL_CACHE_DIR", str(digits_cache))
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    printed = {words[0]: float(words[1]) for words in lines if words[:1] in (["dm"], ["random"])}
    assert set(printed) == {"dm", "random"}
    assert all(0.0 <= accuracy <= 100.0 for accuracy in printed.values())


def test_the_guides_own_network_method_and_tensors_run_in_python(readme_files, capsys):
    page, code = example("mine")
    exec(compile(code, page, "exec"), {"__name__": "readme"})
    (line,) = [w for w in map(str.split, capsys.readouterr().out.splitlines()) if w[:1] == ["mine"]]
    assert 0.0 <= float(line[1]) <= 100.0


def test_the_guides_own_network_and_method_run_from_the_command_line(readme_files, digits_cache):
    from dcl.cli import train_main
    from dcl.data.synthetic import SyntheticSet

    args = shlex.split(command("--model.method mine.").split("dcl-train", 1)[1])
    args += ["--trainer.max_steps", "3", "--trainer.callbacks=[]", "--data.cache_dir"]
    args += [str(digits_cache), "--trainer.default_root_dir", str(readme_files / "runs")]
    args += ["--trainer.enable_progress_bar", "false"]
    cli = train_main(args)
    syn = SyntheticSet.load(Path(cli.trainer.log_dir) / "synthetic.pt")
    assert (syn.method, syn.backbone, syn.step) == ("mine.MeanImage", "mine.TwoLayer", 3)
    assert type(cli.model.matching).__name__ == "MeanImage"


def test_the_new_method_walkthrough_tests_pass(readme_files):
    import importlib

    tests = importlib.import_module("test_cosine_dm")
    names = [name for name in dir(tests) if name.startswith("test_")]
    assert len(names) == 2
    for name in names:
        getattr(tests, name)()


def test_the_new_method_walkthrough_config_runs(readme_files, digits_cache):
    from dcl.cli import train_main
    from dcl.data.synthetic import SyntheticSet
    from dcl.evaluation.recipe import recipes

    args = shlex.split(command("--config cosine_dm.yaml").split("dcl-train", 1)[1])
    args += ["--trainer.max_steps", "3", "--trainer.callbacks=[]", "--data.cache_dir"]
    args += [str(digits_cache), "--trainer.enable_progress_bar", "false"]
    cli = train_main(args)
    assert Path(cli.trainer.log_dir).parts[-3:-1] == ("cosine_dm", "lightning_logs")
    syn = SyntheticSet.load(Path(cli.trainer.log_dir) / "synthetic.pt")
    assert (syn.method, syn.step, cli.model.hparams.batch_real) == ("cosine_dm.CosineDM", 3, 32)
    (recipe,) = recipes(syn, ["ConvNet"]).values()  # the hints the method declared, read back
    assert (recipe.augment, recipe.epochs) == ("dsa", 1000)
