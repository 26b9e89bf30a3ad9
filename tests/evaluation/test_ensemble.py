import pytest
import torch

import dcl.evaluation.ensemble as ensemble_module
from dcl.baselines import select_baseline
from dcl.evaluation.ensemble import can_ensemble, train_ensemble
from dcl.evaluation.protocol import EvaluationModule, run_protocol

# Ensemble and sequential training are the same maths in another summation order. In float32 the
# rounding is amplified by every later step (4 epochs failed rtol=1e-4 on AVX-512 kernels), so these
# tests train in float64: the largest weight difference, measured under every kernel choice, is in
# results/rounding_spread.md. A wrong computation (shared augmentation draws, swapped seeds, another
# learning-rate schedule) moved weights by 7e-3 or more when the code was broken on purpose.
BOUND = 1e-9


@pytest.fixture(scope="module")
def small_set(digits):
    return select_baseline("random", digits[0], 3, seed=1)


def modules(small_set, name: str, augment: str, seeds, epochs: int = 4) -> list[EvaluationModule]:
    """Fresh float64 evaluation modules (identical initialisation to float32 ones, then cast)."""
    return [
        EvaluationModule(
            name, small_set.info, epochs=epochs, batch_size=8, augment=augment, seed=s
        ).double()
        for s in seeds
    ]


def largest_difference(a: list[EvaluationModule], b: list[EvaluationModule]) -> float:
    """Largest absolute difference between corresponding weights of two lists of networks."""
    pairs = [
        (p, q)
        for x, y in zip(a, b, strict=True)
        for p, q in zip(x.net.parameters(), y.net.parameters(), strict=True)
    ]
    return max(float((p - q).detach().abs().max()) for p, q in pairs)


@pytest.mark.numerics
@pytest.mark.parametrize("augment", ["none", "dsa", "dc"])
@pytest.mark.parametrize("name", ["ConvNet", "ConvNetLN", "MLP"])
def test_ensemble_training_equals_sequential_training(small_set, name, augment, spread):
    images, labels = small_set.images.double(), small_set.labels
    sequential = modules(small_set, name, augment, range(3))
    together = modules(small_set, name, augment, range(3))
    for module in sequential:
        module.fit_tensors(images, labels)
    train_ensemble(together, images, labels)
    spread(largest_difference(sequential, together), BOUND)
    # The models really differ from each other (own seeds), so the comparison is not vacuous.
    w = [next(m.net.parameters()) for m in together]
    assert not torch.allclose(w[0], w[1])


@pytest.mark.numerics
def test_one_model_ensemble_equals_the_plain_loop(small_set, spread):
    (a,) = modules(small_set, "ConvNet", "dsa", [5], epochs=3)
    (b,) = modules(small_set, "ConvNet", "dsa", [5], epochs=3)
    a.fit_tensors(small_set.images.double(), small_set.labels)
    train_ensemble([b], small_set.images.double(), small_set.labels)
    spread(largest_difference([a], [b]), BOUND)


def test_batchnorm_networks_fall_back_to_sequential(small_set, digits, monkeypatch):
    bn = EvaluationModule("ConvNetBN", small_set.info, epochs=1)
    assert not can_ensemble(bn)
    assert can_ensemble(EvaluationModule("ConvNet", small_set.info, epochs=1))
    ensembled: list[str] = []

    def spy(mods, images, labels, epoch_done=None):
        ensembled.append(mods[0].hparams.network)
        return train_ensemble(mods, images, labels, epoch_done)

    monkeypatch.setattr(ensemble_module, "train_ensemble", spy)
    kwargs = {"models": ["ConvNetBN", "ConvNet"], "num_models": 2, "epochs": 2, "progress": False}
    fast = run_protocol(small_set, digits[1], ensemble=True, **kwargs)
    slow = run_protocol(small_set, digits[1], ensemble=False, **kwargs)
    assert ensembled == ["ConvNet"]  # batch norm never reaches the vmap path
    # Both runs train ConvNetBN one network at a time, the same float operations: bit-equal.
    assert fast["ConvNetBN"] == slow["ConvNetBN"]
