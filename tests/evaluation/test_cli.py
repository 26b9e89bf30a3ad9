import json
import runpy
import statistics
import sys
from pathlib import Path

import pytest

import dcl
from dcl import tuning
from dcl.baselines import select_baseline
from dcl.baselines.specs import parse_spec
from dcl.data import DatasetInfo, SyntheticSet
from dcl.evaluation import cli, sources
from dcl.evaluation.cli import main
from dcl.methods import DM

REPO = Path(__file__).resolve().parents[2]
OPTIONS = {
    "synthetic", "models", "num_models", "epochs", "augment", "data_root", "cache_dir",
    "device", "seed", "output", "baseline", "extractor", "extractor_epochs",
}  # fmt: skip


@pytest.fixture(scope="module")
def saved_set(digits, tmp_path_factory) -> Path:
    """A 1-image-per-class set of real digits, saved as a file."""
    return select_baseline("random", digits[0], 1, seed=3).save(
        tmp_path_factory.mktemp("sets") / "synthetic.pt"
    )


@pytest.fixture
def fast(digits_cache) -> list[str]:
    return ["--models", "ConvNet", "--num_models", "2", "--epochs", "2", "--device", "cpu",
            "--cache_dir", str(digits_cache)]  # fmt: skip


def check_summary(entry: dict, n: int) -> None:
    assert set(entry) == {"accuracies", "mean", "std"}
    accs = entry["accuracies"]
    assert len(accs) == n and all(0.0 <= a <= 100.0 for a in accs)
    assert entry["mean"] == pytest.approx(statistics.fmean(accs))
    assert entry["std"] == pytest.approx(statistics.pstdev(accs))


def test_saved_set_with_baseline_writes_the_documented_json(saved_set, fast, tmp_path, capsys):
    out = tmp_path / "nested" / "out.json"
    args = ["--synthetic", str(saved_set), *fast, "--output", str(out), "--baseline", "random"]
    doc = main(args)

    assert json.loads(out.read_text()) == doc
    assert set(doc) == {
        "results",
        "selected_on",
        "selection",
        "baseline",
        "settings",
        "version",
        "storage",
    }
    assert doc["storage"]["soft_label_bytes"] == 0 and doc["settings"]["label_mode"] == "hard"
    assert doc["selected_on"] == "last" and doc["selection"] is None  # the set given
    assert doc["version"] == dcl.__version__
    assert list(doc["results"]) == ["ConvNet"]
    check_summary(doc["results"]["ConvNet"], 2)
    assert set(doc["baseline"]) == {"method", "results"}
    assert doc["baseline"]["method"] == "random"
    assert list(doc["baseline"]["results"]) == ["ConvNet"]
    check_summary(doc["baseline"]["results"]["ConvNet"], 2)

    settings = doc["settings"]
    assert set(settings) >= OPTIONS
    assert settings["synthetic"] == str(saved_set) and settings["num_models"] == 2
    assert settings["augment"] == "auto" and settings["architectures"] == ["ConvNet"]
    assert settings["recipes"] == {
        "ConvNet": {"augment": "none", "epochs": 2, "dsa_strategy": None, "batch_size": 256}
    }
    assert (settings["method"], settings["dataset"], settings["ipc"]) == ("random", "digits", 1)
    assert settings["step"] == 0 and settings["device_name"]
    assert settings["cpu_model"] == tuning.cpu_model() and settings["threads"] >= 1
    assert settings["seconds"] > 0  # the evaluation's wall time, for results files

    table = capsys.readouterr().out
    assert "ConvNet" in table and "random acc %" in table and "gain" in table
    mean = doc["results"]["ConvNet"]["mean"]
    assert f"{mean:.2f}" in table


def test_baseline_gets_the_sets_augmentation_and_models(digits, fast, tmp_path, monkeypatch):
    base = select_baseline("random", digits[0], 1, seed=1)
    dm = SyntheticSet(base.images, base.labels, base.info, ipc=1, method="dm", step=7)
    calls = []

    def spy(syn, test, models, **kwargs):
        calls.append((syn.method, models, kwargs))
        return {m: [50.0] * kwargs["num_models"] for m in models}

    monkeypatch.setattr(cli, "run_protocol", spy)
    doc = main(["--synthetic", str(dm.save(tmp_path / "dm.pt")), *fast, "--baseline", "random"])
    assert [c[0] for c in calls] == ["dm", "random"]
    assert calls[0][1] == calls[1][1] == ["ConvNet"]
    assert calls[0][2] == calls[1][2]
    assert calls[0][2]["like"] == DM.evaluation and calls[0][2]["seed"] == 0  # both like DM
    assert doc["settings"]["recipes"]["ConvNet"]["augment"] == "dsa"
    assert doc["settings"]["step"] == 7


def test_default_epochs_follow_the_published_protocol(saved_set, digits_cache, monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "run_protocol", lambda *a, **k: seen.append(k) or {"MLP": [1.0]})
    base = ["--synthetic", str(saved_set), "--models", "MLP", "--cache_dir", str(digits_cache)]
    docs = [main(base), main([*base, "--augment", "dsa"])]
    assert [d["settings"]["recipes"]["MLP"]["epochs"] for d in docs] == [300, 1000]
    assert [k["epochs"] for k in seen] == [None, None]  # run_protocol resolves the same recipe
    assert seen[0]["num_models"] == 5


def test_baseline_spec_needs_no_file(fast, capsys):
    doc = main(["--synthetic", "random:digits:ipc=1:seed=0", *fast])
    assert doc["baseline"] is None
    check_summary(doc["results"]["ConvNet"], 2)
    assert doc["settings"]["method"] == "random" and doc["settings"]["set_seed"] == 0
    assert "random acc %" in capsys.readouterr().out


def test_config_file_is_equivalent_to_flags(saved_set, fast, tmp_path):
    flags = ["--synthetic", str(saved_set), *fast, "--baseline", "random", "--seed", "4"]
    config = tmp_path / "eval.yaml"
    pairs = dict(zip(flags[::2], flags[1::2], strict=True))
    config.write_text("".join(f"{k[2:]}: {v}\n" for k, v in pairs.items()))
    from_file, from_flags = main(["--config", str(config)]), main(flags)
    for doc in (from_file, from_flags):
        del doc["settings"]["seconds"]  # wall time: the one field that may differ
    assert from_file == from_flags


@pytest.mark.parametrize(
    ("synthetic", "message"),
    [
        ("no/such/set.pt", "No synthetic set at 'no/such/set.pt'"),
        ("random:digits:10", "Malformed baseline spec 'random:digits:10'"),
        ("random:digits", "Malformed baseline spec"),
        ("random:digits:ipc=ten", "ipc must be an integer, got 'ten'"),
        ("random:digits:ipc=0", "needs ipc=N with N >= 1"),
        ("random:digits:ipc=1:colour=red", "at 'colour=red'"),
        ("bogus:digits:ipc=1", "Unknown baseline method 'bogus'"),
        ("random:imagenet42:ipc=1", "Unknown dataset 'imagenet42'"),
        ("random:digits:ipc=100000", "use ipc <= "),
    ],
)
def test_bad_synthetic_exits_with_a_helpful_message(synthetic, message, fast, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--synthetic", synthetic, *fast])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    if "Unknown" in message or "Malformed" in message or "No synthetic" in message:
        assert "METHOD:DATASET:ipc=N" in err and "random:mnist:ipc=10:seed=0" in err


def test_unknown_method_and_dataset_list_the_valid_ones():
    with pytest.raises(ValueError, match="random, herding, kcenter, forgetting"):
        parse_spec("bogus:digits:ipc=1")
    with pytest.raises(ValueError, match="cifar10.*digits|digits.*cifar10"):
        parse_spec("random:imagenet42:ipc=1")
    assert parse_spec("k-center:CIFAR-10:ipc=10") == ("kcenter", "cifar10", 10, None)
    assert parse_spec("random:mnist:ipc=10:seed=3") == ("random", "mnist", 10, 3)


def test_test_set_must_match_the_sets_metadata(digits, fast, tmp_path, capsys):
    five = DatasetInfo("digits", 1, 8, 5, tuple("01234"), (0.3,), (0.4,))
    base = select_baseline("random", digits[0], 1)
    odd = SyntheticSet(base.images[:5], base.labels[:5], five, ipc=1, method="dm")
    with pytest.raises(SystemExit):
        main(["--synthetic", str(odd.save(tmp_path / "odd.pt")), *fast])
    err = capsys.readouterr().err
    assert "5 classes" in err and "10 classes" in err and "--data_root" in err


def test_unknown_model_and_wrong_file_are_reported(saved_set, fast, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--synthetic", str(saved_set), *fast, "--models", "ConvNot"])
    assert "Unknown network(s) ConvNot" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_text("not a set")
    with pytest.raises(SystemExit):
        main(["--synthetic", str(junk), *fast])
    assert "not a readable synthetic set" in capsys.readouterr().err


def test_script_help_lists_every_option(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["evaluate.py", "--help"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(REPO / "evaluate.py"), run_name="__main__")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in [*OPTIONS, "config"]:
        assert f"--{option}" in out


def test_missing_extractor_is_trained_once_then_reused(fast, tmp_path, monkeypatch):
    path = tmp_path / "extractor.pt"
    args = ["--synthetic", "herding:digits:ipc=1", *fast, "--extractor", str(path)]
    first = main([*args, "--extractor_epochs", "1"])
    assert path.is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("the saved extractor should have been reused")

    monkeypatch.setattr(sources, "train_feature_extractor", refuse)
    second = main([*args, "--extractor_epochs", "1"])
    assert second["results"] == first["results"]  # same extractor, same selection, same seeds
    kcenter = main(["--synthetic", "kcenter:digits:ipc=1", *fast, "--extractor", str(path)])
    assert kcenter["settings"]["method"] == "kcenter"


@pytest.mark.slow
def test_two_processes_split_the_models_and_give_one_processs_table(saved_set, digits_cache):
    import torch

    args = ["--synthetic", str(saved_set), "--models", "ConvNet,MLP", "--num_models", "3"]
    args += ["--epochs", "2", "--device", "cpu", "--cache_dir", str(digits_cache)]
    args += ["--baseline", "random"]
    shared = main([*args, "--devices", "2", "--strategy", "ddp_spawn"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each spawned CPU rank runs
    try:
        alone = main(args)
    finally:
        torch.set_num_threads(threads)
    assert shared["settings"]["world_size"] == 2 and alone["settings"]["world_size"] == 1
    # Model i trains on rank i % 2 with its own seed: the very same computations.
    for arch in ("ConvNet", "MLP"):
        assert shared["results"][arch] == alone["results"][arch]
        assert shared["baseline"]["results"][arch] == alone["baseline"]["results"][arch]


def test_a_bad_set_fails_before_any_process_starts(tmp_path, capsys, monkeypatch):
    import lightning as L

    def no_launch(*args, **kwargs):
        raise AssertionError("processes were launched for a set that does not exist")

    monkeypatch.setattr(L.Fabric, "launch", no_launch)
    args = ["--synthetic", str(tmp_path / "missing.pt"), "--devices", "2", "--device", "cpu"]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--strategy", "ddp_spawn"])
    assert exc.value.code == 2
    assert "No synthetic set at" in capsys.readouterr().err


def test_a_set_of_a_mixed_size_folder_is_evaluated_at_its_own_size(tmp_path):
    from dcl.data import RealDataModule
    from tests.data.test_folder_sizes import mixed_tree

    mixed_tree(tmp_path / "tree")
    dm = RealDataModule("imagefolder", root=str(tmp_path / "tree"), image_size=6)
    dm.cache_dir = str(tmp_path / "cache")
    dm.setup()
    path = select_baseline("random", dm.train, 1, seed=0).save(tmp_path / "synthetic.pt")
    args = ["--synthetic", str(path), "--data_root", str(tmp_path / "tree"), "--models", "MLP"]
    args += ["--cache_dir", str(tmp_path / "cache"), "--num_models", "1", "--epochs", "1"]
    doc = main(args + ["--device", "cpu"])
    assert len(doc["results"]["MLP"]["accuracies"]) == 1


def test_a_set_of_in_memory_data_points_to_the_python_path(tmp_path):
    import torch

    from dcl.data import RealDataModule

    images, labels = torch.rand(6, 1, 8, 8), torch.arange(3).repeat(2)
    dm = RealDataModule.from_tensors(images, labels, test=(images, labels), name="mine")
    dm.setup()
    path = select_baseline("random", dm.train, 1, seed=0).save(tmp_path / "synthetic.pt")
    with pytest.raises(SystemExit):
        main(["--synthetic", str(path), "--device", "cpu"])
    with pytest.raises(ValueError, match=r"in-memory data named 'mine'.*dcl.run_protocol"):
        sources.load_sources(cli.build_parser().parse_args(["--synthetic", str(path)]), "cpu")
