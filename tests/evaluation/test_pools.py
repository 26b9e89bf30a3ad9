import pytest

from dcl.evaluation.pools import POOLS, expand_models
from dcl.networks import NETWORK_NAMES

EXPECTED = {
    "M": ["MLP", "ConvNet", "LeNet", "AlexNet", "VGG11", "ResNet18"],
    "B": ["ConvNetBN", "ConvNetASwishBN", "AlexNetBN", "VGG11BN", "ResNet18BN"],
    "W": ["ConvNetW32", "ConvNetW64", "ConvNetW128", "ConvNetW256"],
    "D": ["ConvNetD1", "ConvNetD2", "ConvNetD3", "ConvNetD4"],
    "A": ["ConvNetAS", "ConvNetAR", "ConvNetAL", "ConvNetASwish"],
    "P": ["ConvNetNP", "ConvNetMP", "ConvNetAP"],
    "N": ["ConvNetNN", "ConvNetBN", "ConvNetLN", "ConvNetIN", "ConvNetGN"],
}


@pytest.mark.parametrize("letter", sorted(EXPECTED))
def test_pool_letters_expand_to_the_papers_pools(letter):
    assert expand_models(letter, "ConvNet") == EXPECTED[letter]
    assert set(expand_models(letter)) <= set(NETWORK_NAMES)


def test_every_pool_is_covered():
    assert set(POOLS) == set(EXPECTED)


@pytest.mark.parametrize(
    ("backbone", "s"),
    [
        ("ConvNetBN", "ConvNet"),
        ("ConvNet", "ConvNet"),
        ("VGG11BN", "VGG11"),
        ("ResNet18BN_AP", "ResNet18"),
    ],
)
def test_s_swaps_batchnorm_for_instance_norm_and_ss_is_the_backbone(backbone, s):
    assert expand_models("S", backbone) == [s]
    assert expand_models("SS", backbone) == [backbone]


@pytest.mark.parametrize("spec", [None, ""])
def test_default_is_the_release_eval_mode_s(spec):
    # eval_mode S: a batch-norm backbone is evaluated on its instance-norm network.
    assert expand_models(spec, "AlexNetBN") == ["AlexNet"]
    assert expand_models(spec, "ResNet18BN_AP") == ["ResNet18"]
    assert expand_models(spec, "ConvNetBN") == ["ConvNet"]
    assert expand_models(spec, "ConvNetLN") == ["ConvNetLN"]


def test_comma_lists_keep_order_strip_spaces_and_drop_duplicates():
    assert expand_models("MLP, ConvNet,MLP,,LeNet ", "ConvNet") == ["MLP", "ConvNet", "LeNet"]
    assert expand_models(["LeNet", "LeNet", "MLP"]) == ["LeNet", "MLP"]


@pytest.mark.parametrize("spec", ["Q", "ConvNet,NoSuchNet", "convnet"])
def test_unknown_names_list_pools_and_networks(spec):
    with pytest.raises(ValueError, match="Unknown network") as err:
        expand_models(spec, "ConvNet")
    message = str(err.value)
    for letter in ("S", "SS", *POOLS):
        assert letter in message
    assert "ResNet18BN_AP" in message and "ConvNetW32" in message
