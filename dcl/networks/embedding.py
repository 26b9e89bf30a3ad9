"""A network's feature embedding: its ``embed`` method, else what its classifier receives.

DM matches, and herding and k-center select in, the features a network feeds its final
classifier. The registry networks expose them as ``embed(x)``; for any other network they are the
input of the last ``nn.Linear`` the forward pass calls, caught by a forward pre-hook. Call order
rather than registration order decides which Linear is last, so a classifier declared before the
layers it follows is still found.
"""

from __future__ import annotations

from torch import Tensor, nn


def supports_embed(net: nn.Module) -> bool:
    """Returns whether ``net`` has an ``embed(x)`` method (features before the final Linear)."""
    return callable(getattr(net, "embed", None))


def can_embed(net: nn.Module) -> bool:
    """Returns whether ``embed`` works on ``net``: it has an ``embed`` method or a Linear."""
    return supports_embed(net) or any(isinstance(m, nn.Linear) for m in net.modules())


def embed(net: nn.Module, x: Tensor) -> Tensor:
    """The features ``net`` feeds its final classifier, for a batch ``x``.

    ``net.embed(x)`` when the network has that method; otherwise the input of the last
    ``nn.Linear`` called by ``net(x)`` (the full forward runs; gradients flow to ``x``).

    Args:
        net: Any network.
        x: A batch of inputs.

    Returns:
        The features, with the batch dimension first.

    Raises:
        TypeError: If ``net`` has neither an ``embed`` method nor an ``nn.Linear`` that its
            forward pass calls.
    """
    if supports_embed(net):
        return net.embed(x)
    return last_linear_input(net, x)


def last_linear_input(net: nn.Module, x: Tensor) -> Tensor:
    """The input of the last ``nn.Linear`` that ``net(x)`` calls (see ``embed``)."""
    fix = (
        "dcl takes a network's features from its embed(x) method or, without one, from the input "
        "of its last nn.Linear: add an embed(x) method returning the features before the "
        "classifier"
    )
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError(f"{type(net).__name__} has no embed method and no nn.Linear layer. {fix}.")
    seen: dict[str, Tensor] = {}  # only the latest call's input is kept
    handles = [m.register_forward_pre_hook(lambda _, args: seen.update(x=args[0])) for m in linears]
    try:
        net(x)
    finally:
        for handle in handles:
            handle.remove()
    if "x" not in seen:
        raise TypeError(
            f"{type(net).__name__} has no embed method and its forward pass calls none of its "
            f"nn.Linear modules (e.g. it uses their weights functionally). {fix}."
        )
    return seen["x"]
