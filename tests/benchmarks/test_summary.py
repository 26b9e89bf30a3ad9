"""benchmarks/summary.py renders result files beside the published numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks import summary  # noqa: E402


def _reproduction(**changes) -> dict:
    doc = {
        "kind": "reproduction",
        "method": "dm",
        "dataset": "cifar10",
        "data_source": "imagefolder",
        "published_as": "cifar10",
        "ipc": 10,
        "tag": "cpu",
        "accuracies": [40.0, 42.0],
        "mean": 41.0,
        "std": 1.0,
        "baseline": {"method": "random", "mean": 25.5, "std": 0.5},
        "steps": 300,
        "published_steps": 20000,
        "batch_real": 64,
        "published_batch_real": 256,
        "num_models": 2,
        "epochs": 300,
        "published_num_models": 5,
        "published_epochs": 1000,
        "synthesis_seconds": 600.0,
        "evaluation_seconds": 120.0,
        "environment": {"device": "cpu", "device_name": "Test CPU", "date": "2026-11-24T00:00"},
        "command": "python -m benchmarks.reproduce dm cifar10 10 --steps 300",
        "recipes": {"ConvNet": {"augment": "dsa", "epochs": 300, "dsa_strategy": "color"}},
    }
    doc.update(changes)
    return doc


def _throughput() -> dict:
    timing = {"median_ms": 100.0, "cpu_median_ms": 180.0, "peak_mb": 900.0, "kind": "max_rss"}
    row = {
        "method": "dc",
        "shape": "mnist",
        "ipc": 1,
        "batch_real": 256,
        "ours": timing,
        "reference": {**timing, "median_ms": 250.0, "cpu_median_ms": 400.0, "peak_mb": 1200.0},
        "ratio": 2.5,
        "loss_rel_diff": 1e-7,
        "eval": {"models": 2, "epochs": 50, "seconds": 12.0},
    }
    env = {"device": "cpu", "device_name": "Test CPU", "date": "2026-11-24T00:00"}
    return {"kind": "throughput", "environment": env, "results": [row], "command": "x"}


def test_summary_puts_published_numbers_beside_ours(tmp_path: Path) -> None:
    (tmp_path / "dm_cifar10_ipc10_cpu.json").write_text(json.dumps(_reproduction()))
    mnist = _reproduction(dataset="mnist", published_as="mnist", data_source="mnist", ipc=1)
    (tmp_path / "dm_mnist_ipc1_cpu.json").write_text(json.dumps(mnist))
    (tmp_path / "throughput_cpu.json").write_text(json.dumps(_throughput()))
    out = summary.main(["--results", str(tmp_path)])
    text = out.read_text()
    assert out == tmp_path / "README.md"
    row = next(line for line in text.splitlines() if line.startswith("| DM | cifar10"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # ours, random real (same protocol), published DM, published random (docs/reference.md)
    assert cells[6:10] == ["41.0 ± 1.0", "25.5 ± 0.5", "48.9 ± 0.6", "26.0 ± 1.2"]
    assert cells[3] == "300 (20000)" and cells[4] == "64 (256)"
    mnist_row = next(line for line in text.splitlines() if line.startswith("| DM | mnist"))
    assert "| n/a |" in mnist_row  # no published DM number for MNIST
    assert "+15.5 points over random real" in text
    assert "difference -7.9 points" in text
    assert "steps 300/20000" in text
    speed = next(line for line in text.splitlines() if line.startswith("| Test CPU | mnist"))
    assert "| 100.0 (CPU time 180) | 250.0 (CPU time 400) | 2.50× | 900 (max RSS) | 1200 |" in speed
    assert "†" not in text  # every row was measured with the release's protocol


def test_rows_measured_before_the_release_protocol_are_marked(tmp_path: Path) -> None:
    old = _reproduction()
    del old["recipes"]  # written before the release's protocol: no per-network recipes
    (tmp_path / "dm_cifar10_ipc10_cpu.json").write_text(json.dumps(old))
    (tmp_path / "dm_mnist_ipc1_cpu.json").write_text(json.dumps(_reproduction(dataset="mnist")))
    text = summary.main(["--results", str(tmp_path)]).read_text()
    assert any(line.startswith("| DM † | cifar10") for line in text.splitlines())
    assert any(line.startswith("| DM | mnist") for line in text.splitlines())
    assert "† Measured before the evaluation followed the release's evaluate_synset" in text


def test_published_table_is_reference_section_7() -> None:
    assert summary.published("cifar10", "dsa", 10) == (52.1, 0.5)
    assert summary.published("mnist", "dc", 1) == (91.7, None)
    assert summary.published("cifar100", "dc", 50) is None
    assert summary.published("mnist", "dm", 1) is None
