"""The coreset and application sections of results/README.md, from real tool outputs."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import summary  # noqa: E402
from dcl.applications.continual_cli import continual_main  # noqa: E402
from dcl.applications.nas_cli import nas_main  # noqa: E402
from dcl.evaluation.cli import main as evaluate_main  # noqa: E402


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _rows(text: str, first_cell: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith(f"| {first_cell} |")
    ]


def test_sections_render_what_the_tools_wrote(tmp_path: Path, digits_cache: Path) -> None:
    common = ["--cache_dir", str(digits_cache), "--device", "cpu"]
    spec = "random:digits:ipc=1:seed=0"
    coreset = evaluate_main(
        [*common, "--synthetic", spec, "--num_models", "2", "--epochs", "2"]
        + ["--output", str(tmp_path / "baselines" / "digits_random_ipc1.json")]
    )
    continual = continual_main(
        [*common, "--output", str(tmp_path / "continual"), "--steps", "2", "--ipc", "1"]
        + ["--classes_per_step", "2", "--orders", "2", "--dm_iterations", "2"]
        + ["--batch_real", "4", "--epochs", "1", "--methods", "dm,random"]
    )
    nas = nas_main(
        [*common, "--output", str(tmp_path / "nas"), "--ipc", "1", "--dm_iterations", "2"]
        + ["--batch_real", "4", "--widths", "8,16", "--depths", "1", "--acts", "relu"]
        + ["--norms", "instancenorm", "--top_k", "1", "--proxy_epochs", "1"]
        + ["--full_epochs", "1", "--full_subset", "50"]
    )
    text = summary.render(tmp_path)
    cl, search = _section(text, "Continual learning"), _section(text, "Architecture search")

    (row,) = _rows(_section(text, "Coreset baselines"), spec)
    result = coreset["results"]["ConvNet"]
    assert row[1:5] == ["ConvNet", "2 × 2", "none", f"{result['mean']:.1f} ± {result['std']:.1f}"]
    assert row[5] == "–"  # random selection uses no feature extractor

    for method, res in continual["methods"].items():
        (row,) = _rows(cl, method)
        assert row[1:3] == [
            f"{m:.1f} ± {s:.1f}" for m, s in zip(res["mean"], res["std"], strict=True)
        ]
    assert "| method | 2 classes | 4 classes |" in cl
    assert "`python continual.py --dataset digits" in cl

    for name, proxy in nas["proxies"].items():
        (row,) = _rows(search, name)
        assert row[1] == str(proxy["images"]) and row[3] == f"{proxy['spearman']:+.3f}"
        assert row[4] == f"{proxy['top_k_overlap']:.2f}" and row[5] == proxy["best"]
    assert "2 ConvNet variants" in search and f"on {nas['full']['images']} real images" in search


def test_sections_are_absent_without_their_files(tmp_path: Path) -> None:
    text = summary.render(tmp_path)
    for title in ("Coreset baselines", "Continual learning", "Architecture search"):
        assert title not in text


def test_commands_show_a_data_folder_outside_the_repository_as_the_variable() -> None:
    from benchmarks.summary_sections import portable

    run = "python -m benchmarks.reproduce dm mnist 1 --data-root {} --steps 2"
    for machine_specific in ("/srv/datasets", "../datasets", "~/data"):
        assert portable(run.format(machine_specific)) == run.format("$DCL_DATA_ROOT")
    for in_the_clone in (".cache/cifar10-jpeg", "data"):
        assert portable(run.format(in_the_clone)) == run.format(in_the_clone)
    assert portable("nas.py --data_root /x --ipc 1") == "nas.py --data_root $DCL_DATA_ROOT --ipc 1"
    assert portable("--override data.root=/x a=1") == "--override data.root=$DCL_DATA_ROOT a=1"
