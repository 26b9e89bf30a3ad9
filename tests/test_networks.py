import copy

import pytest
import torch

from dcl.networks import (
    NETWORK_NAMES,
    ConvNet,
    build_network,
    has_batchnorm,
    instance_norm_variant,
    supports_embed,
)

pytestmark = pytest.mark.numerics  # Batched, in-place and reference network calls in float32.

# (channels, image_size): sklearn digits, MNIST, CIFAR, TinyImageNet
SIZES = [(1, 8), (1, 28), (3, 32), (3, 64)]
REQUIRED = [
    "ConvNet",
    *(f"ConvNetW{w}" for w in (32, 64, 128, 256)),
    *(f"ConvNetD{d}" for d in (1, 2, 3, 4)),
    *("ConvNetAS", "ConvNetAR", "ConvNetAL", "ConvNetASwish"),
    *("ConvNetNN", "ConvNetBN", "ConvNetLN", "ConvNetIN", "ConvNetGN"),
    *("ConvNetNP", "ConvNetMP", "ConvNetAP", "ConvNetASwishBN"),
    *("MLP", "LeNet", "AlexNet", "AlexNetBN", "VGG11", "VGG11BN"),
    *("ResNet18", "ResNet18BN", "ResNet18BN_AP"),
]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_all_required_names_registered():
    assert set(REQUIRED) <= set(NETWORK_NAMES)
    assert len(set(NETWORK_NAMES)) == len(NETWORK_NAMES)


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_output_and_embed_shapes(name):
    for channels, size in SIZES:
        net = build_network(name, channels, 7, size, generator=seeded(0)).eval()
        x = torch.randn(2, channels, size, size)
        with torch.no_grad():
            logits = net(x)
            assert logits.shape == (2, 7), (channels, size)
            assert supports_embed(net)
            features = net.embed(x)
            assert features.ndim == 2 and features.shape[0] == 2
            torch.testing.assert_close(net.classifier(features), logits)


@pytest.mark.parametrize(("channels", "size", "expected"), [(3, 32, 320_010), (1, 28, 317_706)])
def test_convnet_parameter_count(channels, size, expected):
    net = build_network("ConvNet", channels, 10, size)
    assert sum(p.numel() for p in net.parameters()) == expected
    assert net.embed(torch.zeros(1, channels, size, size)).shape == (1, 2048)


def test_convnet_stops_pooling_at_one_pixel():
    net = ConvNet(1, 10, 8, depth=4)
    assert net.feature_shape == (128, 1, 1)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_convnet_rejects_unknown_options():
    with pytest.raises(ValueError, match="activation"):
        ConvNet(3, 10, 32, act="tanh")
    with pytest.raises(ValueError, match="norm"):
        ConvNet(3, 10, 32, norm="weird")


@pytest.mark.parametrize("name", ["ConvNet", "VGG11", "ResNet18", "ResNet18_AP"])
def test_instance_norm_is_per_sample(name):
    net = build_network(name, 3, 10, 32, generator=seeded(0)).train()
    x = torch.randn(4, 3, 32, 32, generator=seeded(1))
    with torch.no_grad():
        alone = net(x[:1])
        batched = net(x)
    torch.testing.assert_close(batched[:1], alone, rtol=1e-4, atol=1e-5)


def test_generator_makes_weights_reproducible_without_touching_global_rng():
    state = torch.get_rng_state()
    a = build_network("ConvNetBN", 3, 10, 32, generator=seeded(0)).state_dict()
    b = build_network("ConvNetBN", 3, 10, 32, generator=seeded(0)).state_dict()
    c = build_network("ConvNetBN", 3, 10, 32, generator=seeded(1)).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["features.0.weight"], c["features.0.weight"])
    assert torch.equal(a["features.1.running_var"], torch.ones(128))
    assert torch.equal(a["features.1.weight"], torch.ones(128))


def test_default_init_distribution_and_global_rng():
    net = build_network("ConvNet", 3, 10, 32, generator=seeded(0))
    conv = net.features[0]
    bound = 1 / (3 * 3 * 3) ** 0.5  # kaiming_uniform(a=sqrt(5)) and bias bound both 1/sqrt(fan_in)
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
    assert conv.bias.abs().max() <= bound
    torch.manual_seed(3)
    a = build_network("LeNet", 1, 10, 28).state_dict()
    torch.manual_seed(3)
    b = build_network("LeNet", 1, 10, 28).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_device_argument():
    net = build_network("MLP", 1, 10, 8, generator=seeded(0), device="cpu")
    assert all(p.device.type == "cpu" for p in net.parameters())


def test_unknown_name_lists_known_names_and_suggests():
    with pytest.raises(ValueError, match="Known networks") as info:
        build_network("ConvnetASwishBM", 3, 10, 32)
    message = str(info.value)
    assert "'ConvNetASwishBN'" in message.split("Known networks")[0]
    assert ", ".join(sorted(NETWORK_NAMES)) in message
    with pytest.raises(ValueError, match="Did you mean 'ResNet18BN'"):
        instance_norm_variant("resnet18bn")


def test_instance_norm_variant():
    expected = {
        "ConvNetBN": "ConvNet",
        "ConvNetASwishBN": "ConvNetASwish",
        "AlexNetBN": "AlexNet",
        "VGG11BN": "VGG11",
        "ResNet18BN": "ResNet18",
        "ResNet18BN_AP": "ResNet18",
        "ConvNet": "ConvNet",
        "ConvNetLN": "ConvNetLN",
        "MLP": "MLP",
    }
    for name, variant in expected.items():
        assert instance_norm_variant(name) == variant
    for name in NETWORK_NAMES:
        variant = instance_norm_variant(name)
        assert variant in NETWORK_NAMES
        assert not has_batchnorm(build_network(variant, 1, 10, 8))


def test_has_batchnorm():
    bn = {n for n in NETWORK_NAMES if "BN" in n}
    assert bn == {
        "ConvNetBN",
        "ConvNetASwishBN",
        "AlexNetBN",
        "VGG11BN",
        "ResNet18BN",
        "ResNet18BN_AP",
    }
    for name in NETWORK_NAMES:
        assert has_batchnorm(build_network(name, 1, 10, 8)) == (name in bn)


@pytest.mark.parametrize("name", ["ConvNet", "ConvNetNN", "ConvNetBN", "ConvNetLN", "ConvNetAL"])
def test_in_place_activations_give_the_out_of_place_values_and_gradients(name):
    # The reference: the same weights with every activation out of place.
    net = build_network(name, 1, 4, 8, generator=seeded(0))
    plain = copy.deepcopy(net)
    in_place = [m for m in plain.modules() if getattr(m, "inplace", False)]
    assert in_place, "ReLU and leaky ReLU should work in place"
    for module in in_place:
        module.inplace = False
    x = torch.randn(6, 1, 8, 8, requires_grad=True)
    y = torch.arange(6) % 4
    results = []
    for model in (net, plain):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        g_w = torch.autograd.grad(loss, list(model.parameters()), create_graph=True)
        # DC's second-order path: the image gradient of a gradient norm.
        (g_x,) = torch.autograd.grad(sum(g.square().sum() for g in g_w), x)
        results.append((model.embed(x), g_w, g_x))
    torch.testing.assert_close(results[0], results[1])
