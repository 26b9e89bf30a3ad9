"""The DataDAM-versus-DM cost benchmark runs and records what the README's figure needs."""

import json
from pathlib import Path

from benchmarks.dm_successor_cost import main


def test_cost_benchmark_writes_both_step_times_and_their_ratio(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DCL_COMMIT", "test")  # no git call
    out = tmp_path / "cost.json"
    args = ["--image-size", "8", "--classes", "3", "--ipc", "2", "--batch-real", "4"]
    args += ["--rounds", "2", "--steps", "1", "--backbones", "ConvNet,ConvNetBN"]
    main([*args, "--output", str(out)])
    doc = json.loads(out.read_text())
    assert doc["cpu_model"] and doc["threads"] == 1 and doc["shape"]["image"] == "1x8x8"
    for row, chunk in zip(doc["results"], (1, 0), strict=True):  # batch norm: all classes at once
        assert row["class_chunk"] == chunk
        assert len(row["ratio_per_round"]) == 2 and row["ratio"] > 0
        assert len(row["seconds"]["dm"]) == len(row["seconds"]["datadam"]) == 2
