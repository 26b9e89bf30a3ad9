"""The memory projection reads every shipped trajectory-matching config, image folders included."""

from __future__ import annotations

import yaml

from benchmarks.common import REPO
from benchmarks.mtt_projection import project, shape_of

CONFIGS = REPO / "configs"


def test_every_shipped_config_has_a_shape():
    paths = sorted(CONFIGS.glob("mtt/*.yaml")) + sorted(CONFIGS.glob("tesla/*.yaml"))
    shapes = {p.stem: shape_of(yaml.safe_load(p.read_text())) for p in paths}
    assert shapes["imagenet1k_ipc1"] == "imagenet1k-64" and shapes["cifar10_ipc1"] == "cifar10"


def test_the_projection_adds_steps_for_unrolled_and_not_for_constant():
    ones = dict.fromkeys(("step_mb", "step_per_image_mb", "unrolled_base_mb", "constant_mb"), 1.0)
    coefficients = {**ones, "constant_per_image_mb": 1.0, "parameters": 0}
    row = project(CONFIGS / "tesla/imagenet1k_ipc1.yaml", coefficients)
    # 1000 classes x 1 ipc, batch_syn 100, 10 steps; images, gradient and momentum at 3x64x64.
    fixed = 3 * 1000 * 3 * 64 * 64 * 4 / 2**20
    assert row["images"] == 1000 and row["batch"] == 100 and row["syn_steps"] == 10
    assert abs(row["unrolled_gib"] * 1024 - (1 + 10 * (1 + 100) + fixed)) < 1e-9
    assert abs(row["constant_gib"] * 1024 - (1 + 100 + fixed)) < 1e-9
