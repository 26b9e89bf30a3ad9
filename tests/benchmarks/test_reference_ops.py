"""dcl against benchmarks/reference_ops.py: plain DSA operators and the release's training loop."""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import reference_ops as ref  # noqa: E402
from dcl.augmentation import DSA, DSA_OPS, DSA_STRATEGY_FULL  # noqa: E402
from dcl.baselines import select_baseline  # noqa: E402
from dcl.evaluation.protocol import EvaluationModule  # noqa: E402

pytestmark = pytest.mark.numerics


def _int(u: float, lo: int, hi: int) -> int:
    """A drawn uniform as the integer in [lo, hi] it stands for."""
    return min(max(lo + math.floor(u * (hi - lo + 1)), lo), hi)


def plain(op: str, img: torch.Tensor, p, g: int) -> torch.Tensor:
    """Group ``g``'s drawn parameters applied by the plain reference."""
    _, H, W = img.shape
    if op == "color":
        return ref.color(img, *(float(t[g]) for t in (p.brightness, p.saturation, p.contrast)))
    if op == "crop":
        sh, sw = int(H * 0.125 + 0.5), int(W * 0.125 + 0.5)
        return ref.crop(img, _int(float(p.crop[g, 0]), -sh, sh), _int(float(p.crop[g, 1]), -sw, sw))
    if op == "cutout":
        ch, cw = int(H * 0.5 + 0.5), int(W * 0.5 + 0.5)
        top = _int(float(p.cutout[g, 0]), 0, H - ch % 2) - ch // 2
        return ref.cutout(img, top, _int(float(p.cutout[g, 1]), 0, W - cw % 2) - cw // 2)
    if op == "flip":
        return ref.flip(img, bool(p.flip[g]))
    if op == "scale":
        return ref.scale(img, float(p.scale[g, 0]), float(p.scale[g, 1]))
    # dcl's theta is the release's with the angle negated; the angle's law is symmetric.
    return ref.rotate(img, -float(p.angle[g]))


@pytest.mark.parametrize("op", DSA_OPS)
@pytest.mark.parametrize("size", [(8, 8), (9, 7)])
def test_each_dsa_op_equals_the_plain_per_image_reference(op, size):
    g = torch.Generator().manual_seed(DSA_OPS.index(op))
    x = torch.randn(6, 1, 3, *size, generator=g, dtype=torch.float64)  # 6 groups of one image
    dsa = DSA(DSA_STRATEGY_FULL)
    params = dsa.sample(6, g)
    params = dataclasses.replace(params, op=torch.full_like(params.op, DSA_OPS.index(op)))
    ours = dsa.apply(x, params)
    expected = torch.stack([plain(op, x[i, 0], params, i) for i in range(6)]).unsqueeze(1)
    # dcl takes cos and sin of the float32 angle (about 6e-8 relative, on values up to about 4);
    # every other op uses the drawn float32 numbers exactly, so float64 agrees to rounding.
    atol = 1e-6 if op == "rotate" else 1e-12
    torch.testing.assert_close(ours, expected, rtol=0, atol=atol)


@pytest.mark.parametrize("augment", ["none", "dsa"])
@pytest.mark.parametrize("epochs", [1, 4])
def test_evaluation_training_is_the_releases_evaluate_synset(digits, augment, epochs, spread):
    syn = select_baseline("random", digits[0], 2, seed=3)
    images = syn.images.double()
    module = EvaluationModule(
        "ConvNet", syn.info, epochs, batch_size=8, augment=augment, seed=1
    ).double()
    net = copy.deepcopy(module.net)
    g = torch.Generator().manual_seed(0)
    g.set_state(module.generator.get_state())  # the same shuffles and draws, in the same order
    dsa = DSA(module.dsa.strategy) if module.dsa is not None else None
    ref.evaluate_synset(
        net,
        images,
        syn.labels,
        epochs,
        shuffle=lambda n: torch.randperm(n, generator=g),
        augment=None if dsa is None else (lambda x: dsa.per_image(x, g)),
        batch=8,
    )
    module.fit_tensors(images, syn.labels)
    pairs = zip(module.net.parameters(), net.parameters(), strict=True)
    spread(max(float((p - q).detach().abs().max()) for p, q in pairs), 1e-9)
