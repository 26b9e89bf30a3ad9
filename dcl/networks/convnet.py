"""The ConvNet backbone of the DC/DSA/DM papers and its width/depth/act/norm/pool variants."""

from __future__ import annotations

import torch
from torch import nn

from dcl.networks.layers import conv_out, make_activation, make_norm, make_pool


class ConvNet(nn.Module):
    """``depth`` blocks of conv3x3 -> norm -> act -> pool(2), then one Linear.

    For 1-channel 28x28 inputs (MNIST) the first conv pads by 3 so the map becomes 32x32, as in the
    authors' release. Pooling stops once the map is 1x1 (e.g. depth 4 on 8x8 inputs) instead of
    crashing.

    Args:
        channels: Input channels.
        num_classes: Number of output logits.
        image_size: Input side (square images).
        width: Channels of every conv.
        depth: Number of blocks.
        act: "relu", "sigmoid", "leakyrelu" or "swish".
        norm: "instancenorm", "batchnorm", "layernorm", "groupnorm" or "none".
        pool: "avgpooling", "maxpooling" or "none".
    """

    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: int,
        width: int = 128,
        depth: int = 3,
        act: str = "relu",
        norm: str = "instancenorm",
        pool: str = "avgpooling",
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size, in_ch = image_size, channels
        for d in range(depth):
            padding = 3 if d == 0 and channels == 1 and image_size == 28 else 1
            size = conv_out(size, 3, padding)
            layers.append(nn.Conv2d(in_ch, width, 3, padding=padding))
            if norm != "none":
                layers.append(make_norm(norm, width, size))
            layers.append(make_activation(act))
            pool_layer, size = make_pool(pool, size)
            if pool_layer is not None:
                layers.append(pool_layer)
            in_ch = width
        self.features = nn.Sequential(*layers)
        self.feature_shape = (width, size, size)
        self.classifier = nn.Linear(width * size * size, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Returns the flattened features fed to the classifier, shape ``(N, width*H*W)``."""
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns logits of shape ``(N, num_classes)``."""
        return self.classifier(self.embed(x))
