"""The built wheel stands alone: in a fresh environment, its command runs the quick start.

Catches what an editable install hides: a module or config left out of the wheel, a console
script pointing at the wrong function, a path into the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DISTRIBUTION = "dcl-condense"
# The quick start cut to seconds: fewer image updates and one short evaluation network per set.
# The packaged config and the console script are still what runs.
SHORT = [
    "--trainer.max_steps",
    "20",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.callbacks="
    + json.dumps(
        [
            {
                "class_path": "dcl.evaluation.SynthesisEvaluation",
                "init_args": {"num_models": 1, "epochs": 10, "baseline": "random"},
            }
        ]
    ),
]


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without what points Python at other code.

    ``PYTHONPATH`` at a source tree holding ``*.egg-info`` (left by an in-place build) would
    make pip see the package as installed in the new environment and install nothing.
    """
    hidden = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in hidden} | extra


def run(command: list[str | Path], **kwargs) -> subprocess.CompletedProcess:
    """Run ``command``; on failure, fail the test with its output (not a bare exit status)."""
    kwargs.setdefault("env", clean_environment())
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{command[0]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def build_wheel(out: Path) -> Path:
    """The wheel of a copy of the project (building writes egg-info and build/ beside it)."""
    source = out / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "dcl", source / "dcl", ignore=shutil.ignore_patterns("__pycache__"))
    # No isolation and no index: the build uses this environment's setuptools, offline.
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    run([*pip, "--wheel-dir", out / "wheels", source], cwd=out)
    (wheel,) = (out / "wheels").glob("dcl_condense-*.whl")
    return wheel


def fresh_environment(root: Path, wheel: Path) -> Path:
    """A new virtual environment holding the wheel; returns its ``bin`` folder.

    The dependencies (torch and the rest) are not installed again, which would take minutes:
    after the wheel is in, a ``.pth`` file appends this interpreter's site-packages to the new
    environment's path. Its own site-packages stays first, so ``dcl`` comes from the wheel.
    """
    venv.create(root, with_pip=False, symlinks=True)
    python = root / "bin" / "python"
    # This interpreter's pip installs into the new environment (--python), offline.
    pip = [sys.executable, "-m", "pip", "--python", python]
    run([*pip, "install", "--no-deps", "--no-index", wheel], cwd=root)  # cwd: not the clone
    probe = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run([python, "-c", probe]).stdout.strip())
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "dependencies-of-the-test-runner.pth").write_text("\n".join(ours) + "\n")
    return root / "bin"


@pytest.mark.slow
def test_the_wheel_runs_the_quick_start_in_a_fresh_environment(tmp_path):
    wheel = build_wheel(tmp_path / "build")
    bin_dir = fresh_environment(tmp_path / "env", wheel)
    work = tmp_path / "work"  # neither the source tree nor a folder named like a config
    work.mkdir()
    env = clean_environment(
        DCL_CACHE_DIR=str(tmp_path / "cache"), DCL_AUTOTUNE_CACHE=str(tmp_path / "at.json")
    )

    where = f"import dcl, importlib.metadata as m; print(dcl.__file__, m.version('{DISTRIBUTION}'))"
    module, version = run([bin_dir / "python", "-c", where], cwd=work, env=env).stdout.split()
    assert Path(module).is_relative_to(tmp_path / "env"), module  # the wheel's, not the clone's
    assert version == "0.1.0"

    done = run([bin_dir / "dcl-train", "fit", "--config", "quickstart", *SHORT], cwd=work, env=env)
    out = done.stdout + done.stderr
    assert "Synthesis path:" in out and "random" in out, out
    (synthetic,) = (work / "runs" / "quickstart").rglob("synthetic.pt")
    (report,) = (work / "runs" / "quickstart").rglob("evaluation.json")
    results = json.loads(report.read_text())["results"]
    assert all(0.0 <= r["mean"] <= 100.0 for r in results.values()), results
