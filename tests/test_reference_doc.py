"""docs/reference.md states the numbers the code keeps as data: one set of facts, not two."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's benchmarks/

from benchmarks.summary import PUBLISHED, WHOLE_SET  # noqa: E402
from dcl.data.registry import STATIC_INFO  # noqa: E402
from dcl.methods.dc import PUBLISHED_LOOPS  # noqa: E402
from dcl.methods.mtt.settings import PUBLISHED as MTT_PUBLISHED  # noqa: E402
from dcl.methods.mtt.settings import TESLA  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "reference.md"
NAMES = {
    "random real images": "random",
    "random": "random",
    "herding": "herding",
    "forgetting": "forgetting",
    "DC": "dc",
    "DSA": "dsa",
    "DM": "dm",
    "CIFAR-10": "cifar10",
    "CIFAR-100": "cifar100",
    "Tiny ImageNet": "tinyimagenet",
    "ImageNet-1K": "imagenet1k",
    "MNIST": "mnist",
    "FashionMNIST": "fashionmnist",
    "SVHN": "svhn",
}


def section(number: int) -> str:
    return DOC.read_text().split(f"\n## {number}. ", 1)[1].split("\n## ", 1)[0]


def rows(text: str) -> list[list[str]]:
    """The body rows of every Markdown table in ``text``, as stripped cells."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return [r for r in cells if not set("".join(r)) <= set("-") and r[0] not in ("method", "")]


def numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", cell)]


def test_the_dataset_statistics_are_the_registrys():
    for name, size, classes, mean, std in rows(section(1))[1:]:
        info = STATIC_INFO[NAMES[name]]
        assert numbers(size) == [info.channels, info.image_size]
        assert int(classes) == info.num_classes
        assert tuple(numbers(mean)) == info.mean and tuple(numbers(std)) == info.std


def test_the_published_accuracies_are_the_summarys():
    text = section(7)
    cifar10, others = rows(text.split("Means at")[0]), rows(text.split("Means at")[1])
    for method, *cells in cifar10:
        if method.split(" (")[0] in ("MTT", "DataDAM"):
            key = ("cifar10", method.split(" (")[0].lower())
            assert [PUBLISHED[key][i][0] for i in (1, 10, 50)] == [float(c) for c in cells]
            continue
        for ipc, cell in zip((1, 10, 50), cells, strict=True):
            assert PUBLISHED[("cifar10", NAMES[method])][ipc] == tuple(numbers(cell))
    assert f"whole training set: {WHOLE_SET['cifar10']}" in text
    methods = ["random", "herding", "dc", "dsa", "dm"]
    for dataset, *cells in others[1:]:
        name, whole = dataset.split(" (")
        assert float(whole.rstrip(")")) == WHOLE_SET[NAMES[name]]
        for method, cell in zip(methods, cells, strict=True):
            got = {i: v for i, v in zip((1, 10, 50), cell.split(" / "), strict=False) if v != "–"}
            want = PUBLISHED.get((NAMES[name], method), {})
            assert {i: (float(v), None) for i, v in got.items()} == want, (name, method)


def test_the_dc_loops_and_mtt_settings_are_the_codes():
    text = section(3)
    for ipc, loops in PUBLISHED_LOOPS.items():
        assert f"{ipc} → {loops}" in text.replace("\n", " ")
    mtt, tesla = section(10).split("**DataDAM**")[0].split("**TESLA**")
    for text, table in ((mtt, MTT_PUBLISHED), (tesla, TESLA)):
        found = rows(text)[1:]
        assert len(found) == len(table.rows)
        for dataset, *cells in found:
            name, ipc = dataset.split(", ")
            setting = table.setting(NAMES[name], int(ipc))
            steps, epochs, start, lr_img, lr_lr, lr, batch, zca = cells
            assert [int(steps), int(epochs), int(start)] == [
                setting["syn_steps"],
                setting["expert_epochs"],
                setting["max_start_epoch"],
            ]
            assert (float(lr_img), float(lr_lr), float(lr)) == pytest.approx(
                (setting["lr_img"], setting["lr_lr"], setting["lr_teacher"])
            )
            assert (None if batch == "all" else int(batch)) == setting["batch_syn"]
            assert (zca == "yes") == setting["zca"]
