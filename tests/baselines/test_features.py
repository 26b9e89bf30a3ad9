import pytest
import torch
import torch.nn.functional as F

from dcl.baselines import embed_all, train_feature_extractor
from dcl.data import ClassImages, DatasetInfo
from dcl.networks import build_network
from dcl.seeding import NETWORK, REAL, generator, step_seed

INFO = DatasetInfo("toy", 1, 8, 3, ("a", "b", "c"), (0.5,), (0.25,))


@pytest.fixture(scope="module")
def toy():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(8)
    images = torch.randint(0, 256, (len(labels), 1, 8, 8), generator=g, dtype=torch.uint8)
    return ClassImages(images, labels, INFO)


def plain_loop(train, epochs, batch_size, seed):
    """The extractor's training as a bare PyTorch loop: same seeds, SGD, schedule and record."""
    net = build_network("ConvNet", 1, 3, 8, generator=generator(step_seed(seed, 0, 0, NETWORK)))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[max(epochs // 2, 1)], gamma=0.1)
    shuffle = generator(step_seed(seed, 0, 0, REAL))
    record = torch.zeros(epochs, len(train), dtype=torch.bool)
    for epoch in range(epochs):
        order = torch.randperm(len(train), generator=shuffle)
        for start in range(0, len(train), batch_size):
            idx = order[start : start + batch_size]
            logits = net(train.normalize(train.images[idx]))
            loss = F.cross_entropy(logits, train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            record[epoch, idx] = logits.argmax(1) == train.labels[idx]
        sched.step()
    return net, record


def weights(net):
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.numerics
def test_fabric_loop_at_full_precision_is_the_plain_loop(toy):
    net, record = train_feature_extractor(
        toy, epochs=3, batch_size=5, seed=2, track_forgetting=True
    )
    ref, ref_record = plain_loop(toy, epochs=3, batch_size=5, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(weights(net), weights(ref), strict=True))
    assert torch.equal(record, ref_record)
    assert not net.training


def test_bf16_mixed_on_cpu_is_reproducible_and_gives_finite_features(toy):
    runs = [
        train_feature_extractor(toy, epochs=1, batch_size=8, seed=3, precision="bf16-mixed")[0]
        for _ in range(2)
    ]
    assert all(torch.equal(a, b) for a, b in zip(*map(weights, runs), strict=True))
    full = train_feature_extractor(toy, epochs=1, batch_size=8, seed=3)[0]
    # bf16 autocast really ran: the same steps at full precision end elsewhere.
    assert any(not torch.equal(a, b) for a, b in zip(weights(runs[0]), weights(full), strict=True))
    assert all(p.dtype == torch.float32 for p in runs[0].parameters())
    feats = embed_all(runs[0], toy)
    assert feats.shape == (len(toy), 128 * 1 * 1) and feats.dtype == torch.float32
    assert torch.isfinite(feats).all()


def test_precisions_that_convert_the_weights_are_refused(toy):
    with pytest.raises(ValueError, match="bf16-true.*32-true, 16-mixed, bf16-mixed"):
        train_feature_extractor(toy, epochs=1, precision="bf16-true")


class SpyBar:
    """Stands in for ``tqdm``: records the bar's total, label and progress at each epoch's end."""

    made: list["SpyBar"] = []

    def __init__(self, total, desc, disable, unit):
        self.total, self.desc, self.unit, self.n, self.at_epoch_end = total, desc, unit, 0, []
        SpyBar.made.append(self)

    def update(self, k):
        self.n += k

    def set_postfix_str(self, text):
        self.at_epoch_end.append((self.n, text))

    def close(self):
        pass


def test_progress_bar_advances_per_minibatch_and_names_the_purpose(toy, monkeypatch):
    # A CIFAR teacher epoch takes minutes on one core: a bar counting epochs sat at 0/2 that long.
    monkeypatch.setattr("dcl.baselines.features.tqdm", SpyBar)
    SpyBar.made.clear()
    train_feature_extractor(toy, epochs=2, batch_size=5, verbose=True, purpose="teacher")
    (bar,) = SpyBar.made
    assert bar.desc == "training ConvNet teacher" and bar.unit == "batch"
    assert bar.total == 2 * 5  # 24 images in batches of 5: 5 per epoch
    assert bar.at_epoch_end == [(5, "epoch 1/2"), (10, "epoch 2/2")]
