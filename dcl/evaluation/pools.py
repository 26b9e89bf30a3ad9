"""Evaluation pools: letters of the papers' cross-architecture tables, expanded to network names.

Besides letters and names, ``--models`` takes dotted class paths of users' own networks.
"""

from __future__ import annotations

from dcl.networks import NETWORK_NAMES, instance_norm_variant, is_class_path, network_problem

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
    """Network names (or class paths) to evaluate.

    Args:
        spec: A pool letter (M, B, W, D, A, P, N; S = the synthesis backbone with batch norm
            swapped for instance norm; SS = the synthesis backbone itself), a comma-separated
            list of network names from ``dcl.networks.NETWORK_NAMES`` or dotted class paths of
            your own networks (``mypkg.nets.MyNet``, see ``dcl.networks.build_network``), a list
            of those, or ``None`` (the default) for ``S``, as the release's default
            ``eval_mode S``.
        backbone: The network the set was synthesised with (a name or a class path; S keeps a
            class path as it is).

    Returns:
        Network names and class paths, in order, without duplicates.

    Raises:
        ValueError: For unknown names, or class paths that cannot be imported or do not take
            ``(channels, num_classes, image_size)``.
    """
    if spec == "SS":
        return [backbone]
    if spec is None or spec == "" or spec == "S":
        return [instance_norm_variant(backbone)]
    if isinstance(spec, str) and spec in POOLS:
        return list(POOLS[spec])
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if not is_class_path(n) and n not in NETWORK_NAMES]
    if unknown:
        raise ValueError(
            f"Unknown network(s) {', '.join(unknown)} in --models. Use a pool letter "
            f"({', '.join(['S', 'SS', *POOLS])}), names from: {', '.join(NETWORK_NAMES)}, or "
            "dotted class paths of your own networks (mypkg.nets.MyNet)."
        )
    broken = [p for n in names if is_class_path(n) and (p := network_problem(n)) is not None]
    if broken:
        raise ValueError(f"Cannot use in --models: {' '.join(broken)}")
    return list(dict.fromkeys(names))
