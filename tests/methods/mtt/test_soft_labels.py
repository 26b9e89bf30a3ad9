"""TESLA's soft labels in MTT: the correct-prediction filter, the expert's labels, the KL steps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import Tensor

from dcl.data.synthetic import SyntheticSet
from dcl.methods import MTT
from dcl.methods.mtt import ExpertBuffer
from dcl.methods.mtt.labels import correct_mask, draw_correct, soft_label_step_loss
from dcl.methods.mtt.memory import checkpointed_unroll, constant_unroll
from dcl.methods.mtt.student import minibatches, parameter_shapes, unflatten_parameters, unroll
from dcl.networks import build_network
from dcl.objectives import trajectory_distance
from dcl.synthesis.module import SynthesisModule
from tests.methods.mtt.test_memory import IMAGES, NET, START, TARGET
from tests.methods.mtt.test_method import RUN, SMALL, buffer  # noqa: F401 - the buffer fixture
from tests.synthesis.helpers import synthesize

T, LR, BATCH, SEED = 1.2, 0.05, 4, 3
SOFT = torch.randn(6, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 2


def test_correct_mask_keeps_the_images_whose_arg_max_is_their_label():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0], [0.0, 4.0, 1.0], [1.0, 0.0, 0.5]])
    net = lambda x: x.flatten(1)  # noqa: E731 - the "images" are their own logits
    labels = torch.tensor([0, 1, 1, 2])
    assert correct_mask(net, logits.view(4, 3, 1, 1), labels).tolist() == [True, False, True, False]


def nearest_mean(train) -> Callable[[Tensor], Tensor]:
    """A hand-built classifier: logits = minus the squared distance to each class's mean image."""
    x = train.normalize(train.images).flatten(1).double()
    means = torch.stack([x[train.labels == c].mean(0) for c in range(len(train.counts))])
    return lambda images: -(torch.cdist(images.flatten(1).double(), means) ** 2)


def test_the_initial_draw_holds_only_correctly_predicted_distinct_images_of_each_class(digits):
    train = digits[0]
    net = nearest_mean(train)
    picks = draw_correct(train, 3, torch.Generator().manual_seed(0), net)  # (10, 3)
    assert picks.shape == (10, 3) and picks.unique().numel() == 30
    labels = torch.arange(10).repeat_interleave(3)
    assert torch.equal(train.labels[picks.flatten()], labels)
    assert correct_mask(net, train.normalize(train.images[picks.flatten()]), labels).all()
    everything = correct_mask(net, train.normalize(train.images), train.labels)
    assert 0.8 < float(everything.float().mean()) < 1  # some images are filtered out
    again = draw_correct(train, 3, torch.Generator().manual_seed(0), net)
    assert torch.equal(picks, again)  # the run's initialisation stream decides
    with pytest.raises(ValueError, match="predicts only .* correctly"):
        draw_correct(train, int(train.counts.min()), torch.Generator().manual_seed(0), net)


def kl_reference(out: Tensor, targets: Tensor) -> Tensor:
    """KL(softmax(t / T) || softmax(out / T)) averaged over the batch, written out."""
    p = torch.softmax(targets / T, dim=1)
    return (p * (torch.log(p) - torch.log_softmax(out / T, dim=1))).sum() / out.shape[0]


def plain_soft_loop(images: Tensor, lr: Tensor, steps: int) -> Tensor:
    """The student's SGD on soft labels as a plain loop, every graph kept."""
    w = START.clone().requires_grad_(True)
    for idx in minibatches(6, BATCH, steps, torch.Generator().manual_seed(SEED), images.device):
        params = unflatten_parameters(parameter_shapes(NET), w)
        out = torch.func.functional_call(NET, params, (images[idx],))
        (grad,) = torch.autograd.grad(kl_reference(out, SOFT[idx]), w, create_graph=True)
        w = w - lr * grad
    return w


def run(fn: Callable, steps: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """End point, loss and gradients (images, lr) of one soft-label student run by ``fn``."""
    images = IMAGES.clone().requires_grad_(True)
    lr = torch.tensor(LR, dtype=torch.float64, requires_grad=True)
    if fn is plain_soft_loop:
        end = plain_soft_loop(images, lr, steps)
    else:
        g = torch.Generator().manual_seed(SEED)
        end = fn(NET, START, images, SOFT, lr, steps, BATCH, None, g, loss=soft_label_step_loss(T))
    loss = trajectory_distance(end, START, TARGET)
    return (end.detach(), loss.detach(), *torch.autograd.grad(loss, [images, lr]))


def rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.numerics
def test_unroll_on_soft_labels_is_the_plain_kl_loop_and_the_other_paths_keep_their_relations():
    end, loss, *plain = run(plain_soft_loop, 3)
    u_end, u_loss, *unrolled = run(unroll, 3)
    torch.testing.assert_close(u_end, end, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(u_loss, loss, rtol=1e-12, atol=0)
    for a, b in zip(unrolled, plain, strict=True):
        assert torch.isfinite(a).all() and a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)
    for steps in (1, 3):
        _, u_loss, *unrolled = run(unroll, steps)
        _, c_loss, *tesla = run(constant_unroll, steps)
        _, k_loss, *exact = run(checkpointed_unroll, steps)
        assert torch.equal(c_loss, u_loss) and torch.equal(k_loss, u_loss)  # the same forward
        for t, e, u in zip(tesla, exact, unrolled, strict=True):
            assert rel(e, u) < 1e-9  # checkpointed: the unrolled gradient
            assert rel(t, u) < 1e-12 if steps == 1 else rel(t, u) > 1e-3  # TESLA: exact at 1


class InitialImages(L.Callback):
    """Keeps the images as the first step sees them (after set-up's initialisation)."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.images = pl_module.images.detach().clone()


def test_the_saved_set_carries_the_experts_logits_on_its_initial_images(
    tmp_path,
    digits_cache,
    buffer,  # noqa: F811 - the fixture imported above
):
    initial = InitialImages()
    args = {**SMALL, "buffer": buffer, "soft_labels": "expert", "memory": "constant"}
    model, trainer = synthesize(
        tmp_path, digits_cache, 1, ipc=2, callbacks=[initial], **{**RUN, "method_args": args}
    )
    experts = ExpertBuffer(buffer)
    net = build_network("ConvNetD1", 1, 10, 8)
    flat = experts.load(0)[experts.epochs]  # the first expert at its last epoch
    params = unflatten_parameters(parameter_shapes(net), flat)
    with torch.no_grad():
        expected = torch.func.functional_call(net, params, (initial.images,))
    labels = torch.arange(10).repeat_interleave(2)
    assert torch.equal(expected.argmax(1), labels)  # the filter: all predicted correctly
    torch.testing.assert_close(model.matching.label_logits, expected, rtol=1e-5, atol=1e-5)
    assert torch.isfinite(torch.tensor(float(trainer.callback_metrics["loss"])))
    model.save_outputs()
    saved = SyntheticSet.load(Path(model.output_dir) / "synthetic.pt")
    torch.testing.assert_close(saved.soft_labels, expected, rtol=1e-5, atol=1e-5)
    ckpt = tmp_path / "soft.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = SynthesisModule.load_from_checkpoint(ckpt)  # the labels' shape comes from the file
    assert torch.equal(loaded.matching.label_logits, model.matching.label_logits)


def test_soft_labels_are_off_by_default_and_bad_values_are_refused():
    method = MTT()
    assert method.soft_labels() is None and "label_logits" not in method.state_dict()
    with pytest.raises(ValueError, match="soft_labels null or 'expert'"):
        MTT(soft_labels="learned")
    with pytest.raises(ValueError, match="label_temperature > 0"):
        MTT(soft_labels="expert", label_temperature=0.0)
