"""Network architectures of the DC/DSA/DM papers, a name-based factory and users' own networks."""

from dcl.networks.classic import MLP, VGG11, AlexNet, LeNet
from dcl.networks.convnet import ConvNet
from dcl.networks.custom import is_class_path
from dcl.networks.embedding import can_embed, embed, supports_embed
from dcl.networks.factory import (
    NETWORK_NAMES,
    build_network,
    has_batchnorm,
    instance_norm_variant,
    network_problem,
    reset_parameters,
    uses_batchnorm,
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
    "can_embed",
    "embed",
    "has_batchnorm",
    "instance_norm_variant",
    "is_class_path",
    "network_problem",
    "reset_parameters",
    "supports_embed",
    "uses_batchnorm",
]
