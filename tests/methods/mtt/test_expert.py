"""One expert: its recorded trajectory is the obvious training loop's, under a Trainer or not."""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from dcl.augmentation import DSA
from dcl.methods.mtt import ExpertTraining, expert_seed, training_tensors
from dcl.networks import build_network
from dcl.seeding import AUGMENT, NETWORK, REAL, generator, step_seed
from tests.methods.mtt.conftest import SETTINGS


def reference_trajectory(images, labels, expert: int) -> torch.Tensor:
    """The release's expert loop written out: SGD over seeded shuffles, DSA on every batch."""
    s, seed = SETTINGS, expert_seed(SETTINGS.seed, expert)
    net = build_network(s.network, 1, 3, 8, generator=generator(step_seed(seed, 0, 0, NETWORK)))
    sgd = torch.optim.SGD(net.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=0.0)
    dsa = DSA(s.dsa_strategy)
    rows = [torch.cat([p.detach().flatten() for p in net.parameters()])]
    for epoch in range(s.epochs):
        order = torch.randperm(len(labels), generator=generator(step_seed(seed, 0, epoch, REAL)))
        draws = generator(step_seed(seed, 0, epoch, AUGMENT))
        for start in range(0, len(labels), s.batch_size):
            idx = order[start : start + s.batch_size]
            loss = F.cross_entropy(net(dsa.per_image(images[idx], draws)), labels[idx])
            sgd.zero_grad()
            loss.backward()
            sgd.step()
        rows.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    return torch.stack(rows)


def test_the_recorded_epochs_are_the_plain_loops(data):
    images, labels = training_tensors(data, torch.device("cpu"))
    train = data.train
    mean, std = torch.tensor(train.info.mean), torch.tensor(train.info.std)
    expected = (train.images.float() / 255 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    torch.testing.assert_close(images, expected)  # the dataset's normalisation
    module = SETTINGS.module(data, expert=1)
    trajectory = module.fit_tensors(images, labels)
    assert trajectory.shape == (SETTINGS.epochs + 1, sum(p.numel() for p in module.parameters()))
    assert torch.equal(trajectory, reference_trajectory(images, labels, expert=1))
    assert not torch.equal(trajectory[1], trajectory[2])  # it trained
    # Row 0 is the initialisation drawn from the expert's seed; other experts start elsewhere.
    other = SETTINGS.module(data, expert=2)
    assert torch.equal(trajectory[0], SETTINGS.module(data, expert=1).flat_parameters())
    assert not torch.equal(trajectory[0], other.flat_parameters())


def test_a_trainer_records_the_same_trajectory(data):
    images, labels = training_tensors(data, torch.device("cpu"))
    alone = SETTINGS.module(data, expert=0).fit_tensors(images, labels)
    module = SETTINGS.module(data, expert=0).attach(images, labels)
    trainer = L.Trainer(
        max_epochs=SETTINGS.epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module)
    assert torch.equal(module.trajectory(), alone)


def test_resuming_after_an_epoch_continues_the_same_trajectory(data):
    images, labels = training_tensors(data, torch.device("cpu"))
    states = []

    def keep(module, optimizer):
        states.append(module.partial_state(optimizer))

    whole = SETTINGS.module(data, expert=0).fit_tensors(images, labels, after_epoch=keep)
    assert [s["epoch"] for s in states] == [1, 2]
    resumed = SETTINGS.module(data, expert=0).fit_tensors(images, labels, resume=states[0])
    assert torch.equal(resumed, whole)


def test_momentum_weight_decay_and_the_drop_reach_the_optimiser(data):
    module = ExpertTraining("ConvNetW32", data.info, epochs=4, momentum=0.5, weight_decay=1e-3)
    sgd = module.configure_optimizers()
    assert sgd.defaults["momentum"] == 0.5 and sgd.defaults["weight_decay"] == 1e-3
    decaying = ExpertTraining("ConvNetW32", data.info, epochs=4, decay=True)
    sgd = decaying.configure_optimizers()
    for epoch in range(4):  # the release drops after epoch E // 2 + 1 = 3 (0-based)
        decaying.end_epoch(epoch, sgd)
        assert sgd.param_groups[0]["lr"] == pytest.approx(0.01 if epoch < 3 else 0.001)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"lr": 0.0}, "lr must be positive"),
        ({"augment": "dc"}, "augment must be one of dsa, none"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
    ],
)
def test_bad_settings_say_which(data, option, message):
    with pytest.raises(ValueError, match=message):
        ExpertTraining("ConvNetW32", data.info, **option)
