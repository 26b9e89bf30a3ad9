import pytest
import torch

from dcl.baselines import select_baseline
from dcl.evaluation.ensemble import can_ensemble, train_ensemble
from dcl.evaluation.protocol import EvaluationModule, run_protocol


@pytest.fixture(scope="module")
def small_set(digits):
    return select_baseline("random", digits[0], 3, seed=1)


@pytest.mark.parametrize("augment", ["none", "dsa", "dc"])
@pytest.mark.parametrize("name", ["ConvNet", "ConvNetLN", "MLP"])
def test_ensemble_training_equals_sequential_training(small_set, digits, name, augment):
    make = [
        lambda i: EvaluationModule(
            name, small_set.info, epochs=4, batch_size=8, augment=augment, seed=i
        )
        for _ in range(2)
    ]
    sequential = [make[0](i) for i in range(3)]
    together = [make[1](i) for i in range(3)]
    for module in sequential:
        module.fit_tensors(small_set.images, small_set.labels)
    train_ensemble(together, small_set.images, small_set.labels)
    for a, b in zip(sequential, together, strict=True):
        for (n, p), q in zip(a.net.named_parameters(), b.net.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=n)
        assert a.test_images(digits[1]) == b.test_images(digits[1])
    # The models really differ from each other (own seeds), so the comparison is not vacuous.
    w = [next(m.net.parameters()) for m in together]
    assert not torch.allclose(w[0], w[1])


def test_one_model_ensemble_equals_the_plain_loop(small_set, digits):
    a = EvaluationModule("ConvNet", small_set.info, epochs=3, augment="dsa", seed=5)
    b = EvaluationModule("ConvNet", small_set.info, epochs=3, augment="dsa", seed=5)
    a.fit_tensors(small_set.images, small_set.labels)
    train_ensemble([b], small_set.images, small_set.labels)
    for p, q in zip(a.net.parameters(), b.net.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_batchnorm_networks_fall_back_to_sequential(small_set, digits):
    bn = EvaluationModule("ConvNetBN", small_set.info, epochs=1)
    assert not can_ensemble(bn)
    assert can_ensemble(EvaluationModule("ConvNet", small_set.info, epochs=1))
    kwargs = {"models": ["ConvNetBN", "ConvNet"], "num_models": 2, "epochs": 2, "progress": False}
    fast = run_protocol(small_set, digits[1], ensemble=True, **kwargs)
    slow = run_protocol(small_set, digits[1], ensemble=False, **kwargs)
    assert fast == slow
