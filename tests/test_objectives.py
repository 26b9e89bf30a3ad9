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


def test_trajectory_distance_is_mtts_loss_over_all_parameters_at_once():
    from dcl.objectives import trajectory_distance

    torch.manual_seed(0)
    # Two "layers" of an expert and a student, as the release sees them: one flat vector.
    shapes = [(4, 3), (4,)]
    start = [torch.randn(s, dtype=torch.float64) for s in shapes]
    end = [torch.randn(s, dtype=torch.float64) for s in shapes]
    student = [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    flat = [torch.cat([t.reshape(-1) for t in ts]) for ts in (student, start, end)]
    ours = trajectory_distance(*flat)
    assert ours.shape == ()
    # The release: mse sums over the flat vectors, both divided by the parameter count.
    p = flat[0].numel()
    num = sum(((s - e) ** 2).sum() for s, e in zip(student, end, strict=True)) / p
    den = sum(((a - e) ** 2).sum() for a, e in zip(start, end, strict=True)) / p
    torch.testing.assert_close(ours, num / den)
    torch.testing.assert_close(
        torch.autograd.grad(ours, student), torch.autograd.grad(num / den, student)
    )
    # Landing on the target gives 0, staying at the start 1; leading axes are kept.
    s0, e0 = flat[1], flat[2]
    assert float(trajectory_distance(e0, s0, e0)) == 0.0
    torch.testing.assert_close(trajectory_distance(s0, s0, e0), torch.tensor(1.0).double())
    batched = trajectory_distance(torch.stack([e0, s0]), s0.expand(2, -1), e0.expand(2, -1))
    torch.testing.assert_close(batched, torch.tensor([0.0, 1.0]).double())


@pytest.mark.parametrize("power", [1.0, 2.0, 4.0])
def test_attention_map_matches_a_per_image_per_channel_reference(power):
    from dcl.objectives import attention_map

    torch.manual_seed(0)
    features = torch.randn(3, 4, 5, 6, 6, dtype=torch.float64, requires_grad=True)
    ours = attention_map(features, power)
    assert ours.shape == (3, 4, 36)
    ref = torch.empty(3, 4, 36, dtype=torch.float64)
    for k in range(3):
        for i in range(4):
            a = sum(features[k, i, c].abs() ** power for c in range(5)).reshape(-1)
            ref[k, i] = a / max(float(torch.sqrt((a**2).sum())), 1e-12)
    torch.testing.assert_close(ours.detach(), ref)
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(3, 4, dtype=torch.float64))
    (grad,) = torch.autograd.grad(ours[..., 0].sum(), features)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_attention_map_of_an_all_zero_map_is_zero_not_nan():
    from dcl.objectives import attention_map

    out = attention_map(torch.zeros(1, 2, 3, 4, 4))
    assert torch.equal(out, torch.zeros(1, 2, 16))


def test_attention_distances_match_loops_over_classes_and_layers():
    from dcl.objectives import attention_embedding_distance, attention_matching_distance

    torch.manual_seed(0)
    sizes = (16, 4)
    real = [torch.randn(3, 5, s, dtype=torch.float64) for s in sizes]
    syn = [torch.randn(3, 2, s, dtype=torch.float64, requires_grad=True) for s in sizes]
    real_emb = torch.randn(3, 5, 7, dtype=torch.float64)
    syn_emb = torch.randn(3, 2, 7, dtype=torch.float64, requires_grad=True)
    sam = attention_matching_distance(real, syn)
    total = attention_embedding_distance(real, syn, real_emb, syn_emb, 0.01, 100.0)
    ref_sam, ref_total = [], []
    for k in range(3):
        s = sum(((real[i][k].mean(0) - syn[i][k].mean(0)) ** 2).sum() for i in range(2))
        mmd = ((real_emb[k].mean(0) - syn_emb[k].mean(0)) ** 2).sum()
        ref_sam.append(s)
        ref_total.append(100.0 * (s + 0.01 * mmd))
    torch.testing.assert_close(sam, torch.stack(ref_sam))
    torch.testing.assert_close(total, torch.stack(ref_total))
    ours_g = torch.autograd.grad(total.sum(), [*syn, syn_emb])
    ref_g = torch.autograd.grad(torch.stack(ref_total).sum(), [*syn, syn_emb])
    for a, b in zip(ours_g, ref_g, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("power", [1.0, 3.0])
def test_attention_map_of_known_nonnegative_features_skips_abs_with_the_same_values(power):
    from dcl.objectives import attention_map

    torch.manual_seed(0)
    features = torch.randn(2, 3, 4, 5, 5, dtype=torch.float64).relu()
    torch.testing.assert_close(
        attention_map(features, power, nonnegative=True), attention_map(features, power)
    )


# ------------------------------------------------------------------------------ soft labels
def test_soft_label_loss_is_the_tempered_kl_averaged_over_the_batch():
    from dcl.objectives import soft_label_loss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=g, dtype=torch.float64)
    targets = torch.randn(5, 4, generator=g, dtype=torch.float64)
    t = 2.5
    p = torch.softmax(targets / t, 1)
    by_hand = (p * (p.log() - torch.log_softmax(logits / t, 1))).sum() / 5
    assert float(soft_label_loss(logits, targets, t)) == pytest.approx(float(by_hand), rel=1e-12)
    scaled = soft_label_loss(logits, targets, t, scale=True)
    assert float(scaled) == pytest.approx(t**2 * float(by_hand), rel=1e-12)
    assert float(soft_label_loss(targets, targets, t)) == pytest.approx(0.0, abs=1e-12)


def test_soft_label_loss_sends_no_gradient_into_the_targets():
    from dcl.objectives import soft_label_loss

    logits = torch.randn(3, 4, requires_grad=True)
    targets = torch.randn(3, 4, requires_grad=True)
    soft_label_loss(logits, targets, 1.0).backward()
    assert logits.grad is not None and targets.grad is None


def test_classification_loss_picks_cross_entropy_for_class_labels():
    from dcl.objectives import classification_loss

    logits = torch.randn(6, 3)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.equal(classification_loss(logits, labels, 4.0), expected)
    # One-hot logits far apart at T = 1 are nearly the class labels: nearly cross-entropy.
    onehot = torch.nn.functional.one_hot(labels, 3).float() * 50
    assert float(classification_loss(logits, onehot, 1.0)) == pytest.approx(float(expected), 1e-4)
