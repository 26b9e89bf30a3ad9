"""Evaluation on soft labels: the batched ensemble, teachers and their cache, the label plan."""

import pytest
import torch

from dcl.baselines import select_baseline
from dcl.evaluation.ensemble import train_ensemble
from dcl.evaluation.labels import plan_labels, resolve_mode
from dcl.evaluation.protocol import EvaluationModule
from dcl.evaluation.teacher import accuracy_of, find_teacher, teacher_file, teacher_logits
from tests.evaluation.test_ensemble import BOUND, largest_difference


@pytest.fixture(scope="module")
def small_set(digits):
    return select_baseline("random", digits[0], 3, seed=1)


@pytest.fixture(scope="module")
def teacher(digits, tmp_path_factory):
    """A one-epoch ConvNet teacher on the digits, cached in a folder of this module's own."""
    cache = tmp_path_factory.mktemp("teachers")
    net, path = find_teacher(digits[0], "ConvNet", seed=0, epochs=1, cache_dir=cache)
    return net, path, cache


@pytest.mark.numerics
def test_ensemble_training_on_soft_labels_equals_sequential_training(small_set, spread):
    images = small_set.images.double()
    soft = torch.randn(len(images), 10, generator=torch.Generator().manual_seed(0)).double() * 2

    def fresh():
        return [
            EvaluationModule("ConvNet", small_set.info, epochs=3, batch_size=8, seed=s,
                             temperature=2.0).double()
            for s in range(3)
        ]  # fmt: skip

    sequential, together = fresh(), fresh()
    for module in sequential:
        module.fit_tensors(images, soft)
    train_ensemble(together, images, soft)
    spread(largest_difference(sequential, together), BOUND)


def test_a_teacher_is_trained_once_then_read_from_its_cache(digits, teacher, monkeypatch):
    net, path, cache = teacher
    assert path == teacher_file(digits[0], "ConvNet", 0, 1, cache) and path.is_file()
    monkeypatch.setattr(
        "dcl.evaluation.teacher.train_feature_extractor",
        lambda *a, **k: pytest.fail("a cached teacher was trained again"),
    )
    again, same = find_teacher(digits[0], "ConvNet", seed=0, epochs=1, cache_dir=cache)
    assert same == path
    for p, q in zip(net.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q)
    assert 0.0 <= accuracy_of(again, digits[1]) <= 100.0
    other = teacher_file(digits[0], "ConvNet", 1, 1, cache)
    assert other != path  # another seed is another teacher


def test_labels_auto_follow_the_set_and_the_teacher(small_set):
    assert resolve_mode("auto", small_set, None) == "hard"
    assert resolve_mode("auto", small_set, "auto") == "soft"
    assert resolve_mode("hard", small_set, "auto") == "hard"


def test_a_teacher_relabels_a_set_without_soft_labels(digits, small_set, teacher):
    net, path, cache = teacher
    plan = plan_labels("soft", small_set, digits[0], str(path), "ConvNet", epochs=1)
    assert plan.source == "teacher" and plan.teacher_path == path
    assert torch.equal(plan.soft_labels, teacher_logits(net, small_set.images))
    own = select_baseline("random", digits[0], 3, seed=1)
    own.soft_labels = torch.zeros(30, 10)
    plan = plan_labels("auto", own, digits[0], None, "ConvNet", epochs=1)
    assert plan.source == "set" and plan.teacher is None and plan.soft_labels is own.soft_labels
    with pytest.raises(ValueError, match="--teacher auto"):
        plan.soft_for(small_set)  # a baseline cannot be relabelled without a teacher


def test_soft_labels_without_any_source_are_refused_with_the_fix(digits, small_set):
    with pytest.raises(ValueError, match="carries no soft labels; pass --teacher auto"):
        plan_labels("soft", small_set, digits[0], None, "ConvNet", epochs=1)
