"""The forgetting diagnosis: record statistics and both rankings' sets, on the digits."""

from __future__ import annotations

import json

import torch

from benchmarks.forgetting_rules import main
from dcl.baselines import save_extractor, train_feature_extractor


def test_both_rules_build_sets_and_the_record_is_summarised(tmp_path, digits, digits_cache):
    train, _ = digits
    net, record = train_feature_extractor(train, epochs=2, track_forgetting=True)
    extractor = save_extractor(
        net, tmp_path / "x.pt", backbone="ConvNet", dataset="digits", epochs=2, forgetting=record
    )
    args = ["--dataset", "digits", "--data-root", str(tmp_path), "--cache-dir", str(digits_cache)]
    args += ["--extractor", str(extractor), "--ipc", "2", "--no-evaluate"]
    doc = main([*args, "--out-dir", str(tmp_path / "out")])
    never = ~record.any(0)
    assert doc["record"]["epochs"] == 2 and doc["record"]["never_learned"] == int(never.sum())
    assert doc["record"]["examples"] == len(train)
    first, last = doc["rules"]["first"], doc["rules"]["last"]
    assert sum(first["chosen_scores"].values()) == sum(last["chosen_scores"].values()) == 20
    # Ranked first, never-learned images (score = epochs) fill what they can; ranked last, the
    # score -1 appears only if some class has fewer than 2 learned images.
    learned = torch.stack([(~never)[train.labels == c].sum() for c in range(10)])
    assert ("-1" in last["chosen_scores"]) == bool((learned < 2).any())
    assert first["chosen_scores"].get("2", 0) == int(
        sum(min(2, int(never[train.labels == c].sum())) for c in range(10))
    )
    written = json.loads((tmp_path / "out/forgetting_rules_digits_ipc2.json").read_text())
    assert written["rules"]["last"]["images_sha256"] == last["images_sha256"]
