"""Two CPU processes (ddp_spawn, gloo): replicated and class-sharded synthesis."""

import pytest
import torch
import torch.distributed as dist

from tests.synthesis.helpers import SaveImagesPerRank, synthesize

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
