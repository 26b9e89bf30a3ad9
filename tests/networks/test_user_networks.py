"""Users' own networks by dotted class path: building, reproducible weights, embeddings."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dcl.calls import embed as dm_embed
from dcl.evaluation.pools import expand_models
from dcl.evaluation.recipe import resolve_augment, resolve_recipe
from dcl.networks import (
    build_network,
    can_embed,
    embed,
    has_batchnorm,
    instance_norm_variant,
    network_problem,
    supports_embed,
    uses_batchnorm,
)

HERE = __name__  # "tests.networks.test_user_networks": what a class path names
TINY = f"{HERE}.TinyNet"


class TinyNet(nn.Module):
    """A user's network: no ``embed``, a layer ``reset_parameters`` does not know, a custom init.

    The classifier is registered before the hidden Linear it follows, so only the call order
    tells which Linear is last.
    """

    def __init__(self, channels: int, num_classes: int, image_size: int) -> None:
        super().__init__()
        self.head = nn.Linear(16, num_classes)
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.hidden = nn.Linear(4 * (image_size // 2) ** 2, 16)
        self.scale = nn.Parameter(torch.randn(4))  # a bare parameter: drawn at construction
        nn.init.orthogonal_(self.hidden.weight)  # the user's own initialisation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(torch.relu(self.conv(x) * self.scale.view(1, -1, 1, 1)), 2)
        return self.head(torch.relu(self.hidden(h.flatten(1))))


class TinyBNNet(TinyNet):
    """TinyNet with batch norm after its convolution."""

    def __init__(self, channels: int, num_classes: int, image_size: int) -> None:
        super().__init__(channels, num_classes, image_size)
        self.norm = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(torch.relu(self.norm(self.conv(x)) * self.scale.view(1, -1, 1, 1)), 2)
        return self.head(torch.relu(self.hidden(h.flatten(1))))


def tiny_factory(channels: int, num_classes: int, image_size: int) -> nn.Module:
    """A factory function, as a class path may name instead of a class."""
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * image_size**2, num_classes))


class NoLinear(nn.Module):
    def __init__(self, channels: int, num_classes: int, image_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, num_classes, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(1)


class WrongSignature(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()


def not_a_network(channels: int, num_classes: int, image_size: int) -> str:
    return "ConvNet"


class NotAModule:
    def __init__(self, channels: int, num_classes: int, image_size: int) -> None:
        pass


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_class_path_builds_the_users_network_with_reproducible_weights():
    state = torch.get_rng_state()
    a = build_network(TINY, 1, 10, 8, generator=seeded(0))
    b = build_network(TINY, 1, 10, 8, generator=seeded(0))
    c = build_network(TINY, 1, 10, 8, generator=seeded(1))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    assert type(a) is TinyNet and a.training
    assert a.hidden.weight.shape == (16, 4 * 4 * 4) and a.head.out_features == 10
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not any(torch.equal(sa[k], sc[k]) for k in ("scale", "conv.weight", "hidden.weight"))
    # The constructor's own initialisation is kept: orthogonal rows (float32 rounding aside;
    # PyTorch's default init gives a Gram matrix far from the identity).
    w = a.hidden.weight.double()
    torch.testing.assert_close(w @ w.T, torch.eye(16, dtype=torch.float64), rtol=0, atol=1e-4)


def test_class_path_weights_follow_the_generator_not_the_global_rng():
    torch.manual_seed(1)
    a = build_network(TINY, 1, 10, 8, generator=seeded(0)).state_dict()
    torch.manual_seed(2)
    b = build_network(TINY, 1, 10, 8, generator=seeded(0)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(3)  # without a generator: the global RNG, as for registry networks
    c = build_network(TINY, 1, 10, 8).state_dict()
    torch.manual_seed(3)
    d = build_network(TINY, 1, 10, 8).state_dict()
    assert all(torch.equal(c[k], d[k]) for k in c)


def test_factory_function_by_class_path():
    net = build_network(f"{HERE}.tiny_factory", 3, 5, 8, generator=seeded(0), device="cpu")
    assert isinstance(net, nn.Sequential)
    assert net(torch.zeros(2, 3, 8, 8)).shape == (2, 5)


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("nosuchpkg.nets.MyNet", ValueError, "no module named 'nosuchpkg'"),
        (f"{HERE}.Missing", ValueError, f"module '{HERE}' has no attribute 'Missing'"),
        (f"{HERE}.WrongSignature", TypeError, r"must name an nn.Module subclass whose construc"),
        (f"{HERE}.NotAModule", TypeError, "not a torch.nn.Module subclass"),
        (f"{HERE}.not_a_network", TypeError, "returned a str"),
        (f"{HERE}.HERE", TypeError, "is a str, not a class or function"),
        ("mypkg..Net", ValueError, "not a class path"),
    ],
)
def test_class_path_errors_say_what_is_wrong(name, error, message):
    with pytest.raises(error, match=message):
        build_network(name, 1, 10, 8)


def test_signature_errors_say_what_the_constructor_must_accept():
    with pytest.raises(TypeError) as info:
        build_network(f"{HERE}.WrongSignature", 1, 10, 8)
    assert "(channels: int, num_classes: int, image_size: int)" in str(info.value)
    assert "(width: int)" in str(info.value)


def test_unknown_names_mention_class_paths_and_problems_are_reported_without_building():
    with pytest.raises(ValueError, match="Did you mean 'ConvNet'") as info:
        build_network("ConvNt", 1, 10, 8)
    assert "class path such as 'mypkg.nets.MyNet'" in str(info.value)
    assert network_problem("ConvNet") is None and network_problem(TINY) is None
    assert "no module named 'nosuchpkg'" in network_problem("nosuchpkg.Net")
    assert "Unknown network 'ConvNt'" in network_problem("ConvNt")


def test_embed_falls_back_to_the_input_of_the_last_linear_called():
    net = build_network(TINY, 1, 10, 8, generator=seeded(0)).double()
    x = torch.randn(3, 1, 8, 8, generator=seeded(1), dtype=torch.float64, requires_grad=True)
    assert not supports_embed(net) and can_embed(net)
    features = embed(net, x)
    # By hand: what the forward feeds ``head`` (registered first, called last).
    h = F.avg_pool2d(torch.relu(net.conv(x) * net.scale.view(1, -1, 1, 1)), 2)
    expected = torch.relu(net.hidden(h.flatten(1)))
    assert features.shape == (3, 16)
    torch.testing.assert_close(features, expected, rtol=0, atol=0)
    torch.testing.assert_close(dm_embed(net, x), expected, rtol=0, atol=0)  # DM's call
    (grad,) = torch.autograd.grad(features.sum(), x)  # DM needs gradients to the images
    (reference,) = torch.autograd.grad(expected.sum(), x)
    torch.testing.assert_close(grad, reference, rtol=0, atol=0)
    assert not net.head._forward_pre_hooks and not net.hidden._forward_pre_hooks


def test_embed_prefers_the_networks_own_embed_method():
    net = build_network("ConvNet", 1, 10, 8, generator=seeded(0))
    x = torch.randn(2, 1, 8, 8, generator=seeded(1))
    assert torch.equal(embed(net, x), net.embed(x))


def test_embed_without_embed_method_or_linear_explains_the_fix():
    net = build_network(f"{HERE}.NoLinear", 1, 10, 8, generator=seeded(0))
    assert not can_embed(net)
    with pytest.raises(TypeError, match="no embed method and no nn.Linear.*add an embed"):
        embed(net, torch.zeros(1, 1, 8, 8))


def test_class_paths_in_pools_recipes_and_instance_norm_variants():
    bn = f"{HERE}.TinyBNNet"
    assert instance_norm_variant(TINY) == TINY and instance_norm_variant(bn) == bn
    assert expand_models(None, TINY) == [TINY] and expand_models("SS", bn) == [bn]
    assert expand_models(f"ConvNet, {TINY},{TINY}") == ["ConvNet", TINY]
    with pytest.raises(ValueError, match="no module named 'nosuchpkg'"):
        expand_models("ConvNet,nosuchpkg.Net")
    # Batch norm is found by building the network, not by its name.
    assert uses_batchnorm(bn) and not uses_batchnorm(TINY)
    assert has_batchnorm(build_network(bn, 1, 10, 8))
    state = torch.get_rng_state()
    assert resolve_augment("dc", "cifar10", network=bn) == "crop_noise"
    assert resolve_augment("dc", "cifar10", network=TINY) == "none"
    assert resolve_augment("dc", "mnist", network=TINY) == "dc"
    assert resolve_recipe("dc", "digits", bn).augment == "crop_noise"
    assert torch.equal(torch.get_rng_state(), state)
