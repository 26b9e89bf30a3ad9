"""``SyntheticSet``: a condensed (or selected) training set with everything needed to use it."""

from __future__ import annotations

import dataclasses
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dcl.data.cache import save_atomic
from dcl.data.pictures import (
    GRID_CLASSES,
    GRID_PER_CLASS,
    GRID_SIDE,
    denormalize,
    image_grid,
    to_pixels,
)
from dcl.data.registry import DatasetInfo
from dcl.data.zca import ZCA, find_zca

__all__ = [
    "GRID_CLASSES", "GRID_PER_CLASS", "GRID_SIDE", "SyntheticSet", "denormalize", "image_grid",
]  # fmt: skip

SET_FORMAT = "dcl-synthetic-v1"


def library_versions() -> dict[str, str]:
    """Versions that produced a set, recorded for reproducibility."""
    import lightning
    import torchvision

    from dcl import __version__

    return {
        "dcl": __version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "lightning": lightning.__version__,
        "python": platform.python_version(),
    }


def _plain(value: Any) -> Any:
    """``value`` with anything ``torch.load(weights_only=True)`` refuses turned into a string."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass
class SyntheticSet:
    """Images in normalised (or ZCA-whitened) space, hard labels ordered by class, metadata.

    Args:
        images: ``(classes * ipc, C, H, W)`` float32, normalised with ``info.mean``/``info.std``,
            or, when ``zca`` is set, ZCA-whitened pixels (``dcl.data.zca``) instead.
        labels: ``(classes * ipc,)`` int64, ``ipc`` per class in class order.
        info: The real dataset's facts (name, shape, classes, class names, mean, std).
        ipc: Images per class.
        method: How the set was made: dm, dc, dsa, random, herding, kcenter, forgetting.
        seed: Run seed.
        step: Synthesis steps (image updates) behind these images.
        backbone: Network the set was synthesised with (or features were taken from).
        config: Free-form settings of the run that made it.
        versions: Library versions that made it.
        zca: ``None``, or the ZCA whitening its images live in: ``{"eps", "checksum", "input"}``
            (``ZCA.metadata``; the checksum identifies the training images fitted on).
            Evaluation whitens the real test images with the same fit.
        lr: A learned evaluation learning rate (MTT learns one), used by evaluation by default;
            ``None``: the protocol's published one. Kept even when not positive (an unstable
            run), so no set is lost; evaluation then asks for ``--lr``.
        evaluation: How networks train on the set, written by the method that made it
            (``dcl.methods.EvaluationHints.to_dict()``: augmentation, epochs, batch);
            ``None`` (older files): evaluation looks the method's hints up by name.
        soft_labels: ``None`` (hard labels only), or ``(classes * ipc, classes)`` floating-point
            soft labels as **logits** (unnormalised log-scores: a teacher's or expert's outputs,
            or log-probabilities), finite, one row per image; evaluation trains on
            ``softmax(row / T)`` (``dcl.objectives.soft_label_loss``). ``labels`` stay the class
            assignment (layout, ipc). Saved in their dtype (float32, float16 or bfloat16), which
            is what ``dcl.data.storage`` counts. Build one from a network:
            ``SyntheticSet(..., soft_labels=net(images).detach())``.
        whitening: The fit itself, when at hand (not saved: the file records ``zca``); pictures
            un-whiten through it, or through the cached fit of ``zca`` when not given.
    """

    images: Tensor
    labels: Tensor
    info: DatasetInfo
    ipc: int
    method: str
    seed: int = 0
    step: int = 0
    backbone: str = "ConvNet"
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)
    zca: dict[str, Any] | None = None
    lr: float | None = None
    evaluation: dict[str, Any] | None = None
    soft_labels: Tensor | None = None
    whitening: ZCA | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.whitening is not None and self.zca is None:
            self.zca = self.whitening.metadata()
        self.validate()

    def validate(self) -> None:
        """Check shapes, dtypes and metadata agree; raise ``ValueError`` saying what is off."""
        info, n = self.info, self.info.num_classes * self.ipc
        expected = (n, info.channels, info.image_size, info.image_size)
        problems = []
        if self.ipc < 1:
            problems.append(f"ipc must be >= 1, got {self.ipc}")
        if tuple(self.images.shape) != expected:
            problems.append(f"images have shape {tuple(self.images.shape)}, expected {expected}")
        if not self.images.is_floating_point():
            problems.append(f"images must be floating point, got {self.images.dtype}")
        expected_labels = torch.arange(info.num_classes).repeat_interleave(self.ipc)
        if self.labels.shape != expected_labels.shape or not torch.equal(
            self.labels.cpu().long(), expected_labels
        ):
            problems.append(f"labels must be {self.ipc} per class in class order")
        if len(info.mean) != info.channels or len(info.std) != info.channels:
            problems.append("mean/std must have one entry per channel")
        problems += _extras_problems(self)
        if problems:
            raise ValueError("Invalid synthetic set: " + "; ".join(problems) + ".")

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self.info.num_classes

    def zca_fit(self) -> ZCA | None:
        """The ZCA fit of a whitened set (given, else the cached one of ``zca``); else ``None``."""
        if self.whitening is None and self.zca is not None:
            self.whitening = find_zca(int(self.zca["checksum"]), float(self.zca["eps"]))
        return self.whitening

    def denormalized(self) -> Tensor:
        """Images mapped back to [0, 1] (clipped) for display: de-normalised or un-whitened."""
        return to_pixels(self.images, self.info, self.zca_fit(), self.zca is not None)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form written by ``save``."""
        meta = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        meta.pop("images"), meta.pop("labels"), meta.pop("whitening"), meta.pop("soft_labels")
        meta["info"] = dataclasses.asdict(self.info)
        data = {
            "format": SET_FORMAT,
            "images": self.images.detach().cpu().float().contiguous(),
            "labels": self.labels.detach().cpu().long(),
            "meta": _plain(meta),
        }
        if self.soft_labels is not None:  # absent, not None: files stay readable by older dcl
            data["soft_labels"] = self.soft_labels.detach().cpu().contiguous()
        return data

    def save(self, path: str | Path) -> Path:
        """Write one file atomically (temporary file, then rename).

        Args:
            path: Destination, conventionally ``synthetic.pt``.

        Returns:
            The path written.
        """
        path = Path(path)
        save_atomic(self.to_dict(), path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SyntheticSet:
        """Read and validate a set written by ``save``; clear errors for foreign or broken files.

        Args:
            path: A file written by ``save``.

        Returns:
            The set, on the CPU.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No synthetic set at '{path}'.")
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise ValueError(
                f"'{path}' is not a readable synthetic set (truncated or not written by dcl): {err}"
            ) from err
        if not isinstance(data, dict) or data.get("format") != SET_FORMAT:
            raise ValueError(
                f"'{path}' is not a dcl synthetic set (expected format '{SET_FORMAT}'). "
                "Save sets with SyntheticSet.save or produce them with train_synthetic.py."
            )
        try:
            meta = dict(data["meta"])
            info = meta.pop("info")
            fields = {k: tuple(v) if isinstance(v, list) else v for k, v in info.items()}
            info = DatasetInfo(**fields)
            soft = data.get("soft_labels")  # absent from files of sets without soft labels
            return cls(
                images=data["images"], labels=data["labels"], info=info, soft_labels=soft, **meta
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"'{path}' is a damaged or inconsistent set: {err}") from err

    def save_png(self, path: str | Path, scale: int | None = None) -> Path:
        """The capped grid of ``grid`` (one row per class, de-normalised or un-whitened) as a PNG.

        Args:
            path: Destination PNG file (folders are created).
            scale: Upscaling factor of each image (default: up to 4, a side within 128 pixels).

        Returns:
            The path written.
        """
        from torchvision.utils import save_image

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(self.grid(scale), path)
        return path

    def grid(self, scale: int | None = None) -> Tensor:
        """Picture of the set for PNG files and TensorBoard (see ``image_grid``).

        Args:
            scale: Upscaling factor of each image (default: up to 4, a side within 128 pixels).

        Returns:
            ``(C, H', W')`` image in [0, 1]: a row per class, at most 10 classes x 10 images.
        """
        fit, whitened = self.zca_fit(), self.zca is not None
        return image_grid(self.images, self.info, self.ipc, scale=scale, zca=fit, whitened=whitened)

    def export_imagefolder(self, folder: str | Path) -> Path:
        """Write ``folder/<label>_<class name>/<index>.png``, readable by ``ImageFolder``.

        Folder names start with the zero-padded label, so ``ImageFolder``'s sorted classes keep
        the set's label order.

        Args:
            folder: Destination folder (created).

        Returns:
            The folder.
        """
        from torchvision.utils import save_image

        folder = Path(folder)
        images = self.denormalized()
        names = self.info.class_names or tuple(str(c) for c in range(self.num_classes))
        width = max(3, len(str(self.num_classes - 1)))  # zero padding keeps sorted = label order
        for i, (image, label) in enumerate(zip(images, self.labels.tolist(), strict=True)):
            safe = "".join(ch if ch.isalnum() or ch in " .+-" else "-" for ch in names[label])
            target = folder / f"{label:0{width}d}_{safe}"
            target.mkdir(parents=True, exist_ok=True)
            save_image(image, target / f"{i:05d}.png")
        return folder


def _extras_problems(syn: SyntheticSet) -> list[str]:
    """What is wrong with ``zca``, ``lr`` and ``whitening`` (empty when nothing)."""
    problems = []
    zca, lr, fit = syn.zca, syn.lr, syn.whitening
    if zca is not None:
        eps = zca.get("eps") if isinstance(zca, dict) else None
        checksum = zca.get("checksum") if isinstance(zca, dict) else None
        if not isinstance(eps, int | float) or not isinstance(checksum, int) or eps <= 0:
            problems.append(f"zca must be a dict with eps > 0 and an integer checksum, got {zca}")
        elif fit is not None and (fit.checksum, fit.eps) != (checksum, eps):
            problems.append("whitening is not the fit zca describes")
    # A learned lr may end up <= 0 (MTT leaves it unconstrained): the set is still saved, and
    # evaluation refuses to train with it (``resolve_lr``).
    if lr is not None and (
        isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr)
    ):
        problems.append(f"lr must be a finite number or None, got {lr!r}")
    if fit is not None and fit.dim != syn.images[0].numel():
        problems.append(f"whitening fits {fit.dim} values, the images have {syn.images[0].numel()}")
    if syn.soft_labels is not None:
        problems += soft_label_problems(syn.soft_labels, len(syn.labels), syn.num_classes)
    return problems


def soft_label_problems(soft: object, n: int, classes: int) -> list[str]:
    """What is wrong with soft labels meant for ``n`` images of ``classes`` classes (or nothing).

    Soft labels are logits, so any finite value is valid: a row needs no sign or sum.
    """
    if not isinstance(soft, Tensor):
        return [f"soft_labels must be a tensor or None, got {type(soft).__name__}"]
    if tuple(soft.shape) != (n, classes):
        return [f"soft_labels have shape {tuple(soft.shape)}, expected {(n, classes)}"]
    if not soft.is_floating_point():
        return [f"soft_labels must be floating-point logits, got {soft.dtype}"]
    if not bool(torch.isfinite(soft).all()):
        return ["soft_labels must be finite logits (log-probabilities of 0 are -inf: clamp them)"]
    return []
