import pytest
import torch
import torch.nn.functional as F

from dcl.methods.dc import dc_loss, set_batchnorm_eval
from dcl.methods.dc.gradients import _layer_norm, class_gradients, class_gradients_loop
from dcl.methods.dm import class_chunk_for, dm_loss
from dcl.networks import NETWORK_NAMES, build_network

pytestmark = pytest.mark.numerics  # Batched per-class gradients against loops in float64.


def make(name: str, channels: int = 1, size: int = 8, classes: int = 3):
    g = torch.Generator().manual_seed(0)
    net = build_network(name, channels, classes, size, generator=g).double()
    x = torch.randn(classes, 4, channels, size, size, generator=g, dtype=torch.float64)
    y = torch.arange(classes)[:, None].expand(-1, 4)
    return net, x, y


@pytest.mark.parametrize("name", ["ConvNet", "ConvNetBN", "ConvNetLN", "MLP", "LeNet"])
def test_batched_class_gradients_equal_the_per_class_loop(name):
    net, x, y = make(name)
    net.train()
    set_batchnorm_eval(net)
    batched = class_gradients(net, x, y, create_graph=False)
    loop = class_gradients_loop(net, x, y, create_graph=False)
    assert len(batched) == len(list(net.parameters()))
    for a, b in zip(batched, loop, strict=True):
        assert a.shape[0] == 3
        torch.testing.assert_close(a, b)
        assert not a.requires_grad  # real side: no graph


@pytest.mark.parametrize("metric", ["ours", "mse", "cos"])
@pytest.mark.parametrize("name", ["ConvNet", "ConvNetBN"])
def test_dc_loss_batched_equals_loop_in_value_and_image_gradient(name, metric):
    net, real, _ = make(name)
    set_batchnorm_eval(net)
    syn = torch.randn(3, 2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    classes = torch.arange(3)
    batched = dc_loss(net, real, syn, classes, metric, batched=True)
    loop = dc_loss(net, real, syn, classes, metric, batched=False)
    torch.testing.assert_close(batched, loop)
    g_batched = torch.autograd.grad(batched, syn)[0]
    g_loop = torch.autograd.grad(loop, syn)[0]
    torch.testing.assert_close(g_batched, g_loop)
    assert g_batched.abs().sum() > 0  # gradients reach the synthetic images
    assert all(p.grad is None for p in net.parameters())  # network weights untouched


# Smallest side at which a network's image gradient is not identically zero (default 8): an
# instance norm over a 1x1 map outputs its bias whatever the input, so at 8x8 ConvNetD4, VGG11 and
# the instance-norm ResNets pass nothing back to the images and a comparison would prove nothing.
_SIDE = {"ConvNetD4": 16, "VGG11": 28, "ResNet18": 9, "ResNet18_AP": 16}


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_dc_loss_image_gradient_batched_equals_the_loop_for_every_network(name, spread):
    """In float64, ``batched=True`` (vmap, the GPU default) gives the loop's loss and image grad.

    Every network of the factory, so a new layer whose vmap double backward is wrong (as layer
    norm's affine weight once was) fails here.
    """
    side, k = _SIDE.get(name, 8), 2
    g = torch.Generator().manual_seed(0)
    net = build_network(name, 1, k, side, generator=g).double()
    set_batchnorm_eval(net)
    real = torch.randn(k, 1, 1, side, side, generator=g, dtype=torch.float64)
    syn = torch.randn(k, 2, 1, side, side, generator=g, dtype=torch.float64, requires_grad=True)
    classes = torch.arange(k)
    batched = dc_loss(net, real, syn, classes, batched=True)
    loop = dc_loss(net, real, syn, classes, batched=False)
    torch.testing.assert_close(batched, loop, rtol=1e-10, atol=0)
    (g_batched,) = torch.autograd.grad(batched, syn)
    (g_loop,) = torch.autograd.grad(loop, syn)
    assert g_loop.abs().max() > 1e-6, f"no image gradient at side {side}: give {name} a larger one"
    spread(((g_batched - g_loop).norm() / g_loop.norm()).item(), 1e-7)


@pytest.mark.parametrize("batched", [False, True])
def test_layer_norm_image_gradient_is_the_finite_difference(batched):
    """ConvNetLN's image gradient (either path) is the loss's central difference."""
    net, real, _ = make("ConvNetLN")
    g = torch.Generator().manual_seed(1)
    syn = torch.randn(3, 2, 1, 8, 8, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(syn.shape, generator=g, dtype=torch.float64)
    classes = torch.arange(3)
    (grad,) = torch.autograd.grad(dc_loss(net, real, syn, classes, batched=batched), syn)
    eps = 1e-6
    ahead = dc_loss(net, real, syn.detach() + eps * v, classes, batched=False)
    behind = dc_loss(net, real, syn.detach() - eps * v, classes, batched=False)
    torch.testing.assert_close((grad * v).sum(), (ahead - behind) / (2 * eps), rtol=1e-6, atol=0)


@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_split_affine_layer_norm_keeps_the_value_and_dtype_of_layer_norm(dtype, autocast):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, 4, 4, generator=g).to(dtype)
    affine = torch.float64 if dtype == torch.float64 else torch.float32  # float32 under bfloat16
    w, b = torch.randn(2, 3, 4, 4, generator=g, dtype=affine)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        ours, ref = _layer_norm(x, (3, 4, 4), w, b), F.layer_norm(x, (3, 4, 4), w, b)
    assert ours.dtype == ref.dtype
    tol = {torch.float64: 1e-14, torch.float32: 1e-6, torch.bfloat16: 2e-2}[dtype]
    torch.testing.assert_close(ours, ref, rtol=tol, atol=tol * 4)


def test_dc_loss_is_sum_of_single_class_losses():
    net, real, _ = make("ConvNet")
    syn = torch.randn(3, 2, 1, 8, 8, dtype=torch.float64)
    total = dc_loss(net, real, syn, torch.arange(3))
    parts = [dc_loss(net, real[c : c + 1], syn[c : c + 1], torch.tensor([c])) for c in range(3)]
    torch.testing.assert_close(total, sum(parts))


def test_dm_loss_matches_per_class_reference_and_reaches_images():
    net, real, _ = make("ConvNet")
    net.requires_grad_(False)
    syn = torch.randn(3, 2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    loss = dm_loss(net, real, syn)
    ref = sum(
        ((net.embed(real[c]).mean(0) - net.embed(syn[c]).mean(0)) ** 2).sum() for c in range(3)
    )
    torch.testing.assert_close(loss, ref)
    (grad,) = torch.autograd.grad(loss, syn)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_dm_loss_applies_the_same_siamese_transform_to_real_and_synthetic():
    from dcl.augmentation import DSA

    net, real, _ = make("ConvNet")
    net.requires_grad_(False)
    dsa = DSA("color_crop_cutout_scale_rotate")
    params = dsa.sample(3, torch.Generator().manual_seed(1))
    syn = real[
        :, :2
    ].clone()  # synthetic images equal to real ones: identical transform => equal means
    seen = {}

    def augment(r, s):
        seen["r"], seen["s"] = dsa.apply(r, params), dsa.apply(s, params)
        return seen["r"], seen["s"]

    dm_loss(net, real, syn, augment)
    torch.testing.assert_close(seen["r"][:, :2], seen["s"])


@pytest.mark.parametrize("chunk", [1, 2])
def test_dm_loss_chunked_forwards_equal_one_forward(chunk):
    net, real, _ = make("ConvNet")
    net.requires_grad_(False)
    syn = torch.randn(3, 2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    whole = dm_loss(net, real, syn, class_chunk=0)
    chunked = dm_loss(net, real, syn, class_chunk=chunk)
    torch.testing.assert_close(chunked, whole)
    torch.testing.assert_close(
        torch.autograd.grad(chunked, syn)[0], torch.autograd.grad(whole, syn)[0]
    )


def test_class_chunk_is_requested_else_per_device_and_all_for_batch_norm():
    plain = build_network("ConvNet", 1, 3, 8)
    bn = build_network("ConvNetBN", 1, 3, 8)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert class_chunk_for(plain, cpu) == 1 and class_chunk_for(plain, cuda) == 0
    assert class_chunk_for(plain, cpu, 2) == 2 and class_chunk_for(plain, cuda, 2) == 2
    assert class_chunk_for(bn, cpu) == 0 and class_chunk_for(bn, cpu, 2) == 0
