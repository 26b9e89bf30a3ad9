import pytest
import torch

from dcl.baselines import (
    BASELINES,
    canonical_method,
    embed_all,
    herding,
    load_extractor,
    random_real_set,
    save_extractor,
    select_baseline,
    select_indices,
    train_feature_extractor,
)
from dcl.data import ClassImages, DatasetInfo, SyntheticSet, load_real

COUNTS = (9, 7, 6)  # smallest class: 6 images
INFO = DatasetInfo("toy", 1, 8, 3, ("a", "b", "c"), (0.5,), (0.25,))


@pytest.fixture(scope="module")
def raw():
    g = torch.Generator().manual_seed(0)
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(COUNTS)])
    labels = labels[torch.randperm(len(labels), generator=g)]  # unsorted, as read from disk
    images = torch.randint(0, 256, (len(labels), 1, 8, 8), generator=g, dtype=torch.uint8)
    return images, labels


@pytest.fixture(scope="module")
def toy(raw):
    return ClassImages(*raw, INFO)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    train, _ = load_real("digits", cache_dir=str(tmp_path_factory.mktemp("cache")))
    return train


def check_set(s: SyntheticSet, raw, toy: ClassImages, method: str, ipc: int) -> None:
    images, labels = raw
    assert s.method == method and s.ipc == ipc
    assert s.images.shape == (3 * ipc, 1, 8, 8) and s.images.dtype == torch.float32
    assert s.labels.tolist() == [c for c in range(3) for _ in range(ipc)]
    assert isinstance(s.config["feature_extractor"], str)
    for c in range(3):
        originals = toy.normalize(images[labels == c])  # this class's images, straight from raw
        picked = s.images[s.labels == c]
        same = (picked[:, None] == originals[None]).flatten(2).all(-1)  # (ipc, n_c)
        assert same.any(1).all(), f"an image of class {c} is not an original of class {c}"
        assert len(torch.unique(picked.flatten(1), dim=0)) == ipc, "repeated image"


@pytest.mark.parametrize("method", BASELINES)
def test_each_baseline_selects_right_images(method, raw, toy):
    ipc = 3
    indices, config = select_indices(method, toy, ipc, seed=0, extractor_epochs=2)
    assert indices.shape == (3, ipc)
    for c in range(3):
        assert len(set(indices[c].tolist())) == ipc
        assert (toy.labels[indices[c]] == c).all()
    s = select_baseline(method, toy, ipc, seed=0, extractor_epochs=2)
    check_set(s, raw, toy, method, ipc)
    # Two independent runs with the same seed pick the same images.
    assert torch.equal(s.images, toy.normalize(toy.images[indices.flatten()]))
    assert s.config == config


def test_random_depends_on_seed_and_uses_whole_class(toy):
    sets = [random_real_set(toy, 2, seed=s) for s in range(6)]
    assert len({tuple(s.images.flatten().tolist()) for s in sets}) > 1
    assert sets[0].config["feature_extractor"] == "none"
    whole = random_real_set(toy, 6, seed=1)  # all of the smallest class
    assert sorted(whole.images[whole.labels == 2].flatten(1).tolist()) == sorted(
        toy.normalize(toy.images[toy.labels == 2]).flatten(1).tolist()
    )


@pytest.mark.parametrize("method", BASELINES)
def test_ipc_larger_than_a_class(method, toy):
    with pytest.raises(ValueError, match="class 2"):
        select_baseline(method, toy, 7, extractor_epochs=1)


def test_unknown_method_and_spellings(toy):
    with pytest.raises(ValueError, match="random, herding, kcenter, forgetting"):
        select_baseline("coreset", toy, 1)
    for spelling in ("k-center", "k_center", "kcenter", "K-Center"):
        assert canonical_method(spelling) == "kcenter"
    s = select_baseline("k-center", toy, 1, extractor_epochs=1)
    assert s.method == "kcenter"


def test_extractor_round_trip_and_mismatch(tmp_path, toy):
    net, record = train_feature_extractor(toy, epochs=2, seed=1, track_forgetting=True)
    assert record.shape == (2, len(toy)) and record.dtype == torch.bool
    path = save_extractor(
        net,
        tmp_path / "ext.pt",
        backbone="ConvNet",
        dataset="toy",
        epochs=2,
        seed=1,
        forgetting=record,
    )
    loaded, meta = load_extractor(path, toy)
    assert (
        meta["epochs"] == 2 and meta["dataset"] == "toy" and torch.equal(meta["forgetting"], record)
    )
    feats = embed_all(net, toy)
    assert torch.equal(embed_all(loaded, toy), feats)
    # Herding from the loaded file = herding on that network's features.
    idx, config = select_indices("herding", toy, 2, extractor_path=path)
    for c in range(3):
        a = int(toy.offsets[c])
        expected = herding(feats[a : a + COUNTS[c]], 2) + a
        assert idx[c].tolist() == expected.tolist()
    assert str(path) in config["feature_extractor"] and config["extractor_epochs"] == 2
    select_baseline("forgetting", toy, 2, extractor_path=path)  # record travels with the file

    with pytest.raises(ValueError, match="ConvNetBN"):
        load_extractor(path, toy, backbone="ConvNetBN")
    other = ClassImages(toy.images, toy.labels, DatasetInfo("other", 1, 8, 3, (), (0.5,), (0.25,)))
    with pytest.raises(ValueError, match="trained on toy"):
        load_extractor(path, other)
    bare = save_extractor(net, tmp_path / "bare.pt", backbone="ConvNet", dataset="toy", epochs=2)
    with pytest.raises(ValueError, match="no forgetting record"):
        select_baseline("forgetting", toy, 2, extractor_path=bare)
    with pytest.raises(FileNotFoundError):
        load_extractor(tmp_path / "missing.pt", toy)


def test_digits_random_and_herding(digits):
    a = random_real_set(digits, 2, seed=3)
    assert torch.equal(a.images, random_real_set(digits, 2, seed=3).images)
    assert a.method == "random" and a.info.name == "digits" and a.labels.shape == (20,)
    h = select_baseline("herding", digits, 1, extractor_epochs=1)
    assert h.method == "herding" and h.images.shape == (10, 1, 8, 8)
    assert "digits" in h.config["feature_extractor"]
