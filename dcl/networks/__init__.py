"""Network architectures of the DC/DSA/DM papers and a name-based factory."""

from dcl.networks.classic import MLP, VGG11, AlexNet, LeNet
from dcl.networks.convnet import ConvNet
from dcl.networks.factory import (
    NETWORK_NAMES,
    build_network,
    has_batchnorm,
    instance_norm_variant,
    reset_parameters,
    supports_embed,
)
from dcl.networks.resnet import ResNet18

__all__ = [
    "MLP",
    "NETWORK_NAMES",
    "VGG11",
    "AlexNet",
    "ConvNet",
    "LeNet",
    "ResNet18",
    "build_network",
    "has_batchnorm",
    "instance_norm_variant",
    "reset_parameters",
    "supports_embed",
]
