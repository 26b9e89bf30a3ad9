"""Several ``--synthetic`` sets: one table, one JSON, TensorBoard HPARAMS runs and a plot."""

import json
from pathlib import Path

import pytest
from PIL import Image

from dcl.baselines import select_baseline
from dcl.data import SyntheticSet
from dcl.evaluation import cli
from dcl.evaluation.cli import main
from dcl.evaluation.hparams import ACCURACY, run_name
from dcl.evaluation.multiset import report_paths
from dcl.evaluation.setlist import join_sets, set_sources
from dcl.evaluation.setplot import ipc_series


@pytest.fixture(scope="module")
def two_sets(digits, tmp_path_factory) -> list[Path]:
    """Two saved digits sets: random at 1 and at 2 images per class."""
    folder = tmp_path_factory.mktemp("two_sets")
    return [
        select_baseline("random", digits[0], ipc, seed=3).save(folder / f"random_ipc{ipc}.pt")
        for ipc in (1, 2)
    ]


@pytest.fixture
def tiny(digits_cache) -> list[str]:
    return ["--models", "MLP", "--num_models", "2", "--epochs", "1", "--device", "cpu",
            "--cache_dir", str(digits_cache), "--autotune", "false"]  # fmt: skip


def hparams_in(run: Path) -> dict:
    """The hyperparameters and metric values a TensorBoard run folder holds."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(run))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    values = {}
    for key, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        values[key] = getattr(value, kind)
    metrics = {tag: events.Scalars(tag)[0].value for tag in events.Tags()["scalars"]}
    return {"hparams": values, "metrics": metrics}


def test_three_sets_give_one_table_json_hparams_and_plot(two_sets, tiny, tmp_path, capsys):
    out = tmp_path / "report" / "sets.json"
    sources = [str(p) for p in two_sets] + ["random:digits:ipc=1:seed=5"]
    doc = main(["--synthetic", *sources, *tiny, "--output", str(out)])

    paths = report_paths(str(out))
    assert json.loads(paths["json"].read_text()) == doc
    assert set(doc) == {"rows", "protocol", "version"}
    rows = doc["rows"]
    assert [r["set"] for r in rows] == sources
    assert [r["ipc"] for r in rows] == [1, 2, 1] and {r["dataset"] for r in rows} == {"digits"}
    for row in rows:
        assert row["networks"] == 2 and 0.0 <= row["mean"] <= 100.0 and row["std"] >= 0.0
        assert row["selected_on"] == "last epoch"
        assert row["mean"] == pytest.approx(row["results"]["MLP"]["mean"])
    protocol = doc["protocol"]
    assert protocol["architectures"] == ["MLP"] and protocol["num_models"] == 2
    assert protocol["synthetic"] == sources and protocol["selected_on"] == ["last epoch"]
    assert protocol["lr"] == "auto" and [r["lr"] for r in rows] == [0.01] * 3
    assert "method" not in protocol and "recipes" not in protocol  # those are per set

    table = paths["markdown"].read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + 3  # the header and one row per set
    assert "accuracy %" in lines[0] and "selected on" in lines[0]
    assert f"{rows[1]['mean']:.2f} ± {rows[1]['std']:.2f}" in lines[2]
    assert "recipe" not in lines[0]  # the same recipe for every set: said once, under the table
    assert "Recipe: none, E=1" in table and table in capsys.readouterr().out

    runs = sorted(p for p in paths["tensorboard"].iterdir() if p.is_dir())
    assert [r.name for r in runs] == [run_name(k, s) for k, s in enumerate(sources, 1)]
    second = hparams_in(runs[1])
    assert second["hparams"]["set"] == sources[1] and second["hparams"]["ipc"] == 2
    assert second["hparams"]["method"] == "random" and second["hparams"]["models"] == "MLP"
    assert second["metrics"][ACCURACY] == pytest.approx(rows[1]["mean"], abs=1e-4)

    with Image.open(paths["plot"]) as image:
        assert image.format == "PNG"
        assert image.width >= 1200 and image.height == 460  # two panels: per set, per ipc
    assert paths["plot"].stat().st_size > 5_000


def test_recipes_that_differ_get_a_column(digits, tmp_path, digits_cache, monkeypatch):
    base = select_baseline("random", digits[0], 1, seed=1)
    dm = SyntheticSet(base.images, base.labels, base.info, ipc=1, method="dm", step=7)
    monkeypatch.setattr(cli, "run_protocol", lambda s, t, models, **k: {"MLP": [40.0, 50.0]})
    args = ["--synthetic", str(dm.save(tmp_path / "dm.pt")), "random:digits:ipc=1"]
    args += ["--models", "MLP", "--num_models", "2", "--cache_dir", str(digits_cache)]
    doc = main([*args, "--device", "cpu", "--output", str(tmp_path / "out.json")])
    assert [r["recipe"] for r in doc["rows"]] == ["dsa, E=1000; lr 0.01", "none, E=300; lr 0.01"]
    table = (tmp_path / "out.md").read_text()
    assert "| recipe |" in table and "| 45.00 ± 5.00 |" in table
    with Image.open(tmp_path / "out.png") as image:
        assert image.width < 1200  # one method per ipc: no ipc panel


def test_single_set_keeps_its_document(two_sets, tiny, tmp_path):
    doc = main(["--synthetic", str(two_sets[0]), *tiny, "--output", str(tmp_path / "one.json")])
    assert set(doc) == {
        "results",
        "selected_on",
        "selection",
        "baseline",
        "settings",
        "storage",
        "version",
    }
    assert doc["settings"]["synthetic"] == str(two_sets[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.json"]


def test_join_sets_and_set_sources(tmp_path):
    args = ["--synthetic", "a.pt", "b.pt", "herding:mnist:ipc=1", "--seed", "1"]
    assert join_sets(args) == [
        "--synthetic",
        '["a.pt", "b.pt", "herding:mnist:ipc=1"]',
        "--seed",
        "1",
    ]
    assert join_sets(["--synthetic", "a.pt", "--seed", "1"]) == [
        "--synthetic",
        "a.pt",
        "--seed",
        "1",
    ]
    assert join_sets(["--synthetic=a.pt", "--x"]) == ["--synthetic=a.pt", "--x"]
    assert set_sources("a.pt") == ["a.pt"] and set_sources(["a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="more than once"):
        set_sources(["a", "a"])
    parsed = cli.build_parser().parse_args(join_sets(args))
    assert parsed.synthetic == ["a.pt", "b.pt", "herding:mnist:ipc=1"]
    config = tmp_path / "sets.yaml"
    config.write_text("synthetic: [a.pt, 'herding:mnist:ipc=1']\n")
    from_file = cli.build_parser().parse_args(["--config", str(config)])
    assert from_file.synthetic == ["a.pt", "herding:mnist:ipc=1"]


def test_ipc_lines_only_for_methods_at_several_ipc():
    rows = [
        {"method": "dm", "ipc": 10, "mean": 90.0, "std": 1.0},
        {"method": "dm", "ipc": 1, "mean": 80.0, "std": 2.0},
        {"method": "random", "ipc": 1, "mean": 60.0, "std": 3.0},
    ]
    series, errors = ipc_series(rows)
    assert series == {"dm": ([1.0, 10.0], [80.0, 90.0])} and errors == {"dm": [2.0, 1.0]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["random:mnist:ipc=1"], "several: "),
        (["random:digits:ipc=x"], "set 2 of 2: Malformed baseline spec"),
        (["herding:digits"], "set 2 of 2: Malformed baseline spec 'herding:digits'"),
        (["hearding:digits:ipc=1"], "Unknown baseline method 'hearding'"),
        (["missing.pt"], "set 2 of 2: No synthetic set at 'missing.pt'"),
        (["random:digits:ipc=1", "--baseline", "random"], "add the baseline as a set"),
    ],
)
def test_bad_sets_fail_before_any_training(two_sets, tiny, extra, message, capsys, monkeypatch):
    monkeypatch.setattr(cli, "evaluate_set", lambda *a: pytest.fail("trained before checking"))
    with pytest.raises(SystemExit) as exc:
        main(["--synthetic", str(two_sets[0]), *extra, *tiny])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    if "spec" in message or "method" in message or "No synthetic" in message:
        assert "METHOD:DATASET:ipc=N" in err  # the accepted forms
