"""DD-Ranking's scores: the formulas against hand-computed values, and the CLI's protocol."""

import json
import math

import pytest
import torch

from dcl.baselines import select_baseline
from dcl.evaluation import ddranking_run
from dcl.evaluation.cli import main
from dcl.evaluation.ddranking import (
    augmentation_robust_score,
    hard_label_recovery,
    improvement_over_random,
    label_robust_score,
    normalized_score,
)

E = math.e


def test_normalized_score_maps_minus_one_to_one_onto_zero_to_hundred():
    assert normalized_score(-1.0) == pytest.approx(0.0, abs=1e-12)
    assert normalized_score(1.0) == pytest.approx(100.0)
    assert normalized_score(0.0) == pytest.approx(100 * (1 - 1 / E) / (E - 1 / E))  # 26.894...
    assert normalized_score(0.0) == pytest.approx(26.894142, abs=1e-6)


def test_label_robust_score_by_hand():
    # full data 84 %, set 50 % with hard labels, 70 % with soft labels, random subset 60 % soft.
    s = label_robust_score(84.0, 50.0, 70.0, 60.0)
    assert s["hlr"] == pytest.approx(34.0) == hard_label_recovery(84.0, 50.0)
    assert s["ior"] == pytest.approx(10.0) == improvement_over_random(70.0, 60.0)
    alpha = 0.5 * 0.10 - 0.5 * 0.34  # -0.12, in fractions as the paper defines it
    assert s["lrs"] == pytest.approx(100 * (math.exp(alpha) - 1 / E) / (E - 1 / E))
    assert s["lrs"] == pytest.approx(22.0831, abs=1e-3)
    weighted = label_robust_score(84.0, 50.0, 70.0, 60.0, weight=1.0)  # IOR alone
    assert weighted["lrs"] == pytest.approx(normalized_score(0.10))


def test_augmentation_robust_score_by_hand():
    s = augmentation_robust_score(syn_aug=70.0, random_aug=60.0, syn_plain=55.0, random_plain=50.0)
    assert (s["gain_aug"], s["gain_plain"]) == (pytest.approx(10.0), pytest.approx(5.0))
    beta = 0.5 * 0.10 + 0.5 * 0.05
    assert s["ars"] == pytest.approx(100 * (math.exp(beta) - 1 / E) / (E - 1 / E))
    assert s["ars"] == pytest.approx(30.2078, abs=1e-3)


def test_scores_are_per_model_then_summarised():
    accuracies = {"ConvNet": {
        "syn_hard": [50.0, 52.0], "syn_soft_aug": [70.0, 72.0], "syn_soft_plain": [55.0, 55.0],
        "random_soft_aug": [60.0, 61.0], "random_soft_plain": [50.0, 52.0], "real_hard": 84.0,
    }}  # fmt: skip
    table = ddranking_run.scores(accuracies)["ConvNet"]
    first = label_robust_score(84.0, 50.0, 70.0, 60.0)["lrs"]
    second = label_robust_score(84.0, 52.0, 72.0, 61.0)["lrs"]
    assert table["lrs"]["accuracies"] == [pytest.approx(first), pytest.approx(second)]
    assert table["lrs"]["mean"] == pytest.approx((first + second) / 2)
    assert table["ior"]["mean"] == pytest.approx(10.5)
    assert "LRS %" in ddranking_run.format_scores(ddranking_run.scores(accuracies))


def test_kl_loss_equals_the_ddranking_packages():
    loss = pytest.importorskip(
        "ddranking.loss", reason="the ddranking package is not installed (optional)"
    )
    from dcl.objectives import soft_label_loss

    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(8, 10, generator=g), torch.randn(8, 10, generator=g) * 3
    for scale in (False, True):
        theirs = loss.KLDivergenceLoss(temperature=1.2, scale_loss=scale)(student, teacher)
        ours = soft_label_loss(student, teacher, 1.2, scale=scale)
        torch.testing.assert_close(ours, theirs)


def test_cli_ddranking_on_the_digits_at_a_tiny_budget(digits, digits_cache, tmp_path, capsys):
    path = select_baseline("random", digits[0], 1, seed=3).save(tmp_path / "synthetic.pt")
    out = tmp_path / "evaluation.json"
    doc = main([
        "--synthetic", str(path), "--models", "ConvNet", "--num_models", "1", "--epochs", "1",
        "--device", "cpu", "--cache_dir", str(digits_cache), "--protocol", "ddranking",
        "--teacher_epochs", "1", "--autotune", "false", "--output", str(out),
    ])  # fmt: skip
    assert json.loads(out.read_text()) == doc
    accuracies = doc["ddranking"]["accuracies"]["ConvNet"]
    assert set(accuracies) == {*ddranking_run.ACCURACIES, "real_hard"}
    assert all(0 <= a[0] <= 100 for k, a in accuracies.items() if k != "real_hard")
    scores = doc["ddranking"]["scores"]["ConvNet"]
    assert 0 <= scores["lrs"]["mean"] <= 100 and 0 <= scores["ars"]["mean"] <= 100
    assert doc["results"]["ConvNet"]["accuracies"] == accuracies["syn_soft_aug"]
    settings = doc["settings"]
    assert settings["evaluation_protocol"] == "ddranking" and settings["label_mode"] == "soft"
    assert settings["soft_label_source"] == "teacher" and settings["teacher_file"]
    assert doc["storage"]["soft_label_bytes"] == 10 * 10 * 4  # the teacher's float32 logits
    assert "LRS %" in capsys.readouterr().out


def test_cli_refuses_ddranking_with_hard_labels(tmp_path, digits):
    path = select_baseline("random", digits[0], 1, seed=3).save(tmp_path / "synthetic.pt")
    with pytest.raises(SystemExit):
        main(["--synthetic", str(path), "--protocol", "ddranking", "--labels", "hard"])
