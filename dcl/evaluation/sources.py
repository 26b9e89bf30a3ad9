"""What ``evaluate.py`` evaluates: the set or coreset baseline, the real splits, the device."""

from __future__ import annotations

import platform
from functools import partial
from pathlib import Path

import torch
from jsonargparse import Namespace

from dcl.baselines import select_baseline
from dcl.baselines.features import save_extractor, train_feature_extractor
from dcl.baselines.specs import SPEC_EXAMPLE, SPEC_FORMAT, is_spec, parse_spec
from dcl.data import ClassImages, DatasetInfo, SyntheticSet, load_real
from dcl.data.folders import DatasetNotFoundError
from dcl.data.registry import STATIC_INFO, ImageFolderError
from dcl.data.splits import adopt_whitening, whiten_splits
from dcl.data.validation import without_recorded


def resolve_device(name: str) -> torch.device:
    """``auto`` is cuda when available, else cpu; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name} asked for, but CUDA is not available; use cpu or auto.")
    return device


def device_name(device: torch.device) -> str:
    """A human-readable name of ``device`` for the results file."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.processor() or platform.machine()})"


def check_matches(syn: SyntheticSet, test: ClassImages) -> None:
    """Raise ``ValueError`` unless the test set has the set's channels, image size and classes."""
    want, got = syn.info, test.info
    if _shape(want) != _shape(got):
        raise ValueError(
            f"The set was made from {want.name} ({_describe(want)}) but the test set found is "
            f"{got.name} ({_describe(got)}). Point --data_root at the dataset the set was made "
            "from."
        )


def _shape(info: DatasetInfo) -> tuple[int, int, int]:
    return info.channels, info.image_size, info.num_classes


def _describe(info: DatasetInfo) -> str:
    size = f"{info.image_size}x{info.image_size}"
    return f"{info.channels} channel(s), {size}, {info.num_classes} classes"


def locate(source: str) -> tuple[tuple | None, SyntheticSet | None, str]:
    """``(spec, set, dataset)`` of ``--synthetic``: a parsed baseline spec or a loaded set file.

    Raises:
        FileNotFoundError: Neither a spec nor a readable file; the message says what to pass.
        ValueError: A malformed spec or a damaged set file.
    """
    if is_spec(source):
        spec = parse_spec(source)
        return spec, None, spec[1]
    if Path(source).is_file():
        syn = SyntheticSet.load(source)
        return None, syn, syn.info.name
    raise FileNotFoundError(
        f"No synthetic set at '{source}'. Pass a file written by train_synthetic.py or "
        f"SyntheticSet.save, or a baseline spec {SPEC_FORMAT} (e.g. '{SPEC_EXAMPLE}')."
    )


def _load_real(
    dataset: str, cfg: Namespace, syn: SyntheticSet | None
) -> tuple[ClassImages, ClassImages]:
    """The real splits; an image folder at the set's size when it was resized for synthesis."""
    load = partial(load_real, dataset, cfg.data_root, download=False, cache_dir=cfg.cache_dir)
    if syn is None or dataset != "imagefolder":
        return load()
    try:
        train, test = load()
        if train.info.image_size == syn.info.image_size:
            return train, test
    except ImageFolderError:  # images of several sizes: synthesis ran with --data.image_size
        pass
    return load(image_size=syn.info.image_size)


def load_sources(
    cfg: Namespace, device: torch.device
) -> tuple[SyntheticSet, ClassImages, ClassImages]:
    """The set to evaluate and the real train/test splits of its dataset.

    A ZCA-whitened set gets both splits whitened with its fit: the cached one, or refitted on
    the training split, whose checksum must be the one the set records (else ``ValueError``).
    A set that held out a validation split gets the training split without it (baselines and
    extractors never see those images either).
    """
    spec, syn, dataset = locate(cfg.synthetic)
    if dataset not in STATIC_INFO:
        raise ValueError(
            f"The set was made from in-memory data named '{dataset}' (RealDataModule.from_tensors"
            " or from_datasets), which evaluate.py cannot reload. Evaluate it in Python: "
            "dcl.run_protocol(dcl.SyntheticSet.load(path), data.test, ['ConvNet'])."
        )
    try:
        train, test = _load_real(dataset, cfg, syn)
    except DatasetNotFoundError as err:
        raise DatasetNotFoundError(
            f"{err} (evaluate.py never downloads: point --data_root at the folder holding "
            f"{dataset}, or fetch it once with train_synthetic.py --data.download true.)"
        ) from err
    if syn is not None and syn.zca is not None:
        eps, checksum = float(syn.zca["eps"]), int(syn.zca["checksum"])
        train, test, fit = whiten_splits(train, test, eps, cfg.cache_dir, device, expect=checksum)
        syn.whitening = fit.to("cpu")
    if syn is not None and (record := syn.config.get("validation")):
        train = without_recorded(train, record)  # a baseline never sees the set's held-out
    if spec is not None:
        method, _, ipc, seed = spec
        syn = build_baseline(method, train, ipc, cfg.seed if seed is None else seed, cfg, device)
    check_matches(syn, test)
    return syn, train, test


def build_baseline(
    method: str, train: ClassImages, ipc: int, seed: int, cfg: Namespace, device: torch.device
) -> SyntheticSet:
    """Build a coreset baseline on ``train``, with clear errors for options that cannot work."""
    smallest = int(train.counts.min())
    if ipc > smallest:
        raise ValueError(
            f"ipc={ipc} images per class asked for, but a class of {train.info.name} has only "
            f"{smallest} training images: use ipc <= {smallest}."
        )
    if cfg.extractor is not None and method != "random" and not Path(cfg.extractor).is_file():
        _train_extractor(train, Path(cfg.extractor), cfg.extractor_epochs, seed, device)
    chosen = select_baseline(
        method,
        train,
        ipc,
        seed=seed,
        extractor_path=cfg.extractor,
        extractor_epochs=cfg.extractor_epochs,
        device=device,
    )
    return adopt_whitening(chosen, train)  # chosen from whitened images: a whitened set


def _train_extractor(
    train: ClassImages, path: Path, epochs: int, seed: int, device: torch.device
) -> None:
    """Train the ConvNet feature extractor once and keep it at ``path`` for later runs."""
    print(f"No feature extractor at '{path}': training one ({epochs} epochs), saving it there.")
    net, record = train_feature_extractor(
        train, epochs=epochs, seed=seed, device=device, track_forgetting=True, verbose=True
    )
    save_extractor(
        net,
        path,
        backbone="ConvNet",
        dataset=train.info.name,
        epochs=epochs,
        seed=seed,
        forgetting=record,
    )
