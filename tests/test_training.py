import pytest
import torch

from dcl.calls import compiled, embed, logits, nhwc
from dcl.networks import build_network
from dcl.training import train_epochs
from tests.compile_support import needs_compiler

# Compiled and channels-last calls reorder float sums. Three epochs of training amplify float32
# rounding by orders of magnitude and by how much depends on the CPU's kernels, so the training
# comparisons run in float64: the deviation measured under every kernel choice (about 1e-15,
# results/rounding_spread.md) stays six orders of magnitude below the bound.
BOUND = 1e-9


def _train(forward=logits, epochs: int = 3, dtype=torch.float32) -> tuple[torch.nn.Module, float]:
    data = torch.Generator().manual_seed(0)
    # 16 images in batches of 8: one batch shape, so a compiled forward compiles once.
    images, labels = torch.randn(16, 1, 8, 8, generator=data), torch.arange(10).repeat(2)[:16]
    net = build_network("ConvNet", 1, 10, 8, generator=torch.Generator().manual_seed(1))
    net, images = net.to(dtype), images.to(dtype)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.5)
    shuffle = torch.Generator().manual_seed(2)
    loss = train_epochs(net, opt, images, labels, epochs, 8, shuffle, forward=forward)
    return net, loss


def _largest_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    return max(float((p - q).abs().max()) for p, q in pairs)


def test_training_lowers_the_loss_and_is_seeded():
    first, loss_1 = _train(epochs=1)
    net, loss = _train(epochs=30)
    again, _ = _train(epochs=30)
    assert loss < loss_1
    for a, b in zip(net.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.numerics
@needs_compiler
def test_a_compiled_forward_trains_the_same_network(spread):
    eager, loss = _train(dtype=torch.float64)
    fast, fast_loss = _train(compiled(logits), dtype=torch.float64)
    assert fast_loss == pytest.approx(loss, rel=1e-9)
    spread(_largest_difference(eager, fast), BOUND)


@pytest.mark.numerics
def test_nhwc_forward_converts_the_network_and_gives_the_same_embedding(spread):
    net = build_network("ConvNet", 3, 10, 16, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, 3, 16, 16)
    expected = embed(net, x)
    got = nhwc(embed)(net, x)
    conv = net.features[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    torch.testing.assert_close(got, expected)  # one float32 forward: no amplification
    # Training through it changes nothing but the layout.
    plain, loss = _train(dtype=torch.float64)
    fast, fast_loss = _train(nhwc(logits), dtype=torch.float64)
    assert fast_loss == pytest.approx(loss, rel=1e-9)
    spread(_largest_difference(plain, fast), BOUND)


def test_soft_label_training_is_the_obvious_kl_loop_in_float64():
    """train_epochs with the soft-label loss takes the steps a loop written out by hand takes."""
    from dcl.objectives import classification_loss

    g = torch.Generator().manual_seed(0)
    images = torch.randn(12, 1, 8, 8, generator=g, dtype=torch.float64)
    soft = torch.randn(12, 10, generator=g, dtype=torch.float64) * 3
    t, batch, epochs = 2.0, 5, 2

    def network() -> torch.nn.Module:
        net = build_network("ConvNet", 1, 10, 8, generator=torch.Generator().manual_seed(1))
        return net.double()

    ours = network()
    opt = torch.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    train_epochs(ours, opt, images, soft, epochs, batch, torch.Generator().manual_seed(2),
                 criterion=lambda out, y: classification_loss(out, y, t))  # fmt: skip

    plain = network()
    plain.train()
    opt = torch.optim.SGD(plain.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    shuffle = torch.Generator().manual_seed(2)
    for _ in range(epochs):
        order = torch.randperm(12, generator=shuffle)
        for start in range(0, 12, batch):
            idx = order[start : start + batch]
            p = torch.softmax(soft[idx] / t, 1)
            log_q = torch.log_softmax(plain(images[idx]) / t, 1)
            loss = (p * (p.log() - log_q)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert _largest_difference(ours, plain) < 1e-12
