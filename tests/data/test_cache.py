"""Split cache: served when sound, rebuilt (with a warning) when corrupt, stale or foreign."""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import dcl.data.cache as cache
from dcl.data import load_split
from dcl.data.cache import CACHE_FORMAT, channel_stats, checksum, save_atomic
from dcl.data.registry import READERS

from .conftest import write_image


class CountingReader:
    """Wraps a reader, counting calls; ``fail=True`` makes any further call an error."""

    def __init__(self, name: str) -> None:
        self.inner, self.calls, self.fail = READERS[name], 0, False

    def __call__(self, root: Path, train: bool, download: bool):
        if self.fail:
            raise AssertionError("the source was read again although the cache is valid")
        self.calls += 1
        return self.inner(root, train, download)


@pytest.fixture
def digits_reader(monkeypatch: pytest.MonkeyPatch) -> CountingReader:
    reader = CountingReader("digits")
    monkeypatch.setitem(READERS, "digits", reader)
    return reader


@pytest.fixture
def folder_reader(monkeypatch: pytest.MonkeyPatch) -> CountingReader:
    reader = CountingReader("imagefolder")
    monkeypatch.setitem(READERS, "imagefolder", reader)
    return reader


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def assert_same(a: dict, b: dict) -> None:
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["labels"], b["labels"])
    assert a["class_names"] == b["class_names"]


def test_second_load_comes_from_cache(tmp_path: Path, digits_reader: CountingReader) -> None:
    first = load_split("digits", tmp_path, True, cache_dir=tmp_path / "c")
    assert digits_reader.calls == 1
    digits_reader.fail = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sound cache loads silently
        second = load_split("digits", tmp_path, True, cache_dir=tmp_path / "c")
    assert_same(first, second)
    assert second["mean"] == first["mean"]


def test_digits_cache_ignores_the_root(tmp_path: Path, digits_reader: CountingReader) -> None:
    load_split("digits", tmp_path / "a", False, cache_dir=tmp_path / "c")
    digits_reader.fail = True
    load_split("digits", tmp_path / "b", False, cache_dir=tmp_path / "c")


def test_splits_get_separate_files(tmp_path: Path) -> None:
    train = load_split("digits", tmp_path, True, cache_dir=tmp_path / "c")
    test = load_split("digits", tmp_path, False, cache_dir=tmp_path / "c")
    assert len(cache_files(tmp_path / "c")) == 2
    assert len(train["labels"]) == 1258 and len(test["labels"]) == 539


def corrupt_garbage(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def corrupt_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_empty(path: Path) -> None:
    path.write_bytes(b"")


def corrupt_pixels(path: Path) -> None:
    """Flip one byte inside the stored pixels: the file still loads, only a checksum can tell."""
    entry = torch.load(path, weights_only=True)
    data = bytearray(path.read_bytes())
    needle = entry["images"].numpy().tobytes()[4096 : 4096 + 64]
    at = data.find(needle)
    assert at > 0
    data[at + 10] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "corrupt", [corrupt_garbage, corrupt_truncate, corrupt_empty, corrupt_pixels]
)
def test_corrupt_cache_is_rebuilt_with_a_warning(tmp_path: Path, corrupt, digits_reader) -> None:
    good = load_split("digits", tmp_path, True, cache_dir=tmp_path / "c")
    (path,) = cache_files(tmp_path / "c")
    corrupt(path)
    with pytest.warns(UserWarning, match=f"Rebuilding cache file '{path}'"):
        again = load_split("digits", tmp_path, True, cache_dir=tmp_path / "c")
    assert_same(good, again)
    assert digits_reader.calls == 2
    digits_reader.fail = True  # the rebuilt file is sound again
    assert_same(good, load_split("digits", tmp_path, True, cache_dir=tmp_path / "c"))


def rewrite(path: Path, **changes) -> None:
    """Rewrite a cache entry with ``changes``, keeping its checksum consistent."""
    entry = torch.load(path, weights_only=True)
    entry.update(changes)
    entry["checksum"] = checksum(entry["images"], entry["labels"])
    torch.save(entry, path)


@pytest.mark.parametrize(
    "changes",
    [
        {"format": "dcl-split-v1"},
        {"images": torch.zeros(1258, 1, 9, 9, dtype=torch.uint8)},  # not digits' shape
        {"images": torch.zeros(1258, 1, 8, 8, dtype=torch.float32)},
        {"labels": torch.zeros(5, dtype=torch.int64)},
        {"labels": torch.full((1258,), 10, dtype=torch.int64)},  # beyond the class names
        {"mean": ()},
    ],
    ids=["old-format", "shape", "dtype", "label-count", "label-range", "no-stats"],
)
def test_mismatched_cache_is_not_served(tmp_path: Path, changes: dict, digits_reader) -> None:
    good = load_split("digits", tmp_path, True, cache_dir=tmp_path / "c")
    (path,) = cache_files(tmp_path / "c")
    rewrite(path, **changes)
    with pytest.warns(UserWarning, match="Rebuilding"):
        assert_same(good, load_split("digits", tmp_path, True, cache_dir=tmp_path / "c"))


def test_cache_written_for_another_root_is_not_served(
    tmp_path: Path, make_tree, folder_reader: CountingReader
) -> None:
    make_tree(tmp_path / "a", {"x": 2, "y": 1}, seed=1)
    make_tree(tmp_path / "b", {"x": 1, "y": 3}, seed=2)
    cdir = tmp_path / "c"
    a = load_split("imagefolder", tmp_path / "a", True, cache_dir=cdir)
    b = load_split("imagefolder", tmp_path / "b", True, cache_dir=cdir)
    path_a, path_b = cache_files(cdir)
    if torch.load(path_a, weights_only=True)["key"]["root"] != str((tmp_path / "a").resolve()):
        path_a, path_b = path_b, path_a
    shutil.copyfile(path_a, path_b)  # b's cache file now holds a's data
    with pytest.warns(UserWarning, match="written for another root"):
        again = load_split("imagefolder", tmp_path / "b", True, cache_dir=cdir)
    assert_same(b, again)
    assert not torch.equal(again["labels"].bincount(), a["labels"].bincount())


@pytest.mark.parametrize("edit", ["add", "remove", "add-nested", "rename", "test-split"])
def test_editing_the_image_folder_invalidates_the_cache(
    tmp_path: Path, make_tree, edit: str, folder_reader: CountingReader
) -> None:
    make_tree(tmp_path, {"a": 2, "b": 2})
    before = load_split("imagefolder", tmp_path, True, cache_dir=tmp_path / "c")
    time.sleep(0.01)  # let folder modification times move on coarse clocks
    pixels = np.full((8, 8, 3), 7, np.uint8)
    expected = {"add": 5, "remove": 3, "add-nested": 5, "rename": 4, "test-split": 4}[edit]
    if edit == "add":
        write_image(tmp_path / "train" / "a" / "new.png", pixels)
    elif edit == "remove":
        (tmp_path / "train" / "b" / "000.png").unlink()
    elif edit == "add-nested":
        write_image(tmp_path / "train" / "b" / "deeper" / "new.png", pixels)
    elif edit == "rename":  # moves one image from class a to class b
        os.replace(tmp_path / "train" / "a" / "000.png", tmp_path / "train" / "b" / "zzz.png")
    else:
        write_image(tmp_path / "test" / "a" / "new.png", pixels)
    with pytest.warns(UserWarning, match="Rebuilding"):
        after = load_split("imagefolder", tmp_path, True, cache_dir=tmp_path / "c")
    assert folder_reader.calls == 2
    assert len(after["labels"]) == expected
    if edit == "rename":
        assert after["labels"].tolist() == [0, 1, 1, 1] != before["labels"].tolist()


def test_atomic_save_leaves_no_temporary_files(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path, {"a": 1, "b": 1})
    for train in (True, False):
        load_split("imagefolder", tmp_path, train, cache_dir=tmp_path / "c")
        load_split("digits", tmp_path, train, cache_dir=tmp_path / "c")
    names = [p.name for p in cache_files(tmp_path / "c")]
    assert len(names) == 4 and all(n.endswith(".pt") and not n.startswith(".") for n in names)


def test_failed_save_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.pt"
    save_atomic({"v": 1}, path)
    real_save = torch.save

    def half_then_fail(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        Path(f).write_bytes(Path(f).read_bytes()[:10])
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"v": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]


def test_unwritable_cache_still_returns_data(tmp_path: Path, monkeypatch) -> None:
    def refuse(obj: object, path: Path) -> None:
        raise PermissionError(f"read-only: {path}")

    monkeypatch.setattr(cache, "save_atomic", refuse)
    with pytest.warns(UserWarning, match="Could not write cache file"):
        entry = load_split("digits", tmp_path, False, cache_dir=tmp_path / "c")
    assert len(entry["labels"]) == 539


def test_entry_layout(tmp_path: Path) -> None:
    entry = load_split("digits", tmp_path, True, cache_dir=tmp_path / "c")
    assert entry["format"] == CACHE_FORMAT
    assert entry["images"].dtype == torch.uint8 and entry["images"].is_contiguous()
    assert entry["labels"].dtype == torch.int64
    assert entry["checksum"] == checksum(entry["images"], entry["labels"])


def test_default_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DCL_CACHE_DIR", str(tmp_path / "env"))
    load_split("digits", tmp_path, False)
    assert [p.name for p in (tmp_path / "env").iterdir()] == ["digits-bundled-test.pt"]


def test_channel_stats_match_numpy() -> None:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (9000, 3, 5, 4), dtype=np.uint8)  # > one 4096-image chunk
    images[:, 2] //= 4  # give the channels different statistics
    mean, std = channel_stats(torch.from_numpy(images))
    ref = images.transpose(1, 0, 2, 3).reshape(3, -1) / 255.0
    np.testing.assert_allclose(mean, ref.mean(1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(std, ref.std(1), rtol=0, atol=1e-12)
