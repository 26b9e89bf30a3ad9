"""benchmarks/reproduce.py pools S synthesis seeds x M models, as the papers report."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import reproduce  # noqa: E402

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"


def test_pooled_reports_all_sets_times_models_and_the_spread_between_sets():
    per_set = [{"ConvNet": [10.0, 20.0]}, {"ConvNet": [30.0, 50.0]}]
    (row,) = reproduce.pooled(per_set).values()
    assert row["accuracies"] == [10.0, 20.0, 30.0, 50.0]
    assert row["mean"] == pytest.approx(27.5)
    assert row["std"] == pytest.approx(statistics.pstdev([10, 20, 30, 50]))
    assert row["set_means"] == [15.0, 40.0]
    assert row["between_sets_std"] == pytest.approx(12.5)


@pytest.mark.slow
def test_two_synthesis_seeds_give_two_sets_and_pooled_accuracies(tmp_path, digits_cache):
    argv = ["dm", "digits", "1", "--config", str(QUICKSTART), "--steps", "2"]
    argv += ["--num-models", "2", "--epochs", "1", "--synthesis-seeds", "2", "--seed", "4"]
    argv += ["--cache-dir", str(digits_cache), "--device", "cpu", "--baseline", "none"]
    argv += ["--results-dir", str(tmp_path / "results"), "--run-dir", str(tmp_path / "runs")]
    doc = reproduce.main(argv)
    assert [s["seed"] for s in doc["sets"]] == [4, 5]
    assert doc["num_sets"] == 2 and len(doc["accuracies"]) == 4
    means = doc["results"]["ConvNet"]["set_means"]
    assert means == [
        statistics.fmean(doc["accuracies"][:2]),
        statistics.fmean(doc["accuracies"][2:]),
    ]
    assert doc["between_sets_std"] == pytest.approx(statistics.pstdev(means))
    assert doc["recipes"]["ConvNet"] == {
        "augment": "dsa",
        "epochs": 1,
        "dsa_strategy": "color_crop_cutout_scale_rotate",
        "batch_size": 256,
    }
    assert (tmp_path / "results" / "dm_digits_ipc1.json").exists()


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _tiny(tmp_path, digits_cache) -> list[str]:
    """Options shrinking a published CIFAR-10 config to the digits: 2 steps, 1 model x 1 epoch."""
    argv = ["--steps", "2", "--batch-real", "8", "--num-models", "1", "--epochs", "1"]
    argv += ["--cache-dir", str(digits_cache), "--device", "cpu"]
    argv += ["--results-dir", str(tmp_path / "results"), "--run-dir", str(tmp_path / "runs")]
    return argv + ["--override", "data.dataset=digits"]  # last: more KEY=VALUE may follow


@pytest.mark.slow
def test_mtt_trains_its_experts_and_evaluates_with_the_learned_lr(tmp_path, digits_cache):
    # The ZCA CIFAR-10 setting on the digits: 1 expert x 2 epochs (so max_start_epoch 1), a
    # depth-1 ConvNet (the 8x8 digits), the experts on the very data module synthesis reads.
    # A budget of 0 s trains the first of 2 experts only, and its overrun leaves synthesis less.
    config = ["--config", str(CONFIGS / "mtt" / "cifar10_ipc1.yaml")]
    argv = ["mtt", "digits", "1", *config, *_tiny(tmp_path, digits_cache)]
    argv += ["model.backbone=ConvNetD1", "--expert-epochs", "2"]
    argv += ["--method-args", '{"max_start_epoch": 1}']
    budgets = ["--experts", "2", "--max-expert-seconds", "0", "--max-synthesis-seconds", "1000"]
    doc = reproduce.main([*argv, *budgets])
    experts = doc["experts"]
    assert experts["trained_here"] and experts["seconds"] > 0
    assert experts["requested_experts"] == 2 and experts["stopped_at_time_budget"]
    assert experts["synthesis_budget_s"] == pytest.approx(1000 - experts["seconds"])
    assert (experts["num_experts"], experts["epochs"]) == (1, 2)
    assert (experts["published_num_experts"], experts["published_epochs"]) == (100, 50)
    assert (experts["dataset"], experts["zca"], experts["network"]) == ("digits", True, "ConvNetD1")
    assert Path(experts["buffer"]).parent == tmp_path / "runs" / "mtt_digits_ipc1"
    assert doc["zca"] and doc["override"]["model"]["method_args"]["buffer"] == experts["buffer"]
    assert doc["override"]["model"]["method_args"]["max_start_epoch"] == 1
    # Evaluated with the set's learned syn_lr; the random baseline with the published 0.01.
    assert doc["lr_source"] == "learned" and doc["lr"] > 0
    assert doc["sets"][0]["lr"] == doc["lr"]
    assert (doc["baseline_lr"], doc["sets"][0]["baseline_lr_source"]) == (0.01, "published")
    assert {"steps 2/5000", "experts 1/100", "expert epochs 2/50"} <= set(doc["reduced"])
    assert "method_args max_start_epoch=1" in doc["reduced"]
    assert not doc["full_published_setting"]
    assert doc["published"]["setting"] == "mtt cifar10 1 ipc (configs/mtt/cifar10_ipc1.yaml)"
    assert doc["published_as"] == "digits" and doc["published"]["mean"] is None
    # A second run reads that buffer (--buffer) instead of training one.
    again = reproduce.main([*argv, "--buffer", experts["buffer"], "--baseline", "none"])
    assert not again["experts"]["trained_here"] and again["experts"]["seconds"] is None
    assert again["num_experts"] == 1 and again["lr_source"] == "learned"


@pytest.mark.slow
def test_mtt_seeds_sharing_a_buffer_share_one_validation_split(tmp_path, digits_cache):
    # Each seed's own split would hold out images the shared experts learned (the buffer refuses
    # that): the split is pinned to the first seed, and the final set's networks score both splits.
    config = ["--config", str(CONFIGS / "mtt" / "cifar10_ipc1.yaml")]
    argv = ["mtt", "digits", "1", *config, *_tiny(tmp_path, digits_cache)]
    argv += ["model.backbone=ConvNetD1", "data.val_size=5", "--expert-epochs", "2"]
    argv += ["--experts", "1", "--method-args", '{"max_start_epoch": 1}', "--baseline", "none"]
    doc = reproduce.main([*argv, "--synthesis-seeds", "2", "--select-every", "1"])
    assert [s["seed"] for s in doc["sets"]] == [0, 1]
    assert "data.val_seed=0" in doc["extra_overrides"] and doc["validation"]["seed"] == 0
    for entry in doc["sets"]:
        candidates = entry["selection"]["candidates"]
        assert [c["step"] for c in candidates] == [1, 2]
        assert all(c["val"] is not None for c in candidates)  # every kept set, the final too
        assert entry["selection"]["val_selected"]["selected_on"] == "val"


def test_a_pinned_split_is_left_as_it_is():
    from argparse import Namespace

    from benchmarks.reproduce_runs import pin_validation_split

    args = Namespace(override=["data.val_size=5", "data.val_seed=7"], data_root=None)
    args.imagefolder, args.cache_dir = False, None
    pin_validation_split(args, {}, first_seed=3)
    assert args.override == ["data.val_size=5", "data.val_seed=7"]
    args.override = ["data.val_size=5"]
    pin_validation_split(args, {}, first_seed=3)
    assert args.override == ["data.val_size=5", "data.val_seed=3"]
    args.override = []
    pin_validation_split(args, {}, first_seed=3)  # no validation split: nothing to pin
    assert args.override == []


@pytest.mark.slow
def test_datadam_evaluates_its_own_backbone_for_1800_epochs(tmp_path, digits_cache):
    config = ["--config", str(CONFIGS / "datadam" / "cifar10_ipc1.yaml")]
    doc = reproduce.main(["datadam", "digits", "1", *config, *_tiny(tmp_path, digits_cache)])
    assert doc["models"] == ["ConvNetBN"] and doc["augment"] == "dsa"  # models: SS, as published
    assert doc["published_epochs"] == 1800 and "epochs 1/1800" in doc["reduced"]
    assert doc["lr_source"] == "published" and "experts" not in doc
    assert (tmp_path / "results" / "datadam_digits_ipc1.json").exists()


def test_published_mtt_and_datadam_numbers_are_their_papers():
    from benchmarks import summary

    assert [summary.published("cifar10", "mtt", i)[0] for i in (1, 10, 50)] == [46.3, 65.3, 71.6]
    assert [summary.published("cifar10", "datadam", i)[0] for i in (1, 10, 50)] == [
        32.0,
        54.2,
        67.0,
    ]
    assert "CVPR 2022" in summary.published_source("mtt")
    assert "ICCV 2023" in summary.published_source("datadam")


@pytest.mark.slow
def test_a_rerun_resumes_synthesis_from_its_checkpoint_and_reads_back_evaluated_sets(
    tmp_path, digits_cache, monkeypatch, capsys
):
    argv = ["dm", "digits", "1", "--config", str(QUICKSTART), "--num-models", "1"]
    argv += ["--epochs", "1", "--synthesis-seeds", "2", "--checkpoint-every", "1"]
    argv += ["--cache-dir", str(digits_cache), "--device", "cpu", "--baseline", "random"]
    argv += ["--results-dir", str(tmp_path / "results"), "--run-dir", str(tmp_path / "runs")]
    first = reproduce.main([*argv, "--steps", "2"])
    sets = tmp_path / "results" / "dm_digits_ipc1_sets"
    assert sorted(p.name for p in sets.iterdir()) == ["seed0.json", "seed1.json"]
    capsys.readouterr()

    def no_evaluation(*args, **kwargs):
        raise AssertionError("a set evaluated before was evaluated again")

    monkeypatch.setattr(reproduce, "run_protocol", no_evaluation)
    monkeypatch.setattr(reproduce, "run_protocol_on_splits", no_evaluation)
    again = reproduce.main([*argv, "--steps", "2"])  # the same command: nothing to redo
    out = capsys.readouterr().out
    # Seed 0 is read back without synthesis; the last seed's (finished) run is restored once,
    # for the document's data and settings.
    assert out.count("--ckpt_path") == 1 and out.count("was evaluated before") == 2
    assert again["accuracies"] == first["accuracies"] and again["baseline"] == first["baseline"]
    monkeypatch.undo()
    longer = reproduce.main([*argv, "--steps", "3"])  # another command: its sets are its own
    assert longer["steps"] == 3 and "was evaluated before" not in capsys.readouterr().out
