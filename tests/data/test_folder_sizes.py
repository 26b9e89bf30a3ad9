"""Image folders of mixed sizes: ``image_size`` resizes and centre-crops, one cache per size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dcl.data import RealDataModule, load_split
from dcl.data.registry import READERS, ImageFolderError

from .conftest import write_image

RED, GREEN = np.array([255, 0, 0], np.uint8), np.array([0, 255, 0], np.uint8)


def banded(h: int, w: int) -> np.ndarray:
    """Green centre square of side ``h`` between red bands (``w > h``)."""
    array = np.empty((h, w, 3), np.uint8)
    array[...] = RED
    array[:, (w - h) // 2 : (w - h) // 2 + h] = GREEN
    return array


def mixed_tree(root: Path) -> dict[str, np.ndarray]:
    """``root/{train,test}/{a,b}`` with images of five sizes; returns the two random ones."""
    rng = np.random.default_rng(0)
    native = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    wide = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    write_image(root / "train" / "a" / "0.png", native)
    write_image(root / "train" / "a" / "1.png", np.broadcast_to(RED, (16, 16, 3)).copy())
    write_image(root / "train" / "b" / "0.png", banded(8, 16))
    write_image(root / "train" / "b" / "1.png", wide)
    write_image(root / "test" / "a" / "0.png", np.broadcast_to(RED, (10, 10, 3)).copy())
    write_image(root / "test" / "b" / "0.png", banded(8, 12))
    return {"native": native, "wide": wide}


def reference_resize(array: np.ndarray, size: int) -> torch.Tensor:
    """Shorter side to ``size`` (float bilinear, antialiased), then the centre ``size`` square."""
    x = torch.from_numpy(array).permute(2, 0, 1).double()[None]
    h, w = array.shape[:2]
    new = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
    x = F.interpolate(x, size=new, mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = (new[0] - size) // 2, (new[1] - size) // 2
    return x[:, top : top + size, left : left + size]


def test_mixed_sizes_are_resized_and_centre_cropped(tmp_path: Path) -> None:
    written = mixed_tree(tmp_path)
    train = load_split("imagefolder", tmp_path, True, cache_dir=tmp_path / "c", image_size=8)
    test = load_split("imagefolder", tmp_path, False, cache_dir=tmp_path / "c", image_size=8)
    images = train["images"]
    assert images.shape == (4, 3, 8, 8) and images.dtype == torch.uint8
    assert train["labels"].tolist() == [0, 0, 1, 1] and train["class_names"] == ["a", "b"]
    pixels = images.permute(0, 2, 3, 1).numpy()
    assert np.array_equal(pixels[0], written["native"])  # already 8x8: untouched
    assert (pixels[1] == RED).all()  # 16x16 red, downsized
    assert (pixels[2] == GREEN).all()  # 8x16: only the green centre survives the crop
    diff = images[3].double() - reference_resize(written["wide"], 8)
    assert diff.abs().max() <= 1  # uint8 rounding of the same antialiased bilinear resize
    assert test["images"].shape == (2, 3, 8, 8)
    assert (test["images"][1].permute(1, 2, 0).numpy() == GREEN).all()


def test_mixed_sizes_without_image_size_say_what_to_do(tmp_path: Path) -> None:
    mixed_tree(tmp_path)
    with pytest.raises(ImageFolderError, match=r"0\.png.*8x8.*1\.png.*16x16.*Resize.*image_size"):
        READERS["imagefolder"](tmp_path, True, False)


def test_non_square_images_need_image_size(tmp_path: Path) -> None:
    write_image(tmp_path / "train" / "a" / "0.png", banded(8, 12))
    (tmp_path / "test").mkdir()
    with pytest.raises(ImageFolderError, match=r"square.*8x12.*--data.image_size"):
        READERS["imagefolder"](tmp_path, True, False)
    images, _, _ = READERS["imagefolder"](tmp_path, True, False, image_size=4)
    assert images.shape == (1, 3, 4, 4)


class CountingReader:
    """The image-folder reader, counting calls; ``fail=True`` makes any further call an error."""

    def __init__(self) -> None:
        self.inner, self.calls, self.fail = READERS["imagefolder"], 0, False

    def __call__(self, root: Path, train: bool, download: bool, **kwargs):
        if self.fail:
            raise AssertionError("the folder was read again although its cache is valid")
        self.calls += 1
        return self.inner(root, train, download, **kwargs)


def test_each_size_has_its_own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mixed_tree(tmp_path / "tree")
    reader = CountingReader()
    monkeypatch.setitem(READERS, "imagefolder", reader)
    cdir = tmp_path / "c"
    eight = load_split("imagefolder", tmp_path / "tree", True, cache_dir=cdir, image_size=8)
    four = load_split("imagefolder", tmp_path / "tree", True, cache_dir=cdir, image_size=4)
    assert eight["images"].shape[-1] == 8 and four["images"].shape[-1] == 4
    names = sorted(p.name for p in cdir.iterdir())
    assert len(names) == 2 and any("-8px-" in n for n in names) and any("-4px-" in n for n in names)
    reader.fail = True  # both sizes are now served from their own files
    for size, first in ((8, eight), (4, four)):
        again = load_split("imagefolder", tmp_path / "tree", True, cache_dir=cdir, image_size=size)
        assert torch.equal(again["images"], first["images"])
    assert reader.calls == 2


def test_native_size_keeps_its_cache_file_name(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path / "tree", {"a": 1, "b": 1})
    load_split("imagefolder", tmp_path / "tree", True, cache_dir=tmp_path / "c")
    (name,) = [p.name for p in (tmp_path / "c").iterdir()]
    assert name.startswith("imagefolder-") and name.endswith("-train.pt") and "px" not in name


def test_data_module_with_image_size(tmp_path: Path) -> None:
    mixed_tree(tmp_path)
    dm = RealDataModule("imagefolder", str(tmp_path), cache_dir=str(tmp_path / "c"), image_size=8)
    assert (dm.info.image_size, dm.info.channels, dm.info.num_classes) == (8, 3, 2)
    assert dm.real_batch(2).shape == (2, 2, 3, 8, 8)


@pytest.mark.parametrize(
    ("dataset", "size", "match"),
    [("digits", 8, "fixed image size"), ("imagefolder", 0, "positive")],
)
def test_image_size_is_checked_at_construction(dataset: str, size: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RealDataModule(dataset, image_size=size)


def test_hidden_files_and_folders_inside_classes_are_skipped(tmp_path: Path, make_tree) -> None:
    """macOS archives carry ``._name.png`` companions that are no images."""
    written = make_tree(tmp_path, {"a": 2, "b": 1})
    (tmp_path / "train" / "a" / "._000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    write_image(tmp_path / "train" / "b" / ".thumbs" / "x.png", np.zeros((3, 3), np.uint8))
    images, labels, _ = READERS["imagefolder"](tmp_path, True, False)
    assert labels.tolist() == [0, 0, 1]
    assert torch.equal(images, torch.from_numpy(written["train"]).permute(0, 3, 1, 2))
