"""DC's loss: per-class gradients of real and synthetic batches matched, siamese-augmented."""

from __future__ import annotations

from torch import Tensor, nn

from dcl.calls import Forward, logits
from dcl.methods.base import Siamese
from dcl.methods.dc.gradients import class_gradients, class_gradients_loop
from dcl.objectives import Metric, gradient_distance


def dc_loss(
    net: nn.Module,
    real: Tensor,
    syn: Tensor,
    classes: Tensor,
    metric: Metric = "ours",
    augment: Siamese | None = None,
    batched: bool = True,
    real_forward: Forward = logits,
) -> Tensor:
    """Gradient matching loss summed over classes.

    Args:
        net: Network whose parameter gradients are matched (batch norm already in eval mode).
        real: ``(K, n, C, H, W)`` real images per class.
        syn: ``(K, m, C, H, W)`` synthetic images per class (requires grad).
        classes: ``(K,)`` class labels of the rows.
        metric: Gradient distance: ours, mse or cos.
        augment: Siamese augmentation shared by a class's real and synthetic batch.
        batched: All classes in one ``vmap``-ed computation (else a loop, the reference).
        real_forward: Logits of real images in the loop (e.g. compiled); the synthetic side
            stays eager because it needs a double backward.

    Returns:
        Scalar loss.
    """
    if augment is not None:
        real, syn = augment(real, syn)
    y_real = classes[:, None].expand(-1, real.shape[1])
    y_syn = classes[:, None].expand(-1, syn.shape[1])
    if batched:
        g_real = class_gradients(net, real, y_real, create_graph=False)
        g_syn = class_gradients(net, syn, y_syn, create_graph=True)
    else:
        g_real = class_gradients_loop(net, real, y_real, False, real_forward)
        g_syn = class_gradients_loop(net, syn, y_syn, create_graph=True)
    return gradient_distance(g_real, g_syn, metric).sum()


def set_batchnorm_eval(net: nn.Module) -> None:
    """Freeze batch-norm statistics (DC matches gradients with fixed running statistics)."""
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
