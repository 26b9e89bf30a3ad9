"""Turning decoded images of any mode and size into uint8 ``(C, H, W)`` tensors of one shape.

Shared by the image-folder readers and ``RealDataModule.from_datasets``, so a folder and a
torchvision-style dataset of the same pictures give the same pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.transforms import v2

# Pillow modes that hold one intensity per pixel.
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
RESIZE_HINT = "pass image_size=N (--data.image_size N) to resize and centre-crop them to NxN"

_TO_UINT8 = v2.Compose([v2.ToImage(), v2.ToDtype(torch.uint8, scale=True)])


def resize_square(image: Tensor, size: int) -> Tensor:
    """Resize the shorter side to ``size`` (antialiased), then centre-crop to ``size x size``.

    The usual ImageNet-style preprocessing: nothing is stretched, the borders of the longer side
    are cut. An image already ``size x size`` is returned unchanged.
    """
    image = v2.functional.resize(image, [size], antialias=True)
    return v2.functional.center_crop(image, [size, size])


def pil_to_uint8(img: Any) -> Tensor:
    """``(C, H, W)`` uint8 of a Pillow image: 1 channel if grayscale, else 3 (RGB).

    Palette, alpha and CMYK images become RGB (a palette index is not an intensity). Read through
    numpy rather than ``ToImage``: the same pixels, but 14 against 90 microseconds per 32x32
    image (measured), which is seconds on an image folder of CIFAR-10's size.
    """
    array = np.array(img.convert("L" if img.mode in GRAY_MODES else "RGB"))
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array).permute(2, 0, 1)


def item_to_uint8(image: Any, where: str) -> Tensor:
    """``(C, H, W)`` uint8 from a Pillow image, a ``(C, H, W)`` tensor or an ``(H, W, C)`` array.

    Float tensors must hold [0, 1] values (as ``ToImage``/``ToTensor`` give); integer ones must
    be uint8.

    Raises:
        TypeError: An unsupported item type or dtype; the message says what to return instead.
        ValueError: A float image outside [0, 1] (a normalising transform).
    """
    if hasattr(image, "mode") and hasattr(image, "convert"):  # a Pillow image
        image = image.convert("L" if image.mode in GRAY_MODES else "RGB")  # not palette indices
    if not isinstance(image, Tensor):
        image = _TO_UINT8(image)  # ToImage reads arrays as (H, W, C)
    if not isinstance(image, Tensor):
        raise TypeError(
            f"{where} is a {type(image).__name__}; items must be (PIL image or tensor, label)."
        )
    image = image.as_subclass(Tensor)
    if image.ndim == 2:
        image = image.unsqueeze(0)
    if image.ndim != 3:
        raise ValueError(f"{where} has shape {tuple(image.shape)}; expected (C, H, W).")
    if image.is_floating_point():
        lo, hi = float(image.min()), float(image.max())
        if lo < 0 or hi > 1:
            raise ValueError(
                f"{where} holds values in [{lo:.3g}, {hi:.3g}], expected [0, 1]: drop Normalize "
                "from the dataset's transform (dcl normalises with the dataset's mean and std)."
            )
    elif image.dtype != torch.uint8:
        raise TypeError(f"{where} is {image.dtype}; return uint8 or float [0, 1] images.")
    return _TO_UINT8(image).as_subclass(Tensor)


def stack_images(
    count: int,
    read: Callable[[int], Tensor],
    image_size: int | None,
    name: Callable[[int], str],
    rgb: bool = False,
    error: type[ValueError] = ValueError,
) -> Tensor:
    """Read ``count`` images one by one into one ``(N, C, H, W)`` uint8 tensor.

    Args:
        count: Number of images.
        read: Image ``i`` as ``(C, H, W)`` uint8 with 1 (gray) or 3 (RGB) channels.
        image_size: Resize and centre-crop every image to this square side; ``None``: the images
            must already share one square size.
        name: Describes image ``i`` in error messages.
        rgb: Always return 3 channels. Otherwise ``C`` is 1 when every image is grayscale and 3
            when any is in colour (grayscale ones replicated, as Pillow's ``convert("RGB")``).
        error: The exception class raised for bad images.

    Raises:
        ValueError: (``error``) No images, differing or non-square sizes without
            ``image_size``, or a channel count other than 1 or 3.
    """
    out: Tensor | None = None  # filled in place: one copy of the data, however large
    all_gray = True
    for i in range(count):
        image = read(i)
        if image.shape[0] not in (1, 3):
            raise error(f"{name(i)} has {image.shape[0]} channels; use 1 (gray) or 3 (RGB).")
        if image_size is not None:
            image = resize_square(image, image_size)
        if out is None:
            if image.shape[1] != image.shape[2]:
                raise error(
                    f"Images must be square, but {name(i)} is {image.shape[1]}x{image.shape[2]} "
                    f"(HxW): {RESIZE_HINT}."
                )
            out = torch.empty((count, 3, *image.shape[1:]), dtype=torch.uint8)
        if image.shape[1:] != out.shape[2:]:
            h, w = out.shape[2:]
            raise error(
                f"Images must all have one size: {name(0)} is {h}x{w} but {name(i)} is "
                f"{image.shape[1]}x{image.shape[2]} (HxW). Resize them first, or {RESIZE_HINT}."
            )
        out[i] = image  # a gray image broadcasts to all three channels
        all_gray &= image.shape[0] == 1
    if out is None:
        raise error("No images to decode.")
    return out[:, :1].contiguous() if all_gray and not rgb else out
