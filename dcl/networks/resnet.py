"""ResNet18 for small images (3x3 stride-1 stem): instance norm, batchnorm and AP variants."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dcl.networks.layers import make_norm


class BasicBlock(nn.Module):
    """Two conv3x3 -> norm with a residual connection.

    With ``avgpool_downsample`` a stride-2 block uses stride-1 convs and halves the map with
    ``AvgPool2d(2)`` after the first conv and in the shortcut (the release's "_AP" blocks).
    """

    def __init__(
        self, in_ch: int, out_ch: int, stride: int, norm: str, avgpool_downsample: bool
    ) -> None:
        super().__init__()
        conv_stride = 1 if avgpool_downsample else stride
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=conv_stride, padding=1, bias=False)
        self.norm1 = make_norm(norm, out_ch, 0)
        self.pool = nn.AvgPool2d(2, 2) if avgpool_downsample and stride != 1 else nn.Identity()
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.norm2 = make_norm(norm, out_ch, 0)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            shortcut = [nn.Conv2d(in_ch, out_ch, 1, stride=conv_stride, bias=False)]
            shortcut += [nn.AvgPool2d(2, 2)] if avgpool_downsample and stride != 1 else []
            self.shortcut = nn.Sequential(*shortcut, make_norm(norm, out_ch, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns the block output."""
        out = self.pool(F.relu(self.norm1(self.conv1(x))))
        out = self.norm2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet18: stem conv3x3(64) -> 4 stages of 2 BasicBlocks (64, 128, 256, 512) -> Linear.

    Plain variant: the final map is global-average-pooled to 512 features (the release's
    ``avg_pool2d(out, 4)`` is the same thing at 28 and 32; global pooling also works at 8 and 64).
    AP variant (``avgpool_downsample=True``): stride-2 convs become stride-1 conv + AvgPool2d(2)
    and, as in the release, the final map is flattened without pooling (512*4*4 at 32, 512*3*3 at
    28, 512*8*8 at 64).

    Args:
        channels: Input channels.
        num_classes: Number of output logits.
        image_size: Input side.
        norm: "instancenorm" (GroupNorm(C, C), default) or "batchnorm".
        avgpool_downsample: Use the AP blocks and flatten the final map.
    """

    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: int,
        norm: str = "instancenorm",
        avgpool_downsample: bool = False,
    ) -> None:
        super().__init__()
        if norm not in ("instancenorm", "batchnorm"):
            raise ValueError(f"ResNet18 norm must be 'instancenorm' or 'batchnorm', got {norm!r}")
        self.stem = nn.Sequential(
            nn.Conv2d(channels, 64, 3, padding=1, bias=False), make_norm(norm, 64, 0), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        in_ch, size = 64, image_size
        for out_ch, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            for block_stride in (stride, 1):
                blocks.append(BasicBlock(in_ch, out_ch, block_stride, norm, avgpool_downsample))
                in_ch = out_ch
            if stride == 2:
                # avg-pool floors, a padded 3x3 stride-2 conv rounds up
                size = size // 2 if avgpool_downsample else (size + 1) // 2
        if size < 1:
            raise ValueError(f"image side {image_size} is too small for ResNet18")
        self.layers = nn.Sequential(*blocks)
        self.flatten_map = avgpool_downsample
        num_features = 512 * size * size if avgpool_downsample else 512
        self.classifier = nn.Linear(num_features, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Returns the features before the classifier (pooled, or the flattened map for AP)."""
        out = self.layers(self.stem(x))
        if not self.flatten_map:
            out = F.adaptive_avg_pool2d(out, 1)
        return out.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns logits of shape ``(N, num_classes)``."""
        return self.classifier(self.embed(x))
