"""SyntheticSet: validation, atomic single-file save/load, PNG grid and image-folder export."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcl.data import DatasetInfo, SyntheticSet

INFO = DatasetInfo("toy", 3, 4, 3, ("cat", "dog/wolf", "ant"), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
IPC = 2


def make_set(info: DatasetInfo = INFO, ipc: int = IPC, **kwargs) -> SyntheticSet:
    n = info.num_classes * ipc
    images = torch.randn(
        n,
        info.channels,
        info.image_size,
        info.image_size,
        generator=torch.Generator().manual_seed(0),
    )
    labels = torch.arange(info.num_classes).repeat_interleave(ipc)
    defaults = dict(method="dm", seed=4, step=100, backbone="ConvNet", config={"lr_img": 1.0})
    return SyntheticSet(images, labels, info, ipc, **{**defaults, **kwargs})


@pytest.fixture
def syn() -> SyntheticSet:
    return make_set()


def test_round_trip(tmp_path: Path, syn: SyntheticSet) -> None:
    path = syn.save(tmp_path / "sub" / "set.pt")
    back = SyntheticSet.load(path)
    assert torch.equal(back.images, syn.images) and torch.equal(back.labels, syn.labels)
    assert back.info == syn.info
    for field in ("ipc", "method", "seed", "step", "backbone", "config", "versions"):
        assert getattr(back, field) == getattr(syn, field), field
    assert set(back.versions) >= {"dcl", "torch", "torchvision", "lightning", "python"}


def test_round_trip_of_parameters_and_odd_config(tmp_path: Path) -> None:
    """Images held as a Parameter and config values torch refuses to unpickle still round-trip."""
    syn = make_set(config={"root": Path("/data"), "nested": {"ops": ("crop", "flip")}})
    syn.images = torch.nn.Parameter(syn.images.clone())
    back = SyntheticSet.load(syn.save(tmp_path / "set.pt"))
    assert not back.images.requires_grad and torch.equal(back.images, syn.images.detach())
    assert back.config == {"root": "/data", "nested": {"ops": ("crop", "flip")}}


def test_save_leaves_no_temporary_file(tmp_path: Path, syn: SyntheticSet) -> None:
    syn.save(tmp_path / "set.pt")
    syn.save(tmp_path / "set.pt")  # overwriting too
    assert os.listdir(tmp_path) == ["set.pt"]


def test_failed_save_keeps_the_existing_file(
    tmp_path: Path, syn: SyntheticSet, monkeypatch
) -> None:
    path = syn.save(tmp_path / "set.pt")
    real_save = torch.save

    def half_then_fail(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        Path(f).write_bytes(Path(f).read_bytes()[:100])  # half-written...
        raise OSError("no space left on device")  # ...then the disk fills up

    monkeypatch.setattr(torch, "save", half_then_fail)
    other = make_set(step=200)
    with pytest.raises(OSError, match="no space"):
        other.save(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["set.pt"]
    back = SyntheticSet.load(path)
    assert back.step == 100 and torch.equal(back.images, syn.images)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No synthetic set at"):
        SyntheticSet.load(tmp_path / "absent.pt")


def test_load_truncated_file(tmp_path: Path, syn: SyntheticSet) -> None:
    path = syn.save(tmp_path / "set.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable synthetic set") as err:
        SyntheticSet.load(path)
    assert str(path) in str(err.value)


def test_load_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="not a readable synthetic set"):
        SyntheticSet.load(path)


@pytest.mark.parametrize("obj", [{"a": 1}, torch.zeros(3), [1, 2]], ids=["dict", "tensor", "list"])
def test_load_foreign_torch_file(tmp_path: Path, obj) -> None:
    path = tmp_path / "foreign.pt"
    torch.save(obj, path)
    with pytest.raises(ValueError, match="not a dcl synthetic set"):
        SyntheticSet.load(path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("meta"),
        lambda d: d["meta"].pop("info"),
        lambda d: d["meta"].update(unknown_field=1),
        lambda d: d.update(images=d["images"][:-1]),
        lambda d: d.update(labels=d["labels"].flip(0)),
        lambda d: d["meta"]["info"].update(num_classes=4),
    ],
    ids=["no-meta", "no-info", "extra-field", "short-images", "label-order", "info-mismatch"],
)
def test_load_mismatched_file(tmp_path: Path, syn: SyntheticSet, damage) -> None:
    data = syn.to_dict()
    damage(data)
    path = tmp_path / "bad.pt"
    torch.save(data, path)
    with pytest.raises(ValueError, match="damaged or inconsistent") as err:
        SyntheticSet.load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(images=torch.zeros(6, 3, 5, 4)), "images have shape"),
        (dict(images=torch.zeros(5, 3, 4, 4)), "images have shape"),
        (dict(images=torch.zeros(6, 3, 4, 4, dtype=torch.uint8)), "floating point"),
        (dict(labels=torch.tensor([0, 1, 0, 1, 2, 2])), "per class in class order"),
        (dict(labels=torch.zeros(6, dtype=torch.long)), "per class in class order"),
        (dict(ipc=3), "images have shape"),
        (dict(ipc=0), "ipc must be >= 1"),
        (dict(info=dataclasses.replace(INFO, mean=(0.5,))), "one entry per channel"),
    ],
)
def test_mismatched_construction(syn: SyntheticSet, change: dict, message: str) -> None:
    fields = dict(images=syn.images, labels=syn.labels, info=syn.info, ipc=syn.ipc, method="dm")
    with pytest.raises(ValueError, match=message):
        SyntheticSet(**{**fields, **change})


def class_coloured(info: DatasetInfo = INFO, ipc: int = IPC) -> SyntheticSet:
    """Every image of class c is one flat colour: de-normalised value (c + 1) / 4 everywhere."""
    syn = make_set(info, ipc)
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    value = ((syn.labels.float() + 1) / 4).view(-1, 1, 1, 1).expand_as(syn.images)
    syn.images = (value - mean) / std
    return syn


def test_png_grid_has_one_row_per_class(tmp_path: Path) -> None:
    syn = class_coloured()
    scale, pad, side = 3, 2, INFO.image_size * 3
    path = syn.save_png(tmp_path / "png" / "grid.png", scale=scale)
    with Image.open(path) as img:
        assert img.size == (IPC * (side + pad) + pad, INFO.num_classes * (side + pad) + pad)
        pixels = np.asarray(img.convert("RGB"))
    for c in range(INFO.num_classes):
        for i in range(IPC):
            y, x = pad + c * (side + pad), pad + i * (side + pad)
            cell = pixels[y : y + side, x : x + side]
            assert (np.abs(cell.astype(int) - round(255 * (c + 1) / 4)) <= 1).all(), (c, i)
    assert (pixels[0] == 255).all()  # padding is white


def test_denormalized_is_clipped() -> None:
    syn = make_set()
    syn.images = syn.images * 100
    out = syn.denormalized()
    assert out.min() == 0 and out.max() == 1


def test_export_imagefolder_reads_back(tmp_path: Path) -> None:
    from torchvision.datasets import ImageFolder

    syn = class_coloured()
    folder = syn.export_imagefolder(tmp_path / "export")
    ds = ImageFolder(str(folder))
    assert len(ds) == INFO.num_classes * IPC and len(ds.classes) == INFO.num_classes
    assert ds.targets == syn.labels.tolist()  # ImageFolder's sorted classes keep label order
    assert [name.split("_", 1)[1] for name in ds.classes] == ["cat", "dog-wolf", "ant"]
    for (img, target), expected in zip(ds, syn.labels.tolist(), strict=True):
        pixels = np.asarray(img)
        assert pixels.shape == (4, 4, 3) and target == expected
        assert (np.abs(pixels.astype(int) - round(255 * (expected + 1) / 4)) <= 1).all()


def test_export_keeps_label_order_beyond_a_thousand_classes(tmp_path: Path, monkeypatch) -> None:
    import torchvision.utils

    monkeypatch.setattr(torchvision.utils, "save_image", lambda image, path: Path(path).touch())
    info = DatasetInfo("many", 1, 2, 1001, (), (0.5,), (0.5,))
    folder = make_set(info, ipc=1).export_imagefolder(tmp_path / "export")
    names = sorted(os.listdir(folder))
    assert names[0] == "0000_0" and names[-1] == "1000_1000" and len(names) == 1001


def test_export_grayscale(tmp_path: Path) -> None:
    from torchvision.datasets import ImageFolder

    info = DatasetInfo("gray", 1, 4, 2, ("a", "b"), (0.5,), (0.5,))
    ds = ImageFolder(str(make_set(info, ipc=3).export_imagefolder(tmp_path / "export")))
    assert len(ds) == 6 and ds.targets == [0, 0, 0, 1, 1, 1]


def test_grid_is_capped_and_reads_only_the_images_it_shows() -> None:
    from torch.profiler import ProfilerActivity, profile

    from dcl.data.synthetic import GRID_CLASSES, GRID_PER_CLASS, image_grid

    # TinyImageNet-shaped, 50 images per class: 491 MB of float32 if it were materialised.
    info = DatasetInfo("tinyimagenet", 3, 64, 200, (), (0.5,) * 3, (0.25,) * 3)
    images = torch.zeros(1, 3, 64, 64).expand(200 * 50, 3, 64, 64)  # no memory behind it
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        grid = image_grid(images, info, 50)
    allocated = sum(max(e.self_cpu_memory_usage, 0) for e in prof.key_averages())
    side = 64 * 2 + 2  # upscaled x2 to 128 pixels, plus padding
    assert grid.shape == (3, GRID_CLASSES * side + 2, GRID_PER_CLASS * side + 2)
    # Bounded: about 66 MB measured (the 100 shown images, upscaled, and the grid), where the
    # whole set would be 491 MB before any upscaling.
    assert allocated < 128e6
    # Small sets show everything, one row per class, in class order.
    syn = class_coloured()
    assert torch.equal(syn.grid(scale=1), image_grid(syn.images, syn.info, syn.ipc, scale=1))
