"""Our soft-label training against the ``ddranking`` package's, on the same set and network.

DD-Ranking's soft-label accuracies come from ``ddranking.utils.train_one_epoch`` with static
soft labels (``soft_label_mode="S"``: the teacher's logits of the un-augmented images, which is
how it relabels its random subsets) and its ``KLDivergenceLoss``. Our protocol trains
``EvaluationModule.fit_tensors`` on the teacher's logits. Given the same images, labels,
initial weights, optimiser and learning-rate drop, both must end at the same weights and test
accuracy. What differs by design (the number of epochs and the schedule, best-over-epochs and
the learning-rate search on test accuracy) is this library's protocol and is not compared.

Runs only where the optional package imports (it pins numpy 1.26 and pulls timm, kornia and
pandas, so it lives in a separate environment: ``pip install ddranking``).
"""

from __future__ import annotations

import copy

import pytest
import torch

ddr_utils = pytest.importorskip(
    "ddranking.utils", reason="the ddranking package is not installed (optional)"
)
ddr_loss = pytest.importorskip("ddranking.loss")

from dcl.evaluation.module import EvaluationModule  # noqa: E402
from dcl.evaluation.teacher import teacher_logits  # noqa: E402
from dcl.networks import build_network  # noqa: E402
from dcl.training import lr_drop_epoch  # noqa: E402

TEMPERATURE = 1.2
EPOCHS = 3  # the release's protocol trains EPOCHS + 1 passes, dropping lr after EPOCHS // 2 + 1


def _their_training(net, images, soft, lr_drop):
    loader = torch.utils.data.DataLoader(
        ddr_utils.TensorDataset(images, soft),
        batch_size=256,
        sampler=torch.utils.data.RandomSampler(range(len(images))),
    )
    loss = ddr_loss.KLDivergenceLoss(temperature=TEMPERATURE, scale_loss=False)
    lr = 0.01
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    for epoch in range(EPOCHS + 1):
        ddr_utils.train_one_epoch(
            epoch, net, loader, loss, optimizer, soft_label_mode="S", device="cpu"
        )
        if epoch == lr_drop:  # the release's drop: a new optimiser at a tenth of the rate
            optimizer = torch.optim.SGD(
                net.parameters(), lr=lr / 10, momentum=0.9, weight_decay=5e-4
            )


def test_soft_label_training_matches_the_package(digits):
    train, test = digits
    first = train.offsets[:10]  # one image per class: a 1-ipc set
    images = train.normalize(train.images[first]).float()
    teacher = build_network("ConvNetW32", 1, 10, 8, generator=torch.Generator().manual_seed(1))
    soft = teacher_logits(teacher.eval(), images).clone()  # a plain tensor, not an inference one

    ours = EvaluationModule("ConvNet", train.info, epochs=EPOCHS, temperature=TEMPERATURE)
    theirs = copy.deepcopy(ours.net)
    ours.fit_tensors(images, soft)
    _their_training(theirs, images, soft, lr_drop_epoch(EPOCHS))

    mine, other = ours.net.state_dict(), theirs.state_dict()
    assert mine.keys() == other.keys()
    for name in mine:
        torch.testing.assert_close(mine[name], other[name], rtol=1e-5, atol=1e-6, msg=name)
    theirs_module = copy.deepcopy(ours)
    theirs_module.net = theirs
    assert ours.test_images(test) == theirs_module.test_images(test)
