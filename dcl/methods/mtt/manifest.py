"""The manifest of an expert buffer: what its experts learnt from, and how (``manifest.json``).

Fields: ``format`` (``dcl-expert-buffer``) and ``version`` (1); the data: ``dataset``,
``image_shape`` ``[C, H, W]``, ``num_classes``, ``mean``, ``std``, ``zca`` and ``zca_eps``
(``None`` without ZCA), ``validation`` (``{"val_size", "seed"}`` of the validation split held
out of the experts' training data, ``None``: none); the experts: ``network``, ``epochs``,
``training`` (lr, momentum, weight_decay, batch_size, augment, dsa_strategy, decay, seed),
``parameters`` (``[{"name", "shape"}]`` in ``named_parameters()`` order: the layout of a flat
parameter vector) and ``num_parameters``; provenance: ``dcl_version`` and ``torch_version``. Two
runs may share a buffer when everything but the provenance is equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dcl.data.registry import DatasetInfo

FORMAT, VERSION = "dcl-expert-buffer", 1
MANIFEST = "manifest.json"
# Manifest entries that may differ between runs appending to one buffer (provenance only).
PROVENANCE = ("dcl_version", "torch_version")


def parameter_table(net: nn.Module) -> list[dict[str, Any]]:
    """``[{"name", "shape"}, ...]`` of ``net``'s parameters in ``named_parameters()`` order."""
    return [{"name": n, "shape": list(p.shape)} for n, p in net.named_parameters()]


def describe(
    info: DatasetInfo,
    network: str,
    net: nn.Module,
    epochs: int,
    training: Mapping[str, Any],
    zca: bool = False,
    zca_eps: float | None = None,
    validation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of a buffer of ``network`` experts trained on ``info``'s dataset.

    Args:
        info: The real dataset's facts (name, shape, classes, normalisation).
        network: The network's name (``dcl.networks``) or class path.
        net: One such network (its parameter names and shapes are recorded).
        epochs: Epochs per expert (trajectories have ``epochs + 1`` rows).
        training: The training hyperparameters (lr, momentum, ..., seed).
        zca: Whether the images were ZCA-whitened.
        zca_eps: The whitening's regularisation, when ``zca``.
        validation: The data module's ``validation_spec()`` (``None``: no split held out).

    Returns:
        The JSON-ready manifest.
    """
    import dcl

    table = parameter_table(net)
    return {
        "format": FORMAT,
        "version": VERSION,
        "dataset": info.name,
        "image_shape": [info.channels, info.image_size, info.image_size],
        "num_classes": info.num_classes,
        "mean": list(info.mean),
        "std": list(info.std),
        "zca": bool(zca),
        "zca_eps": None if zca_eps is None else float(zca_eps),
        "validation": None if validation is None else dict(validation),
        "network": network,
        "epochs": int(epochs),
        "training": dict(training),
        "parameters": table,
        "num_parameters": sum(math.prod(p["shape"]) for p in table),
        "dcl_version": dcl.__version__,
        "torch_version": torch.__version__,
    }


def manifest_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``"key: old -> new"`` for every setting (not provenance) in which two manifests differ."""
    keys = [k for k in {**old, **new} if k not in PROVENANCE]
    lines = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed = [k for k in {**a, **b} if a.get(k) != b.get(k)]
            lines += [f"{key}.{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in changed]
        elif a != b:
            shown = "(parameter names/shapes)" if key == "parameters" else f"{a!r} -> {b!r}"
            lines.append(f"{key}: {shown}")
    return lines


def run_differences(
    manifest: Mapping[str, Any],
    network: str | nn.Module,
    info: DatasetInfo,
    zca: bool | None,
    validation: Mapping[str, Any] | None = None,
) -> list[str]:
    """What differs between a buffer's ``manifest`` and a run (buffer vs run), if anything.

    Args:
        manifest: The buffer's manifest.
        network: The run's network name, or the network (its parameter table is compared).
        info: The run's dataset facts.
        zca: Whether the run whitens its images (``None``: not compared).
        validation: The run's validation split (``validation_spec()``); when given, the experts
            must have been trained without the same split (``None``: not compared).
    """
    m, differ = manifest, []
    if m["dataset"] != info.name:
        differ.append(f"dataset {m['dataset']!r} vs {info.name!r}")
    shape = [info.channels, info.image_size, info.image_size]
    if m["image_shape"] != shape or m["num_classes"] != info.num_classes:
        differ.append(
            f"images {m['image_shape']} with {m['num_classes']} classes vs {shape} with "
            f"{info.num_classes}"
        )
    if isinstance(network, str):
        if m["network"] != network:
            differ.append(f"network {m['network']!r} vs {network!r}")
    elif parameter_table(network) != m["parameters"]:
        differ.append(f"network parameters (buffer: {m['network']}) vs the given network's")
    if zca is not None and bool(zca) != m["zca"]:
        differ.append(f"ZCA {'on' if m['zca'] else 'off'} vs {'on' if zca else 'off'}")
    # Experts trained on the run's validation images would leak them into the set.
    if validation is not None and m.get("validation") != dict(validation):
        differ.append(f"validation split held out {m.get('validation')!r} vs {dict(validation)!r}")
    return differ


def default_buffer_path(dataset: str, zca: bool, network: str) -> str:
    """Where ``train_experts.py`` puts a buffer and MTT looks for it when none is named."""
    return f"buffers/{dataset}{'-zca' if zca else ''}/{network}"
