"""Two CPU processes (ddp_spawn, gloo): replicated and class-sharded synthesis."""

import json

import lightning as L
import pytest
import torch
import torch.distributed as dist

from dcl.baselines import select_baseline
from dcl.data.module import RealDataModule
from tests.synthesis.helpers import FakeSpeedsPerRank, SaveImagesPerRank, synthesize

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]


@pytest.mark.parametrize("method", ["dm", "dc"])
def test_replicated_ranks_hold_identical_images(tmp_path, digits_cache, method):
    synthesize(
        tmp_path,
        digits_cache,
        3,
        devices=2,
        strategy="ddp_spawn",
        method=method,
        outer_loop=2,
        inner_loop=1,
        callbacks=[SaveImagesPerRank(tmp_path)],
    )
    rank0 = torch.load(tmp_path / "images_rank0.pt")
    rank1 = torch.load(tmp_path / "images_rank1.pt")
    torch.testing.assert_close(rank0, rank1, rtol=0, atol=0)
    single, _ = synthesize(
        tmp_path / "single", digits_cache, 3, method=method, outer_loop=2, inner_loop=1
    )
    # Two ranks average two independent draws per step, so they differ from one process.
    assert not torch.allclose(single.images, rank0)


@pytest.mark.numerics
@pytest.mark.parametrize("method", ["dm", "dc"])
def test_class_shards_add_up_to_one_process(tmp_path, digits_cache, method, spread):
    kwargs = {
        "method": method,
        "multi_gpu": "shard_classes",
        "outer_loop": 2,
        "inner_loop": 1,
        "ipc": 2,
    }
    synthesize(
        tmp_path,
        digits_cache,
        3,
        devices=2,
        strategy="ddp_spawn",
        callbacks=[SaveImagesPerRank(tmp_path)],
        **kwargs,
    )
    rank0 = torch.load(tmp_path / "images_rank0.pt")
    rank1 = torch.load(tmp_path / "images_rank1.pt")
    torch.testing.assert_close(rank0, rank1, rtol=0, atol=0)
    # Lightning gives each CPU rank one thread; other thread counts round convolutions
    # differently, which DC's inner-loop training then amplifies.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single, _ = synthesize(tmp_path / "single", digits_cache, 3, **kwargs)
    finally:
        torch.set_num_threads(threads)
    # Two ranks sum the class losses' gradients in another order than one process, and DC's
    # inner-loop training amplifies that rounding: compare against how far the images moved, as
    # the fast-call tests do (measured spread per kernel choice: results/rounding_spread.md).
    start, _ = synthesize(tmp_path / "start", digits_cache, 0, **kwargs)
    moved = (single.images - start.images).norm()
    assert moved > 0.1
    spread(float((rank0 - single.images).norm() / moved), 1e-3)


def test_class_sharded_run_ends_with_the_single_process_evaluation_table(tmp_path, digits_cache):
    """docs/multi-gpu.md's recipe: every rank evaluates its share, one table results."""
    from dcl.data.synthetic import SyntheticSet
    from dcl.evaluation import SynthesisEvaluation, run_protocol

    evaluation = SynthesisEvaluation(num_models=3, epochs=1, baseline="random")
    kwargs = {"multi_gpu": "shard_classes", "ipc": 1}
    synthesize(
        tmp_path, digits_cache, 2, devices=2, strategy="ddp_spawn", callbacks=[evaluation], **kwargs
    )
    doc = json.loads((tmp_path / "evaluation.json").read_text())
    syn = SyntheticSet.load(tmp_path / "synthetic.pt")
    # One process, one thread (as each CPU rank had), evaluates the very same set and baseline.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = RealDataModule("digits", cache_dir=str(digits_cache))
        data.setup()
        alone = run_protocol(syn, data.test, ["ConvNet"], 3, 1, seed=syn.seed, progress=False)
        base = select_baseline("random", data.train, 1, seed=syn.seed)
        base_alone = run_protocol(
            base, data.test, ["ConvNet"], 3, 1, seed=syn.seed, progress=False, like="dm"
        )
    finally:
        torch.set_num_threads(threads)
    # The same computations (each model depends on its seed only): the same accuracies.
    assert doc["results"]["ConvNet"]["accuracies"] == alone["ConvNet"]
    assert doc["baseline"]["results"]["ConvNet"]["accuracies"] == base_alone["ConvNet"]


def test_logged_loss_is_every_ranks_loss(tmp_path, digits_cache):
    kwargs = {"multi_gpu": "shard_classes", "ipc": 1}
    _, sharded = synthesize(
        tmp_path / "ddp", digits_cache, 1, devices=2, strategy="ddp_spawn", **kwargs
    )
    _, single = synthesize(tmp_path / "one", digits_cache, 1, **kwargs)
    # The first step's loss on the same initial images: all classes, summed over the shards.
    ours, theirs = float(sharded.callback_metrics["loss"]), float(single.callback_metrics["loss"])
    assert ours == pytest.approx(theirs, rel=1e-5)


def test_a_nan_on_one_rank_stops_every_rank_and_keeps_the_last_good_step(tmp_path, digits_cache):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from dcl.data.synthetic import SyntheticSet
    from dcl.synthesis.module import SynthesisModule

    L.seed_everything(0, verbose=False)
    data = RealDataModule("digits", cache_dir=str(digits_cache))
    nan_on_rank_one = "tests.synthesis.helpers.NaNOnRankOne"
    model = SynthesisModule(
        data.info, method=nan_on_rank_one, ipc=1, batch_real=8, image_log_every_n_steps=0
    )
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_last=True)
    from tests.synthesis.helpers import DestroyProcessGroup

    trainer = L.Trainer(
        max_steps=4,
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        default_root_dir=str(tmp_path),
        logger=False,
        callbacks=[checkpoints, DestroyProcessGroup()],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(Exception, match="Non-finite matching loss at step 1") as err:
        trainer.fit(model, data)
    assert "every rank stopped" in str(err.value)
    saved = SyntheticSet.load(tmp_path / "synthetic.pt")
    assert saved.step == 1 and torch.isfinite(saved.images).all()
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["global_step"] == 1


def test_every_rank_applies_rank_zeros_autotune_choice(tmp_path, digits_cache, monkeypatch):
    # A cache of its own, inherited by the spawned ranks.
    monkeypatch.setenv("DCL_AUTOTUNE_CACHE", str(tmp_path / "dcl-cache" / "autotune.json"))
    # Each rank's fake timer favours another variant; only rank 0's may decide.
    favour = {0: {"channels_last": True}, 1: {"class_chunk": 0}}
    callbacks = [FakeSpeedsPerRank(tmp_path, favour), SaveImagesPerRank(tmp_path)]
    synthesize(tmp_path, digits_cache, 2, devices=2, strategy="ddp_spawn", callbacks=callbacks)
    rank0, rank1 = (json.loads((tmp_path / f"autotune_rank{r}.json").read_text()) for r in (0, 1))
    assert len(rank0["seen"]) == 3 and rank1["seen"] == []
    for applied in (rank0, rank1):
        assert applied["channels_last"] is True and applied["class_chunk"] == 1
    images = [torch.load(tmp_path / f"images_rank{r}.pt") for r in (0, 1)]
    torch.testing.assert_close(images[0], images[1], rtol=0, atol=0)
