"""ClassImages: class-sorted uint8 storage, on-the-fly normalisation, class-balanced sampling."""

from __future__ import annotations

import pytest
import torch

from dcl.data import ClassImages, DatasetInfo

COUNTS = (5, 3, 7)  # deliberately unbalanced
INFO = DatasetInfo("toy", 2, 3, 3, ("ant", "bee", "cat"), (0.5, 0.25), (0.2, 0.4))


def make_images(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffled images whose first pixel holds the image's own id and second its label."""
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(COUNTS)])
    n = len(labels)
    images = torch.randint(0, 256, (n, 2, 3, 3), generator=torch.Generator().manual_seed(seed))
    images[:, 0, 0, 0] = torch.arange(n)
    images[:, 0, 0, 1] = labels
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    return images[order].to(torch.uint8), labels[order]


@pytest.fixture
def data() -> ClassImages:
    return ClassImages(*make_images(), INFO)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sorted_by_class_with_counts_and_offsets(data: ClassImages) -> None:
    assert data.labels.tolist() == sorted(data.labels.tolist())
    assert data.counts.tolist() == list(COUNTS) and data.offsets.tolist() == [0, 5, 8]
    assert len(data) == sum(COUNTS)
    assert torch.equal(data.images[:, 0, 0, 1].long(), data.labels)
    for c in range(3):
        assert (data.labels[data.class_indices(c)] == c).all()


def test_sample_shape_dtype(data: ClassImages) -> None:
    batch = data.sample(3, gen(0))
    assert batch.shape == (3, 3, 2, 3, 3) and batch.dtype == torch.float32


def test_sampled_images_are_distinct_and_of_their_class(data: ClassImages) -> None:
    for seed in range(20):
        idx = data.sample_indices(3, gen(seed))
        assert idx.shape == (3, 3)
        for c, row in enumerate(idx):
            assert len(set(row.tolist())) == 3  # without replacement within a batch
            assert (data.labels[row] == c).all()
        batch = data.sample(3, gen(seed))
        assert torch.equal(batch, data.normalize(data.images[idx]))
        ids_in_pixels = data.images[idx][:, :, 0, 0, 0].long()  # the ids drawn, read from pixels
        assert len(set(ids_in_pixels.flatten().tolist())) == 9


def test_n_equal_to_the_whole_class_takes_every_image(data: ClassImages) -> None:
    idx = data.sample_indices(3, gen(0), torch.tensor([1]))
    assert sorted(idx[0].tolist()) == data.class_indices(1).tolist()


def test_class_subset(data: ClassImages) -> None:
    classes = torch.tensor([2, 0])
    idx = data.sample_indices(5, gen(4), classes)  # class 1 has only 3, but is not asked for
    assert idx.shape == (2, 5)
    assert (data.labels[idx[0]] == 2).all() and (data.labels[idx[1]] == 0).all()
    assert data.sample(5, gen(4), classes).shape == (2, 5, 2, 3, 3)


def test_a_class_draw_does_not_depend_on_the_other_classes_asked_for(data: ClassImages) -> None:
    full = data.sample_indices(2, gen(9))
    for classes in ([1], [2, 0], [0, 1, 2]):
        part = data.sample_indices(2, gen(9), torch.tensor(classes))
        assert torch.equal(part, full[classes])


def test_too_many_per_class_names_the_class_and_the_maximum(data: ClassImages) -> None:
    with pytest.raises(ValueError, match=r"4 images per class.*class 1 \('bee'\).*at most 3"):
        data.sample(4, gen(0))
    with pytest.raises(ValueError, match=r"class 0 \('ant'\).*at most 5"):
        data.sample_indices(6, gen(0), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"batch_real.*at most 3"):
        data.check_per_class(10, "real images per class (batch_real)")


def test_invalid_requests(data: ClassImages) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        data.sample(0, gen(0))
    with pytest.raises(ValueError, match="out of range"):
        data.sample(1, gen(0), torch.tensor([0, 3]))


def test_normalize_matches_the_plain_formula(data: ClassImages) -> None:
    x = data.images
    mean = torch.tensor(INFO.mean).view(1, 2, 1, 1)
    std = torch.tensor(INFO.std).view(1, 2, 1, 1)
    plain = (x.double() / 255 - mean.double()) / std.double()
    torch.testing.assert_close(data.normalize(x).double(), plain, rtol=0, atol=1e-5)
    batched = data.normalize(x.view(3, 5, 2, 3, 3))  # any leading shape
    torch.testing.assert_close(batched.view_as(plain).double(), plain, rtol=0, atol=1e-5)


def test_same_seed_same_sample_other_seed_other_sample(data: ClassImages) -> None:
    assert torch.equal(data.sample(2, gen(5)), data.sample(2, gen(5)))
    draws = {tuple(data.sample_indices(2, gen(s)).flatten().tolist()) for s in range(10)}
    assert len(draws) > 5


def test_draws_reach_every_image_and_are_roughly_uniform(data: ClassImages) -> None:
    g = gen(0)
    hits = torch.zeros(len(data), dtype=torch.long)
    draws = 1400
    for _ in range(draws):
        hits += torch.bincount(data.sample_indices(2, g).flatten(), minlength=len(data))
    for c, n in enumerate(COUNTS):
        class_hits = hits[data.class_indices(c)].double()
        assert (class_hits > 0).all(), f"class {c}: some slot never drawn"
        expected = draws * 2 / n
        assert ((class_hits - expected).abs() < 0.2 * expected).all(), (c, class_hits, expected)


def test_to_moves_everything(data: ClassImages) -> None:
    moved = data.to("cpu")
    assert moved is data and data.device == torch.device("cpu")
    assert data.sample(1, gen(0)).device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sampling_on_cuda_matches_layout(data: ClassImages) -> None:
    data.to("cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    idx = data.sample_indices(3, g)
    assert idx.device.type == "cuda"
    assert (data.labels[idx] == torch.arange(3, device="cuda")[:, None]).all()
    assert data.sample(3, g).device.type == "cuda"
