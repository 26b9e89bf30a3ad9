"""Intermediate feature maps of a network and its embedding, from one forward pass.

DataDAM matches spatial attention maps of the blocks of a randomly initialised network. Its
release hooks the outputs of the ReLU layers in ``net.features`` (each block's activation, before
its pooling); this does the same for the activation layers of any network (``net.features`` when
it has one, else the whole network), keeping those whose output is a spatial map
``(N, C, H, W)``, and returns them with the embedding the same pass computed.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from dcl.networks.embedding import embed

ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.SiLU)
# Activations whose outputs are never negative.
NONNEGATIVE: tuple[type[nn.Module], ...] = (nn.ReLU, nn.Sigmoid)


def activation_layers(net: nn.Module) -> list[nn.Module]:
    """The activation modules of ``net.features`` (else of ``net``), in registration order."""
    root = getattr(net, "features", None)
    root = root if isinstance(root, nn.Module) else net
    return [m for m in root.modules() if isinstance(m, ACTIVATIONS)]


def nonnegative_features(net: nn.Module) -> bool:
    """Whether every activation layer of ``net`` (``activation_layers``) outputs values >= 0."""
    return all(isinstance(m, NONNEGATIVE) for m in activation_layers(net))


def block_features(
    net: nn.Module,
    x: Tensor,
    forward: Callable[[nn.Module, Tensor], Tensor] = embed,
) -> tuple[list[Tensor], Tensor]:
    """Each block's activation map and the embedding of a batch, in one forward pass.

    Args:
        net: A network with activation modules (``ACTIVATIONS``), e.g. the ConvNet family, whose
            ``forward(net, x)`` calls them; the hooks are removed before returning.
        x: ``(N, C, H, W)`` images.
        forward: The embedding call (default ``dcl.networks.embed``): an eager call, since hooks
            registered on a fresh network are not seen by an already compiled graph.

    Returns:
        ``(maps, embedding)``: the ``(N, C_l, H_l, W_l)`` outputs of the activation layers that
        are spatial maps, in call order (for the ConvNet: one per block, before pooling), and
        the ``(N, D)`` embedding.

    Raises:
        TypeError: ``net`` has no activation module producing a spatial map.
    """
    layers = activation_layers(net)
    maps: list[Tensor] = []

    def keep(module: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
        if out.ndim == 4:
            maps.append(out)

    handles = [layer.register_forward_hook(keep) for layer in layers]
    try:
        embedding = forward(net, x)
    finally:
        for handle in handles:
            handle.remove()
    if not maps:
        names = ", ".join(cls.__name__ for cls in ACTIVATIONS)
        raise TypeError(
            f"{type(net).__name__} has no activation layer ({names}) with a spatial output "
            "(N, C, H, W) in its forward pass: attention matching needs the feature maps of "
            "convolutional blocks, as the ConvNet family has."
        )
    return maps, embedding
