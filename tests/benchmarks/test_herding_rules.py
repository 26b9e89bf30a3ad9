"""The herding diagnosis: the farthest rule against a plain loop, and both sets on the digits."""

from __future__ import annotations

import json

import torch

from benchmarks.herding_rules import farthest_herding, main
from dcl.baselines import save_extractor, train_feature_extractor


def plain_farthest(features, k):
    """The argmax rule written out: every candidate's distance to t * mean - S, one by one."""
    x = features.double()
    mean = x.mean(0)
    picks, total = [], torch.zeros_like(mean)
    for t in range(1, k + 1):
        best, best_d = None, -1.0
        for i in range(len(x)):
            if i in picks:
                continue
            d = float(((t * mean - total - x[i]) ** 2).sum())
            if d > best_d:
                best, best_d = i, d
        picks.append(best)
        total = total + x[best]
    return picks


def test_farthest_rule_is_the_plain_loop_and_starts_at_the_point_farthest_from_the_mean():
    feats = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    got = farthest_herding(feats, 7)
    assert got.tolist() == plain_farthest(feats, 7)
    assert int(got[0]) == int((feats - feats.mean(0)).norm(dim=1).argmax())
    assert len(set(got.tolist())) == 7


def test_both_rules_build_sets_from_one_extractor(tmp_path, digits, digits_cache):
    train, _ = digits
    net, _ = train_feature_extractor(train, epochs=1)
    extractor = save_extractor(
        net, tmp_path / "x.pt", backbone="ConvNet", dataset="digits", epochs=1
    )
    args = ["--dataset", "digits", "--data-root", str(tmp_path), "--cache-dir", str(digits_cache)]
    args += ["--extractor", str(extractor), "--ipc", "3", "--no-evaluate"]
    doc = main([*args, "--out-dir", str(tmp_path / "out")])
    near, far = doc["rules"]["nearest"], doc["rules"]["farthest"]
    # Nearest keeps the picks' mean near the class mean: its points lie closer to it.
    assert near["distance_to_class_mean"] < far["distance_to_class_mean"]
    assert 0 <= doc["shared_images"] < 30 and doc["extractor_epochs"] == 1
    written = json.loads((tmp_path / "out/herding_rules_digits_ipc3.json").read_text())
    assert written["rules"]["farthest"]["images_sha256"] == far["images_sha256"]
    assert (tmp_path / "out/herding_nearest_ipc3.pt").is_file()
