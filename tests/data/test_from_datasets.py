"""``RealDataModule.from_datasets``: torchvision-style datasets decoded once into uint8 tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from dcl.data import RealDataModule

RED, GREEN = (255, 0, 0), (0, 255, 0)


class Pictures(Dataset):
    """A tiny in-memory dataset of ``(PIL image, label)`` items, as torchvision's datasets give."""

    def __init__(self, items: list, classes: list[str] | None = None) -> None:
        self.items = items
        if classes is not None:
            self.classes = classes

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def solid(h: int, w: int, colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (w, h), colour)


def banded(h: int, w: int) -> Image.Image:
    """Green centre square of side ``h`` between red bands (``w > h``)."""
    array = np.zeros((h, w, 3), np.uint8)
    array[...] = RED
    left = (w - h) // 2
    array[:, left : left + h] = GREEN
    return Image.fromarray(array)


def random_image(h: int, w: int, seed: int, mode: str = "RGB") -> Image.Image:
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


def mixed_sizes() -> tuple[Pictures, Pictures]:
    native = random_image(8, 8, 0)
    train = Pictures(
        [(native, 0), (solid(16, 16, RED), 0), (banded(8, 16), 1), (solid(12, 20, GREEN), 1)],
        classes=["warm", "cool"],
    )
    test = Pictures([(solid(10, 10, RED), 0), (banded(8, 12), 1)])
    return train, test


def test_images_of_different_sizes_are_resized_and_centre_cropped() -> None:
    train, test = mixed_sizes()
    dm = RealDataModule.from_datasets(train, test, image_size=8)
    dm.setup()
    assert dm.train.images.shape == (4, 3, 8, 8) and dm.train.images.dtype == torch.uint8
    assert dm.test.images.shape == (2, 3, 8, 8)
    pixels = dm.train.images.permute(0, 2, 3, 1)  # (N, H, W, C)
    assert np.array_equal(pixels[0].numpy(), np.asarray(train.items[0][0]))  # 8x8: untouched
    assert (pixels[1] == torch.tensor(RED, dtype=torch.uint8)).all()  # 16x16 -> 8x8, still red
    assert (pixels[2] == torch.tensor(GREEN, dtype=torch.uint8)).all()  # only the centre is kept
    assert (pixels[3] == torch.tensor(GREEN, dtype=torch.uint8)).all()
    assert (dm.test.images.permute(0, 2, 3, 1)[1] == torch.tensor(GREEN)).all()
    assert dm.train.labels.tolist() == [0, 0, 1, 1] and dm.test.labels.tolist() == [0, 1]
    assert dm.info.class_names == ("warm", "cool") and dm.info.image_size == 8
    assert dm.info.name == "dataset" and dm.info.num_classes == 2


def test_differing_sizes_without_image_size_say_what_to_do() -> None:
    train, test = mixed_sizes()
    with pytest.raises(ValueError, match=r"train\[0\] is 8x8 but train\[1\] is 16x16.*image_size"):
        RealDataModule.from_datasets(train, test)


def test_one_non_square_size_needs_image_size() -> None:
    train = Pictures([(solid(8, 12, RED), 0), (solid(8, 12, GREEN), 1)])
    with pytest.raises(ValueError, match=r"square.*8x12.*image_size"):
        RealDataModule.from_datasets(train, train)


def test_same_sized_images_need_no_image_size_and_match_from_tensors() -> None:
    items = [(random_image(8, 8, i), i % 2) for i in range(6)]
    dm = RealDataModule.from_datasets(Pictures(items), Pictures(items[:2]), seed=2)
    x = torch.stack([torch.from_numpy(np.array(img)).permute(2, 0, 1) for img, _ in items])
    y = torch.tensor([label for _, label in items])
    reference = RealDataModule.from_tensors(x, y, test=(x[:2], y[:2]), seed=2)
    assert dm.info == RealDataModule.from_tensors(x, y, test=(x[:2], y[:2]), name="dataset").info
    assert torch.equal(dm.real_batch(3, step=1), reference.real_batch(3, step=1))


def test_gray_images_become_rgb_when_any_is_in_colour() -> None:
    gray = random_image(8, 8, 1, mode="L")
    train = Pictures([(gray, 0), (random_image(8, 8, 2), 1)])
    test = Pictures([(random_image(8, 8, 3, mode="L"), 0)])  # gray only: RGB as the train split
    dm = RealDataModule.from_datasets(train, test)
    dm.setup()
    assert dm.train.images.shape == (2, 3, 8, 8) and dm.test.images.shape == (1, 3, 8, 8)
    assert torch.equal(dm.train.images[0], torch.from_numpy(np.array(gray)).expand(3, 8, 8))
    only_gray = RealDataModule.from_datasets(Pictures([(gray, 0), (gray, 1)]), test)
    assert only_gray.info.channels == 1


def test_tensor_and_array_items_are_converted() -> None:
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    array = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    train = Pictures([(x, 0), (torch.tensor(1.0) * x, torch.tensor(1)), (array, 1)])
    dm = RealDataModule.from_datasets(train, train)
    dm.setup()
    stored = dm.train.images
    assert ((stored[0].double() - x.double() * 255).abs() < 1).all()
    assert torch.equal(stored[2], torch.from_numpy(array).permute(2, 0, 1))
    assert dm.train.labels.tolist() == [0, 1, 1]


@pytest.mark.parametrize(
    ("items", "error", "match"),
    [
        ([(torch.randn(3, 8, 8), 0)], ValueError, "Normalize"),
        ([(torch.zeros(3, 8, 8, dtype=torch.int32), 0)], TypeError, "uint8 or float"),
        ([(solid(8, 8, RED),)], TypeError, r"\[0\] is not a pair"),
        ([(solid(8, 8, RED), "cat")], TypeError, "expected an int"),
        ([("picture.png", 0)], TypeError, "PIL image or tensor"),
        ([], ValueError, "empty"),
    ],
)
def test_bad_items_are_clear_errors(items, error, match) -> None:
    with pytest.raises(error, match=match):
        RealDataModule.from_datasets(Pictures(items), Pictures([(solid(8, 8, RED), 0)]))
