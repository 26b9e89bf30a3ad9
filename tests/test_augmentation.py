from __future__ import annotations

import dataclasses

import pytest
import torch

from dcl.augmentation import (
    DSA,
    DSA_OPS,
    DSA_STRATEGY_FULL,
    DSA_STRATEGY_NO_FLIP,
    DSAParams,
    dc_augment,
    default_dsa_strategy,
)

pytestmark = pytest.mark.numerics  # Batched augmentations against per-image application in float32.

STRATEGIES = [*DSA_OPS, DSA_STRATEGY_FULL]
GEOMETRIC = ["crop", "cutout", "flip", "scale", "rotate"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(*shape: int, seed: int = 123) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed))


def forced(params: DSAParams, op: str) -> DSAParams:
    """Params with every group's op replaced by ``op``."""
    return dataclasses.replace(params, op=torch.full_like(params.op, DSA_OPS.index(op)))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_siamese_copies_get_identical_transform(strategy: str) -> None:
    dsa = DSA(strategy)
    real = images(3, 4, 3, 12, 12)
    syn = real[:, [1, 3]].clone()
    for seed in range(3):
        out_real, out_syn = dsa.siamese(real, syn, generator=gen(seed))
        assert out_real.shape == real.shape and out_syn.shape == syn.shape
        torch.testing.assert_close(out_syn, out_real[:, [1, 3]], rtol=0, atol=1e-6)


def test_siamese_separate_tensors_match_concatenated() -> None:
    # Different spatial sizes cannot be concatenated: applied separately with the same params.
    dsa = DSA("crop")
    a, b = images(2, 3, 1, 8, 8), images(2, 2, 1, 16, 16)
    out_a, out_b = dsa.siamese(a, b, generator=gen(1))
    (ref_a,) = dsa.siamese(a, generator=gen(1))
    torch.testing.assert_close(out_a, ref_a, rtol=0, atol=0)
    assert out_b.shape == b.shape


def test_batched_siamese_equals_group_by_group() -> None:
    dsa = DSA(DSA_STRATEGY_FULL)
    x = images(3, 4, 3, 10, 10)
    for ops in (["crop", "scale", "color"], ["rotate", "cutout", "flip"], ["scale"] * 3):
        params = dataclasses.replace(
            dsa.sample(3, gen(7)), op=torch.tensor([DSA_OPS.index(o) for o in ops])
        )
        params = dataclasses.replace(params, flip=torch.tensor([True, True, True]))
        batched = dsa.apply(x, params)
        for g in range(3):
            single = dsa.apply(x[g : g + 1], params.select(g))
            torch.testing.assert_close(batched[g : g + 1], single, rtol=0, atol=1e-6)
    # Groups of one batch really get different transforms (different params per group).
    same = x[:1].expand(3, -1, -1, -1, -1)
    out = dsa.apply(same, forced(dsa.sample(3, gen(3)), "rotate"))
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])


def test_sample_one_op_and_per_group_ops() -> None:
    dsa = DSA(DSA_STRATEGY_FULL)
    p = dsa.sample(64, gen(0), one_op=True)
    assert p.groups == 64 and p.op.unique().numel() == 1
    p = dsa.sample(64, gen(0))
    assert p.op.unique().numel() > 1
    assert set(p.op.tolist()) <= set(range(len(DSA_OPS)))
    assert DSA_OPS.index("flip") not in DSA(DSA_STRATEGY_NO_FLIP).sample(64, gen(0)).op.tolist()
    assert p.select(slice(2, 5)).groups == 3 and p.select([0, 2]).groups == 2


@pytest.mark.parametrize("op", ["scale", "rotate", "color", "crop"])
def test_per_image_draws_params_per_image(op: str) -> None:
    x = images(1, 3, 12, 12).expand(6, -1, -1, -1).contiguous()
    out = DSA(op).per_image(x, gen(5))
    assert out.shape == x.shape
    distinct = {tuple(o.flatten().round(decimals=4).tolist()) for o in out}
    assert len(distinct) > 1


def test_per_image_full_strategy_one_op_per_call() -> None:
    # per_image uses exactly the draws of sample(one_op=True): one op for the whole call.
    dsa = DSA(DSA_STRATEGY_FULL)
    x = images(5, 3, 8, 8)
    params = dsa.sample(5, gen(11), one_op=True)
    torch.testing.assert_close(
        dsa.per_image(x, gen(11)), dsa.apply(x.unsqueeze(1), params).squeeze(1)
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gradients_flow(strategy: str) -> None:
    dsa = DSA(strategy)
    weights = images(3, 2, 3, 8, 8, seed=9)
    for mode in ("siamese", "per_image"):
        x = images(3, 2, 3, 8, 8).requires_grad_(True)
        if mode == "siamese":
            (out,) = dsa.siamese(x, generator=gen(2))
        else:
            out = dsa.per_image(x.flatten(0, 1), gen(2)).view_as(x)
        (out * weights).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("op", GEOMETRIC)
def test_geometric_value_range(op: str) -> None:
    x = images(16, 2, 12, 12)
    out = DSA(op).per_image(x, gen(4))
    lo, hi = min(x.min().item(), 0.0), max(x.max().item(), 0.0)
    assert out.min() >= lo - 1e-5 and out.max() <= hi + 1e-5


def test_flip_is_flip_or_identity() -> None:
    x = images(16, 1, 8, 8)
    out = DSA("flip").per_image(x, gen(0))
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (flipped | kept).all() and flipped.any() and kept.any()


def test_color_matches_formula_and_mean() -> None:
    dsa = DSA("color")
    x = images(4, 1, 3, 8, 8)
    p = dsa.sample(4, gen(3))
    out = dsa.apply(x, p)[:, 0]
    v = x[:, 0] + p.brightness.view(-1, 1, 1, 1)
    m = v.mean(1, keepdim=True)
    v = (v - m) * p.saturation.view(-1, 1, 1, 1) + m
    m = v.mean((1, 2, 3), keepdim=True)
    v = (v - m) * p.contrast.view(-1, 1, 1, 1) + m
    torch.testing.assert_close(out, v)
    # Saturation and contrast keep the mean: the mean moves by the brightness offset only.
    torch.testing.assert_close(out.mean((1, 2, 3)), x[:, 0].mean((1, 2, 3)) + p.brightness)
    big = dsa.sample(1000, gen(0))
    assert big.brightness.abs().max() <= 0.5
    assert big.saturation.min() >= 0 and big.saturation.max() < 2
    assert big.contrast.min() >= 0.5 and big.contrast.max() < 1.5


def test_scale_rotate_ranges_and_identity() -> None:
    p = DSA().sample(1000, gen(0))
    assert p.scale.min() >= 1 / 1.2 - 1e-6 and p.scale.max() <= 1.2
    assert p.angle.abs().max() <= torch.pi / 12 + 1e-6
    x = images(1, 2, 3, 9, 9)
    for op in ("scale", "rotate"):
        ident = dataclasses.replace(
            forced(p.select(0), op), scale=torch.ones(1, 2), angle=torch.zeros(1)
        )
        torch.testing.assert_close(DSA(op).apply(x, ident), x, rtol=0, atol=1e-5)


def test_cutout_area() -> None:
    x = torch.ones(64, 1, 16, 16)
    out = DSA("cutout").per_image(x, gen(0))
    zeros = (out == 0).flatten(1).sum(1)
    assert (zeros > 0).all() and (zeros <= 64).all() and (zeros == 64).any()
    assert ((out == 0) | (out == 1)).all()
    # Centre 8 (u = 0.5 of 17 positions) -> rows/cols [4, 12): the full 8x8 square inside.
    dsa = DSA("cutout")
    p = dataclasses.replace(forced(dsa.sample(1, gen(0)), "cutout"), cutout=torch.full((1, 2), 0.5))
    out = dsa.apply(x[:1, None], p)[0, 0, 0]
    expected = torch.ones(16, 16)
    expected[4:12, 4:12] = 0
    torch.testing.assert_close(out, expected)


def test_crop_shift_range() -> None:
    # 16x16 -> max shift int(0.125 * 16 + 0.5) = 2 in each direction, every shift reachable.
    x = torch.zeros(128, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    out = DSA("crop").per_image(x, gen(0))
    assert (out.flatten(1).sum(1) == 1).all()  # the pixel is always kept (|shift| <= 2)
    pos = out[:, 0].flatten(1).argmax(1)
    dr, dc = pos // 16 - 8, pos % 16 - 8
    assert set(dr.tolist()) == set(range(-2, 3)) and set(dc.tolist()) == set(range(-2, 3))


def test_generator_determinism_and_global_rng_untouched() -> None:
    dsa = DSA()
    real, syn = images(3, 4, 3, 8, 8), images(3, 2, 3, 8, 8, seed=5)
    state = torch.get_rng_state()
    a = dsa.siamese(real, syn, generator=gen(42))
    b = dsa.siamese(real, syn, generator=gen(42))
    c = dsa.per_image(real.flatten(0, 1), gen(42))
    d = dc_augment(real.flatten(0, 1), gen(42))
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert torch.equal(c, dsa.per_image(real.flatten(0, 1), gen(42)))
    assert torch.equal(d, dc_augment(real.flatten(0, 1), gen(42)))
    others = [dsa.siamese(real, syn, generator=gen(s))[0] for s in range(43, 46)]
    assert any(not torch.allclose(a[0], o) for o in others)
    assert not torch.equal(d, dc_augment(real.flatten(0, 1), gen(43)))


def test_dc_augment_shapes_and_gradients() -> None:
    x = images(12, 1, 16, 16).requires_grad_(True)
    out = dc_augment(x, gen(0))
    assert out.shape == x.shape and torch.isfinite(out).all()
    (out * images(12, 1, 16, 16, seed=1)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # Identical inputs receive different per-image transforms.
    same = images(1, 1, 16, 16).expand(12, -1, -1, -1).contiguous()
    out = dc_augment(same, gen(1))
    assert len({tuple(o.flatten().round(decimals=4).tolist()) for o in out}) > 1


def test_unknown_op_and_shape_errors() -> None:
    with pytest.raises(ValueError, match="blur") as err:
        DSA("color_blur")
    assert "rotate" in str(err.value)
    with pytest.raises(ValueError):
        DSA("")
    with pytest.raises(ValueError):
        DSA().per_image(images(2, 3, 3, 8, 8), gen())
    with pytest.raises(ValueError):
        DSA().siamese(images(2, 1, 1, 8, 8), images(3, 1, 1, 8, 8), generator=gen())


def test_default_dsa_strategy() -> None:
    assert default_dsa_strategy("MNIST") == DSA_STRATEGY_NO_FLIP
    assert default_dsa_strategy("svhn") == DSA_STRATEGY_NO_FLIP
    for name in ("FashionMNIST", "CIFAR10", "cifar100", "TinyImageNet"):
        assert default_dsa_strategy(name) == DSA_STRATEGY_FULL
