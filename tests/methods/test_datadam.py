"""DataDAM: its loss against the release's maths written plainly, its wiring and a CLI run."""

from pathlib import Path

import pytest
import torch
from torch import nn

from dcl.augmentation import DSA
from dcl.cli import train_main
from dcl.data.synthetic import SyntheticSet
from dcl.methods import BUILTIN, DataDAM
from dcl.methods.datadam import datadam_loss
from dcl.methods.dm import class_chunk_for, dm_loss
from dcl.networks import build_network
from dcl.networks.features import block_features
from dcl.seeding import INIT, REAL, generator, step_seed
from tests.synthesis.helpers import synthesize

numerics = pytest.mark.numerics  # float64 batched loss against per-class, per-layer loops


def make(name: str = "ConvNet", size: int = 8, classes: int = 3, n: int = 4):
    g = torch.Generator().manual_seed(0)
    net = build_network(name, 1, classes, size, generator=g).double().requires_grad_(False)
    real = torch.randn(classes, n, 1, size, size, generator=g, dtype=torch.float64)
    syn = torch.randn(classes, 2, 1, size, size, generator=g, dtype=torch.float64)
    return net, real, syn.requires_grad_(True)


def layer_by_layer(net: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The release's hooks by hand: every (leaky) ReLU output of ``net.features``, the embedding."""
    maps, h = [], x
    for layer in net.features:
        h = layer(h)
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
            maps.append(h.clone())
    return maps, h.flatten(1)


def reference_loss(net, real, syn, power: float, task_balance: float) -> torch.Tensor:
    """main_DataDAM.py's loss: one forward of all real and one of all synthetic images, then
    loops over classes and over every ReLU layer but the last, attention maps by hand."""

    def attention(f: torch.Tensor) -> torch.Tensor:  # (C, H, W) -> (H*W,)
        a = sum(f[c].abs() ** power for c in range(f.shape[0])).flatten()
        return a / torch.clamp(a.norm(), min=1e-12)

    k, n, m = real.shape[0], real.shape[1], syn.shape[1]
    real_maps, real_emb = layer_by_layer(net, real.flatten(0, 1))
    syn_maps, syn_emb = layer_by_layer(net, syn.flatten(0, 1))
    total = torch.zeros((), dtype=torch.float64)
    for c in range(k):
        for layer in range(len(real_maps) - 1):
            mr = sum(attention(real_maps[layer][c * n + i]) for i in range(n)) / n
            ms = sum(attention(syn_maps[layer][c * m + j]) for j in range(m)) / m
            total = total + 100 * ((mr - ms) ** 2).sum()
        er = real_emb[c * n : (c + 1) * n].mean(0)
        es = syn_emb[c * m : (c + 1) * m].mean(0)
        total = total + 100 * task_balance * ((er - es) ** 2).sum()
    return total


def test_block_features_are_each_blocks_activation_before_pooling_and_the_embedding():
    net, real, _ = make(size=16)
    x = real.flatten(0, 1)
    maps, emb = block_features(net, x)
    ref_maps, ref_emb = layer_by_layer(net, x)
    assert [tuple(m.shape[1:]) for m in maps] == [(128, 16, 16), (128, 8, 8), (128, 4, 4)]
    for a, b in zip(maps, ref_maps, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(emb, ref_emb, rtol=0, atol=0)
    torch.testing.assert_close(emb, net.embed(x), rtol=0, atol=0)
    assert not any(m._forward_hooks for m in net.modules())  # hooks removed


def test_block_features_refuses_a_network_without_spatial_activations():
    net = build_network("MLP", 1, 3, 8)
    with pytest.raises(TypeError, match="no activation layer.*spatial output"):
        block_features(net, torch.randn(2, 1, 8, 8))


@numerics
@pytest.mark.parametrize("power", [1.0, 4.0])
@pytest.mark.parametrize("name", ["ConvNet", "ConvNetBN", "ConvNetAL"])  # AL: leaky, abs
def test_loss_matches_the_per_class_per_layer_reference_in_value_and_gradient(name, power):
    net, real, syn = make(name)
    ours = datadam_loss(net, real, syn, power=power, task_balance=0.3)
    ref = reference_loss(net, real, syn, power, 0.3)
    torch.testing.assert_close(ours, ref)
    (g_ours,) = torch.autograd.grad(ours, syn)
    (g_ref,) = torch.autograd.grad(ref, syn)
    torch.testing.assert_close(g_ours, g_ref)
    assert torch.isfinite(g_ours).all() and g_ours.abs().sum() > 0


@numerics
@pytest.mark.parametrize("chunk", [1, 2])
def test_chunked_forwards_equal_one_forward(chunk):
    net, real, syn = make()
    whole = datadam_loss(net, real, syn, class_chunk=0)
    chunked = datadam_loss(net, real, syn, class_chunk=chunk)
    torch.testing.assert_close(chunked, whole)
    torch.testing.assert_close(
        torch.autograd.grad(chunked, syn)[0], torch.autograd.grad(whole, syn)[0]
    )


@numerics
def test_without_attention_terms_it_is_dm_scaled():
    """A one-block network has no layer before the last: the loss is 100 * lambda * DM's."""
    g = torch.Generator().manual_seed(0)
    net = build_network("ConvNetD1", 1, 3, 8, generator=g).double().requires_grad_(False)
    _, real, syn = make()
    torch.testing.assert_close(
        datadam_loss(net, real, syn, task_balance=0.5), 50 * dm_loss(net, real, syn)
    )


def test_the_siamese_augmentation_transforms_real_and_synthetic_alike_per_class():
    net, real, _ = make()
    dsa = DSA("color_crop_cutout_flip_scale_rotate")
    params = dsa.sample(3, torch.Generator().manual_seed(1))
    syn = real[:, :2].clone().requires_grad_(True)  # the first real images of each class
    seen = {}

    def augment(r, s):
        seen["r"], seen["s"] = dsa.apply(r, params), dsa.apply(s, params)
        return seen["r"], seen["s"]

    loss = datadam_loss(net, real, syn, augment)
    torch.testing.assert_close(seen["r"][:, :2], seen["s"], rtol=0, atol=0)
    (grad,) = torch.autograd.grad(loss, syn)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_options_are_checked_and_the_method_is_built_in():
    assert BUILTIN["datadam"] is DataDAM and DataDAM.name == "datadam"
    assert (DataDAM.init, DataDAM.lr_img, DataDAM.bf16_measured) == ("real", 1.0, False)
    for bad in ({"power": 0.0}, {"task_balance": -1.0}, {"class_chunk": -1}):
        with pytest.raises(ValueError, match="must be"):
            DataDAM(**bad)


@numerics
def test_one_cli_step_is_the_loss_of_the_steps_network_batch_and_augmentation(
    tmp_path, digits_cache
):
    args = ["fit", "--data.dataset", "digits", "--data.cache_dir", str(digits_cache)]
    args += ["--model.method", "datadam", "--model.method_args", '{"task_balance": 0.1}']
    args += ["--model.ipc", "2", "--model.batch_real", "8", "--seed_everything", "3"]
    args += ["--model.image_log_every_n_steps", "0", "--trainer.max_steps", "1"]
    args += ["--trainer.default_root_dir", str(tmp_path), "--trainer.accelerator", "cpu"]
    args += ["--trainer.enable_progress_bar", "false", "--trainer.callbacks=[]"]
    cli = train_main(args)
    model, data = cli.model, cli.datamodule
    assert isinstance(model.matching, DataDAM) and model.matching.task_balance == 0.1
    assert model.hparams.lr_img is None and model.dsa is not None  # DataDAM's lr 1, augmented

    # Step 0 again, by hand: its network, real batch and per-class augmentation, images at init.
    classes = torch.arange(10)
    start = data.train.sample(2, generator(step_seed(3, 0, 0, INIT))).flatten(0, 1)
    syn = start.clone().requires_grad_(True)
    real = data.real_batch(8, classes, step=0, rank=0, stream=REAL, seed=3)
    net = model._network(0).requires_grad_(False)
    chunk = class_chunk_for(net, torch.device("cpu"), model.matching.class_chunk)
    loss = datadam_loss(
        net, real, syn.view(10, 2, 1, 8, 8), model._siamese(0, classes), chunk, 1.0, 0.1
    )
    logged = float(cli.trainer.callback_metrics["loss"])
    assert logged == pytest.approx(float(loss.detach()), rel=1e-5)
    (grad,) = torch.autograd.grad(loss, syn)
    moved = model.images.detach() - start  # first SGD step: -lr * grad
    assert float(moved.norm()) > 0
    torch.testing.assert_close(moved, -grad, rtol=1e-4, atol=1e-4 * float(grad.abs().max()))
    saved = SyntheticSet.load(Path(cli.trainer.log_dir) / "synthetic.pt")
    assert saved.method == "datadam" and torch.equal(saved.images, model.images.detach())


def test_by_name_or_class_path_gives_the_same_run(tmp_path, digits_cache):
    path = "dcl.methods.datadam.DataDAM"
    by_name, _ = synthesize(tmp_path / "name", digits_cache, 2, method="datadam", ipc=2)
    by_path, _ = synthesize(tmp_path / "path", digits_cache, 2, method=path, ipc=2)
    assert torch.equal(by_name.images, by_path.images)
    assert by_name.synthetic_set().method == by_path.synthetic_set().method == "datadam"
