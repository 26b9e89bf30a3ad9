"""``train_experts.py`` end to end on the bundled digits: train, extend, refuse, exit statuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcl import console
from dcl.methods.mtt import ExpertBuffer
from dcl.methods.mtt.cli import main

REPO = Path(__file__).resolve().parents[3]
FAST = ["--dataset", "digits", "--network", "ConvNetW32", "--epochs", "1", "--progress", "false"]


def test_the_command_trains_extends_and_reports_the_buffer(tmp_path, digits_cache, capsys):
    out = tmp_path / "buffer"
    args = [*FAST, "--cache_dir", str(digits_cache), "--out", str(out), "--accelerator", "cpu"]
    first = main([*args, "--num_experts", "1"])
    assert first.experts == [0] and first.manifest["dataset"] == "digits"
    assert f"Expert buffer: {out.resolve()} holds 1 ConvNetW32 expert(s) x 1 epochs on digits" in (
        capsys.readouterr().out
    )
    before = first.load(0)
    second = main([*args, "--num_experts", "2"])
    assert second.experts == [0, 1] and torch.equal(second.load(0), before)
    assert "holds 2 ConvNetW32" in capsys.readouterr().out
    training = ExpertBuffer(out).manifest["training"]
    assert training["lr"] == 0.01 and training["momentum"] == 0.0
    assert training["weight_decay"] == 0.0 and training["batch_size"] == 256
    assert training["dsa_strategy"] == "color_crop_cutout_flip_scale_rotate"
    with pytest.raises(ValueError, match=r"made with other settings.*training.lr: 0.01 -> 0.02"):
        main([*args, "--num_experts", "3", "--lr", "0.02"])


def test_the_default_folder_is_named_after_the_data_and_network(
    tmp_path, digits_cache, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    buffer = main([*FAST, "--cache_dir", str(digits_cache), "--num_experts", "1", "--zca", "true"])
    assert buffer.path == Path("buffers/digits-zca/ConvNetW32")
    assert buffer.manifest["zca"] is True and buffer.manifest["zca_eps"] == 0.1


def test_an_image_folder_is_resized_for_its_experts(tmp_path):
    # TESLA's ImageNet-1K experts train on 64x64 images: --image_size reaches the data module.
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(3):
                path = tmp_path / "tree" / split / cls / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(path)
    args = ["--dataset", "imagefolder", "--root", str(tmp_path / "tree"), "--image_size", "8"]
    args += ["--network", "ConvNetW32", "--epochs", "1", "--progress", "false", "--num_experts"]
    args += ["1", "--cache_dir", str(tmp_path / "cache"), "--out", str(tmp_path / "buffer")]
    buffer = main([*args, "--accelerator", "cpu"])
    assert buffer.manifest["image_shape"] == [3, 8, 8] and buffer.manifest["num_classes"] == 2


def test_bad_values_exit_2_with_one_message(capsys, monkeypatch):
    monkeypatch.delenv("DCL_DEBUG", raising=False)
    for args, message in [
        (["--num_experts", "0"], "--num_experts must be at least 1, got 0."),
        (["--dataset", "cifar11"], "cifar11"),
        (["--network", "ConvNett", "--dataset", "digits"], "Did you mean 'ConvNet'"),
    ]:
        assert console.run(main, args) == 2
        err = capsys.readouterr().err
        assert "error:" in err and message in err and "Traceback" not in err


@pytest.mark.slow
def test_the_script_reports_a_bad_value_without_a_traceback(tmp_path):
    env = {**os.environ, "DCL_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("DCL_DEBUG", None)
    argv = [sys.executable, str(REPO / "train_experts.py"), "--num_experts", "0"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "train_experts.py: error: --num_experts must be at least 1, got 0." in done.stderr
    assert "Traceback" not in done.stderr
