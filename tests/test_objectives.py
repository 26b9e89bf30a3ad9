import pytest
import torch

from dcl.objectives import gradient_distance, layerwise_cosine_distance, mean_embedding_distance

pytestmark = pytest.mark.numerics  # The objectives against plain loops of the same float32 maths.

SHAPES = [
    (6, 3, 3, 3),
    (6,),
    (6, 4, 4),
    (5, 24),
    (5,),
]  # conv, bias, LayerNorm weight, linear, bias


def reference_distance(gr: list[torch.Tensor], gs: list[torch.Tensor], metric: str) -> torch.Tensor:
    """The authors' match_loss, written plainly: one class, loop over layers and rows."""
    if metric == "ours":
        total = torch.zeros(())
        for r, s in zip(gr, gs, strict=True):
            if r.ndim == 1:
                continue
            r2, s2 = r.reshape(r.shape[0], -1), s.reshape(s.shape[0], -1)
            for i in range(r2.shape[0]):
                cos = (r2[i] * s2[i]).sum() / (r2[i].norm() * s2[i].norm() + 1e-6)
                total = total + (1 - cos)
        return total
    vr = torch.cat([r.reshape(-1) for r in gr])
    vs = torch.cat([s.reshape(-1) for s in gs])
    if metric == "mse":
        return ((vs - vr) ** 2).sum()
    return 1 - (vr * vs).sum() / (vr.norm() * vs.norm() + 1e-6)


@pytest.mark.parametrize("metric", ["ours", "mse", "cos"])
def test_gradient_distance_matches_loop_reference_values_and_gradients(metric):
    torch.manual_seed(0)
    k = 3
    gr = [torch.randn(k, *s, dtype=torch.float64) for s in SHAPES]
    gs = [torch.randn(k, *s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    ours = gradient_distance(gr, gs, metric)
    assert ours.shape == (k,)
    ref = torch.stack(
        [reference_distance([r[c] for r in gr], [s[c] for s in gs], metric) for c in range(k)]
    )
    torch.testing.assert_close(ours, ref)
    # "ours" ignores 1-D tensors entirely, so their gradients are None on both sides.
    g_ours = torch.autograd.grad(ours.sum(), gs, allow_unused=True)
    g_ref = torch.autograd.grad(ref.sum(), gs, allow_unused=True)
    for a, b, s in zip(g_ours, g_ref, SHAPES, strict=True):
        if metric == "ours" and len(s) == 1:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b)


def test_ours_ignores_one_dimensional_tensors_and_is_zero_for_parallel_gradients():
    g = torch.randn(2, 6)  # (K, out): a bias
    assert torch.equal(layerwise_cosine_distance(g, -g), torch.zeros(2))
    w = torch.randn(2, 4, 5)
    torch.testing.assert_close(
        layerwise_cosine_distance(w, 3 * w), torch.zeros(2), atol=1e-5, rtol=0
    )
    # Opposite gradients: each of the 4 rows contributes 1 - (-1) = 2.
    torch.testing.assert_close(
        layerwise_cosine_distance(w, -w), torch.full((2,), 8.0), atol=1e-5, rtol=0
    )


def test_unknown_metric_is_rejected():
    with pytest.raises(ValueError, match="ours, mse, cos"):
        gradient_distance([torch.ones(1, 2, 2)], [torch.ones(1, 2, 2)], "l1")


def test_mean_embedding_distance_matches_loop_reference():
    torch.manual_seed(0)
    real = torch.randn(4, 7, 5, dtype=torch.float64)
    syn = torch.randn(4, 2, 5, dtype=torch.float64, requires_grad=True)
    ours = mean_embedding_distance(real, syn)
    ref = []
    for c in range(4):
        mr = sum(real[c, i] for i in range(7)) / 7
        ms = sum(syn[c, j] for j in range(2)) / 2
        ref.append(sum((mr[d] - ms[d]) ** 2 for d in range(5)))
    ref = torch.stack(ref)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(
        torch.autograd.grad(ours.sum(), syn)[0], torch.autograd.grad(ref.sum(), syn)[0]
    )
