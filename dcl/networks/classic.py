"""MLP, LeNet, AlexNet and VGG11 as in the DC/DSA/DM cross-architecture experiments.

Classifier input sizes are computed from the actual image size, so every net runs on 8x8, 28x28,
32x32 and 64x64 inputs. Every net names its final Linear ``classifier`` and has ``embed``.
"""

from __future__ import annotations

import torch
from torch import nn

from dcl.networks.layers import conv_out, make_norm, make_pool


class MLP(nn.Module):
    """Flatten -> Linear(in, 128) -> ReLU -> Linear(128, 128) -> ReLU -> Linear(128, classes)."""

    def __init__(self, channels: int, num_classes: int, image_size: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * image_size * image_size, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(128, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Returns the 128-d hidden features before the classifier."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns logits of shape ``(N, num_classes)``."""
        return self.classifier(self.embed(x))


class LeNet(nn.Module):
    """conv5x5(6) ReLU maxpool -> conv5x5(16) ReLU maxpool -> FC 120 -> 84 -> classes.

    The first conv pads by 2 for 1-channel inputs (as in the release). The second conv pads by 2
    only when its input is smaller than 5x5 (8x8 digits), where it would otherwise vanish.
    """

    def __init__(self, channels: int, num_classes: int, image_size: int) -> None:
        super().__init__()
        pad1 = 2 if channels == 1 else 0
        size = conv_out(image_size, 5, pad1)
        pool1, size = make_pool("maxpooling", size)
        pad2 = 2 if size < 5 else 0
        size = conv_out(size, 5, pad2)
        pool2, size = make_pool("maxpooling", size)
        layers = [nn.Conv2d(channels, 6, 5, padding=pad1), nn.ReLU(), pool1]
        layers += [nn.Conv2d(6, 16, 5, padding=pad2), nn.ReLU(), pool2, nn.Flatten()]
        layers += [nn.Linear(16 * size * size, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU()]
        self.features = nn.Sequential(*[m for m in layers if m is not None])
        self.classifier = nn.Linear(84, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Returns the 84-d features before the classifier."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns logits of shape ``(N, num_classes)``."""
        return self.classifier(self.embed(x))


class AlexNet(nn.Module):
    """The release's small AlexNet; ``norm="batchnorm"`` gives AlexNetBN (BN after every conv).

    conv5x5(128, pad 4 for 1-ch else 2) maxpool -> conv5x5(192) maxpool -> conv3x3(256) ->
    conv3x3(192) -> conv3x3(192) maxpool -> Linear(192*H*W). Pooling stops at 1x1.
    """

    def __init__(
        self, channels: int, num_classes: int, image_size: int, norm: str = "none"
    ) -> None:
        super().__init__()
        # (out channels, kernel, padding, pool after)
        spec = [
            (128, 5, 4 if channels == 1 else 2, True),
            (192, 5, 2, True),
            (256, 3, 1, False),
            (192, 3, 1, False),
            (192, 3, 1, True),
        ]
        layers: list[nn.Module] = []
        size, in_ch = image_size, channels
        for out_ch, kernel, padding, pooled in spec:
            size = conv_out(size, kernel, padding)
            layers += [nn.Conv2d(in_ch, out_ch, kernel, padding=padding)]
            if norm != "none":
                layers.append(make_norm(norm, out_ch, size))
            layers.append(nn.ReLU())
            pool, size = make_pool("maxpooling" if pooled else "none", size)
            layers += [pool] if pool is not None else []
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(192 * size * size, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Returns the flattened conv features before the classifier."""
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns logits of shape ``(N, num_classes)``."""
        return self.classifier(self.embed(x))


# Conv widths, "M" = 2x2 max pooling.
VGG11_CONFIG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11(nn.Module):
    """VGG11: conv3x3 -> norm -> ReLU blocks with max pooling ("M"), then one Linear.

    The first conv pads by 3 for 1-channel inputs (28 -> 32, as in the release). Max pooling is
    skipped once the map is 1x1, so 8x8 inputs work; the classifier input is ``512*H*W`` of the
    final map (512 at 28 and 32, 2048 at 64).

    Args:
        channels: Input channels.
        num_classes: Number of output logits.
        image_size: Input side.
        norm: "instancenorm" (default, VGG11) or "batchnorm" (VGG11BN), or any ConvNet norm.
    """

    def __init__(
        self, channels: int, num_classes: int, image_size: int, norm: str = "instancenorm"
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size, in_ch = image_size, channels
        for index, item in enumerate(VGG11_CONFIG):
            if item == "M":
                pool, size = make_pool("maxpooling", size)
                layers += [pool] if pool is not None else []
                continue
            padding = 3 if index == 0 and channels == 1 else 1
            size = conv_out(size, 3, padding)
            layers += [nn.Conv2d(in_ch, int(item), 3, padding=padding)]
            if norm != "none":
                layers.append(make_norm(norm, int(item), size))
            layers.append(nn.ReLU())
            in_ch = int(item)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512 * size * size, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Returns the flattened conv features before the classifier."""
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns logits of shape ``(N, num_classes)``."""
        return self.classifier(self.embed(x))
