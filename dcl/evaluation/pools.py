"""Evaluation pools: letters of the papers' cross-architecture tables, expanded to network names."""

from __future__ import annotations

from dcl.networks import NETWORK_NAMES, instance_norm_variant

POOLS: dict[str, tuple[str, ...]] = {
    "M": ("MLP", "ConvNet", "LeNet", "AlexNet", "VGG11", "ResNet18"),
    "B": ("ConvNetBN", "ConvNetASwishBN", "AlexNetBN", "VGG11BN", "ResNet18BN"),
    "W": ("ConvNetW32", "ConvNetW64", "ConvNetW128", "ConvNetW256"),
    "D": ("ConvNetD1", "ConvNetD2", "ConvNetD3", "ConvNetD4"),
    "A": ("ConvNetAS", "ConvNetAR", "ConvNetAL", "ConvNetASwish"),
    "P": ("ConvNetNP", "ConvNetMP", "ConvNetAP"),
    "N": ("ConvNetNN", "ConvNetBN", "ConvNetLN", "ConvNetIN", "ConvNetGN"),
}


def expand_models(spec: str | list[str] | None, backbone: str = "ConvNet") -> list[str]:
    """Network names to evaluate.

    Args:
        spec: A pool letter (M, B, W, D, A, P, N; S = the synthesis backbone with batch norm
            swapped for instance norm; SS = the synthesis backbone itself), a comma-separated
            list of network names, a list of names, or ``None`` (the default) for ``S``, as the
            release's default ``eval_mode S``.
        backbone: The network the set was synthesised with.

    Returns:
        Network names, in order, without duplicates.
    """
    if spec == "SS":
        return [backbone]
    if spec is None or spec == "" or spec == "S":
        return [instance_norm_variant(backbone)]
    if isinstance(spec, str) and spec in POOLS:
        return list(POOLS[spec])
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in NETWORK_NAMES]
    if unknown:
        raise ValueError(
            f"Unknown network(s) {', '.join(unknown)} in --models. Use a pool letter "
            f"({', '.join(['S', 'SS', *POOLS])}) or names from: {', '.join(NETWORK_NAMES)}."
        )
    return list(dict.fromkeys(names))
