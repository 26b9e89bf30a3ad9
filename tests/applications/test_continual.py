import json

import lightning as L
import pytest
import torch
from PIL import Image

from dcl.applications.cli import load_splits
from dcl.applications.condense import class_subset, condense_dm
from dcl.applications.continual import (
    ContinualSettings,
    build_memory,
    canonical,
    class_orders,
    run_order,
    split_steps,
)
from dcl.applications.continual_cli import continual_main, continual_parser
from dcl.data import RealDataModule
from dcl.synthesis import SynthesisModule

TINY = ContinualSettings(ipc=2, dm_iterations=2, batch_real=8, epochs=2, extractor_epochs=1)


def test_class_orders_are_seeded_permutations():
    a, b = class_orders(10, 3, seed=0), class_orders(10, 3, seed=0)
    assert a == b
    assert all(sorted(o) == list(range(10)) for o in a)
    assert len({tuple(o) for o in a}) == 3  # orders differ from each other
    assert class_orders(10, 3, seed=1) != a
    assert class_orders(10, 2, seed=0) == a[:2]  # order i does not depend on how many are drawn


def test_split_steps():
    assert split_steps([4, 2, 0, 1, 3, 5], 3) == [[4, 2], [0, 1], [3, 5]]
    assert split_steps(list(range(10)), 2, 3) == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="cannot split"):
        split_steps(list(range(10)), 4, 3)
    assert canonical("DM") == "dm" and canonical("Herding") == "herding"
    with pytest.raises(ValueError, match="Known"):
        canonical("dsa")


def test_class_subset_relabels_or_keeps_global_labels(digits):
    train, _ = digits
    view = class_subset(train, [7, 2])
    assert view.info.num_classes == 2 and view.info.class_names == ("7", "2")
    assert view.counts.tolist() == [int(train.counts[7]), int(train.counts[2])]
    assert torch.equal(view.images[: int(view.counts[0])], train.images[train.class_indices(7)])
    kept = class_subset(train, [7, 2], relabel=False)
    assert kept.info == train.info and set(kept.labels.tolist()) == {2, 7}


def test_condense_dm_reproduces_the_synthesis_module(tmp_path, digits, digits_cache):
    L.seed_everything(3, verbose=False)
    data = RealDataModule("digits", cache_dir=str(digits_cache))
    model = SynthesisModule(data.info, method="dm", ipc=2, batch_real=8, image_log_every_n_steps=0)
    trainer = L.Trainer(
        max_steps=3,
        accelerator="cpu",
        devices=1,
        default_root_dir=str(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, data)
    syn = condense_dm(digits[0], 2, 3, batch_real=8, seed=3)
    assert torch.equal(syn.images, model.images.detach().cpu())
    assert syn.step == 3 and syn.method == "dm"


@pytest.mark.parametrize("method", ["dm", "herding", "random"])
def test_memory_holds_seen_classes_only_and_tests_on_seen_classes(digits, method):
    train, test = digits
    steps = split_steps(class_orders(10, 1, seed=4)[0], 3, 2)
    results = run_order(method, train, test, steps, TINY)
    seen: list[int] = []
    for t, r in enumerate(results):
        seen += steps[t]
        assert r.new_classes == steps[t] and r.seen_classes == seen
        labels = r.memory_labels.tolist()
        assert set(labels) == set(seen)  # memory only ever holds seen classes, all of them
        assert all(labels.count(c) == TINY.ipc for c in seen)
        assert r.test_classes == sorted(seen)
        assert r.test_size == sum(int(test.counts[c]) for c in seen)
        assert 0.0 <= r.accuracy <= 100.0


@pytest.mark.parametrize("method", ["random", "herding"])
def test_selected_memory_images_are_real_images_of_their_global_class(digits, method):
    train, _ = digits
    images, labels = build_memory(method, train, [3, 8], TINY, seed=0)
    assert labels.tolist() == [3, 3, 8, 8]
    for image, label in zip(images, labels.tolist(), strict=True):
        real = train.normalize(train.images[train.class_indices(label)])
        assert (real - image).abs().flatten(1).amax(1).min() < 1e-6


def test_continual_command_writes_json_png_and_tensorboard(tmp_path, digits_cache):
    out = tmp_path / "cl"
    args = ["--cache_dir", str(digits_cache), "--device", "cpu", "--output", str(out)]
    args += ["--steps", "2", "--classes_per_step", "2", "--ipc", "2", "--orders", "2"]
    args += ["--dm_iterations", "2", "--batch_real", "8", "--epochs", "1"]
    args += ["--methods", "dm,random", "--tensorboard", str(out / "tb")]
    document = continual_main(args)
    saved = json.loads((out / "continual.json").read_text())
    assert saved == json.loads(json.dumps(document))
    assert saved["classes_seen"] == [2, 4]
    assert len(saved["class_orders"]) == 2 and len(saved["steps"]) == 2
    assert set(saved["methods"]) == {"dm", "random"}
    for result in saved["methods"].values():
        assert len(result["accuracy"]) == 2 and all(len(a) == 2 for a in result["accuracy"])
        assert len(result["mean"]) == len(result["std"]) == 2
        assert {"final", "average", "memory_time_s", "train_time_s"} <= set(result)
    assert saved["settings"]["ipc"] == 2 and "version" in saved
    with Image.open(out / "continual.png") as image:
        assert image.format == "PNG"
    assert list((out / "tb").glob("events.out.tfevents.*"))


def test_train_per_class_keeps_a_seeded_class_balanced_subset(digits_cache, digits):
    args = ["--cache_dir", str(digits_cache), "--train_per_class", "5", "--seed", "3"]
    train, test = load_splits(continual_parser().parse_args(args), torch.device("cpu"))
    again, _ = load_splits(continual_parser().parse_args(args), torch.device("cpu"))
    full_train, full_test = digits
    assert train.counts.tolist() == [5] * 10
    assert torch.equal(train.images, again.images)
    assert len(test) == len(full_test)  # the test set stays whole
    for image, label in zip(train.images, train.labels.tolist(), strict=True):
        members = full_train.images[full_train.class_indices(label)]
        assert (members == image).flatten(1).all(1).any()


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="ipc must be at least 1"):
        ContinualSettings(ipc=0)
    with pytest.raises(ValueError, match="augment"):
        ContinualSettings(augment="flip")


@pytest.mark.parametrize(("value", "message"), [("0", "ask for at least 1"), ("500", "at most")])
def test_bad_train_per_class_says_what_to_ask_for(digits_cache, capsys, value, message):
    args = ["--cache_dir", str(digits_cache), "--train_per_class", value, "--output", "unused"]
    with pytest.raises(SystemExit):
        continual_main(args)
    err = capsys.readouterr().err
    assert "--train_per_class" in err and message in err
