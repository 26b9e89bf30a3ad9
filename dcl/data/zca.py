"""ZCA whitening as MTT uses it: fit on the training images, whiten, un-whiten, a cached fit.

MTT (Cazenavette et al., CVPR 2022; ``utils.py`` ``get_dataset`` of its release) whitens with
kornia's ``ZCAWhitening(eps=0.1, compute_inv=True)`` fitted on the whole training split as
``ToTensor`` gives it (pixels in [0, 1], no mean/std normalisation), then applies that fit to
the train and the test images. The maths, with ``X`` the ``(N, D)`` flattened images:
``mu = mean(X)``, ``S = (X - mu)^T (X - mu) / (N - 1)`` (unbiased), ``S = U diag(l) U^T``,
``W = U diag((l + eps)^-1/2) U^T``, its inverse ``U diag((l + eps)^1/2) U^T``;
whitening is ``(x - mu) W`` and un-whitening ``y W^-1 + mu``.

Here the covariance is accumulated in float64 over chunks (a uint8 split is never copied to
float whole), decomposed with ``torch.linalg.eigh`` and stored in float32.
"""

from __future__ import annotations

import math
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dcl.data.cache import default_cache_dir, save_atomic

ZCA_FORMAT = "dcl-zca-v1"
DEFAULT_EPS = 0.1  # MTT's ZCAWhitening(eps=0.1)
# What the fit sees: pixels in [0, 1] (uint8 / 255), as MTT's ToTensor-only transform gives.
ZCA_INPUT = "pixels"


@dataclass(frozen=True, eq=False)
class ZCA:
    """A fitted ZCA whitening.

    Attributes:
        mean: ``(D,)`` float32 mean of the flattened training images.
        matrix: ``(D, D)`` float32 symmetric whitening matrix ``U diag((l + eps)^-1/2) U^T``.
        inverse: ``(D, D)`` float32 inverse ``U diag((l + eps)^1/2) U^T``.
        eps: Regularisation added to the covariance's eigenvalues.
        checksum: CRC-32 of the bytes of the images it was fitted on (identifies the data).
    """

    mean: Tensor
    matrix: Tensor
    inverse: Tensor
    eps: float
    checksum: int

    @property
    def dim(self) -> int:
        """Flattened image size ``D = C * H * W``."""
        return self.mean.numel()

    @property
    def device(self) -> torch.device:
        """Where the matrices live."""
        return self.matrix.device

    def to(self, device: torch.device | str) -> ZCA:
        """The same fit with its tensors on ``device`` (self when already there)."""
        if torch.device(device) == self.device:
            return self
        move = {k: getattr(self, k).to(device) for k in ("mean", "matrix", "inverse")}
        return ZCA(**move, eps=self.eps, checksum=self.checksum)

    def metadata(self) -> dict[str, float | int | str]:
        """What a synthetic set records: ``{"eps", "checksum", "input"}``."""
        return {"eps": self.eps, "checksum": self.checksum, "input": ZCA_INPUT}


def images_checksum(images: Tensor) -> int:
    """CRC-32 of the bytes of ``images`` (any dtype, on any device)."""
    data = images.detach().cpu().contiguous()
    return zlib.crc32(data.view(torch.uint8).reshape(-1).numpy())


def _check_eps(eps: float) -> float:
    number = isinstance(eps, int | float) and not isinstance(eps, bool)
    if not number or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"ZCA eps must be a finite number > 0, got {eps!r}.")
    return float(eps)


def _as_float64(chunk: Tensor, device: torch.device) -> Tensor:
    """``(n, C, H, W)`` -> ``(n, D)`` float64 on ``device``; uint8 read as pixels in [0, 1]."""
    x = chunk.to(device).reshape(chunk.shape[0], -1).double()
    return x / 255.0 if chunk.dtype == torch.uint8 else x


def fit_zca(
    images: Tensor,
    eps: float = DEFAULT_EPS,
    chunk: int = 4096,
    device: torch.device | str | None = None,
    checksum: int | None = None,
) -> ZCA:
    """Fit ZCA whitening to ``images`` (kornia's unbiased covariance and ``eps``), chunk by chunk.

    Args:
        images: ``(N, C, H, W)``, N >= 2: uint8 (read as pixels in [0, 1], x / 255) or float.
        eps: Added to every eigenvalue of the covariance (0.1 in MTT).
        chunk: Images converted to float64 at a time.
        device: Where the float64 maths runs (default: the images' device; the CPU for MPS,
            which has no float64).
        checksum: ``images_checksum(images)`` when already known (computed otherwise).

    Returns:
        The fit, float32, on ``device``.
    """
    eps = _check_eps(eps)
    if images.ndim != 4 or images.shape[0] < 2:
        raise ValueError(f"fit_zca needs (N >= 2, C, H, W) images, got {tuple(images.shape)}.")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}.")
    device = images.device if device is None else torch.device(device)
    device = torch.device("cpu") if device.type == "mps" else device
    n, d = images.shape[0], images[0].numel()
    total = torch.zeros(d, dtype=torch.float64, device=device)
    for part in images.split(chunk):  # pass 1: the mean
        total += _as_float64(part, device).sum(0)
    mean = total / n  # (D,)
    gram = torch.zeros(d, d, dtype=torch.float64, device=device)
    for part in images.split(chunk):  # pass 2: the centred second moment
        centred = _as_float64(part, device) - mean  # (n, D)
        gram.addmm_(centred.T, centred)
    values, vectors = torch.linalg.eigh(gram / (n - 1))  # (D,), (D, D)
    values = values.clamp_min(0.0) + eps  # rounding can leave tiny negative eigenvalues
    matrix = (vectors * values.rsqrt()) @ vectors.T  # U diag(v^-1/2) U^T
    inverse = (vectors * values.sqrt()) @ vectors.T
    return ZCA(
        mean=mean.float(),
        matrix=matrix.float(),
        inverse=inverse.float(),
        eps=eps,
        checksum=images_checksum(images) if checksum is None else int(checksum),
    )


def whiten(x: Tensor, zca: ZCA) -> Tensor:
    """``(..., C, H, W)`` float images -> whitened ``(x - mean) W``, the same shape.

    ``x`` lives in the fit's input space (pixels in [0, 1] for a fit of uint8 images). Always
    in float32: an enclosing autocast (bfloat16 synthesis or evaluation) does not reach it.
    """
    flat = x.reshape(-1, zca.dim).float()  # (n, D)
    with torch.autocast(flat.device.type, enabled=False):
        return ((flat - zca.mean) @ zca.matrix).reshape(x.shape)


def unwhiten(x: Tensor, zca: ZCA) -> Tensor:
    """Whitened ``(..., C, H, W)`` images -> the fit's input space: ``x W^-1 + mean``."""
    flat = x.reshape(-1, zca.dim).float()  # (n, D)
    with torch.autocast(flat.device.type, enabled=False):
        return torch.addmm(zca.mean, flat, zca.inverse).reshape(x.shape)


def whiten_pixels(x: Tensor, zca: ZCA) -> Tensor:
    """uint8 ``(..., C, H, W)`` images -> float32 whitened pixels ``whiten(x / 255)``."""
    return whiten(x.float() / 255.0, zca)


# ------------------------------------------------------------------------------------- cache
def _tensors_crc(entry: dict) -> int:
    crc = 0
    for name in ("mean", "matrix", "inverse"):
        crc = zlib.crc32(entry[name].contiguous().view(torch.uint8).reshape(-1).numpy(), crc)
    return crc


def zca_path(name: str, checksum: int, eps: float, cache_dir: str | Path | None = None) -> Path:
    """The cache file of the fit of the images of ``checksum`` (dataset ``name``) at ``eps``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / f"zca-{name}-{checksum:08x}-eps{float(eps)!r}.pt"


def save_zca(zca: ZCA, path: str | Path) -> Path:
    """Write ``zca`` atomically (CPU tensors, with a CRC-32 of their bytes)."""
    cpu = zca.to("cpu")
    entry = {"format": ZCA_FORMAT, "eps": cpu.eps, "checksum": cpu.checksum, "input": ZCA_INPUT}
    entry.update(mean=cpu.mean, matrix=cpu.matrix, inverse=cpu.inverse)
    entry["crc"] = _tensors_crc(entry)
    save_atomic(entry, Path(path))
    return Path(path)


def load_zca(path: str | Path, checksum: int | None = None, eps: float | None = None) -> ZCA:
    """Read a fit written by ``save_zca``, checking its format, integrity and what it fits.

    Raises:
        ValueError: A foreign, damaged or other data's (``checksum``) or ``eps``'s file.
    """
    entry = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(entry, dict) or entry.get("format") != ZCA_FORMAT:
        raise ValueError(f"'{path}' is not a '{ZCA_FORMAT}' file")
    if entry.get("input") != ZCA_INPUT or entry.get("crc") != _tensors_crc(entry):
        raise ValueError(f"'{path}' is damaged (its checksum does not match its contents)")
    if checksum is not None and entry["checksum"] != checksum:
        raise ValueError(f"'{path}' was fitted on other images")
    if eps is not None and entry["eps"] != float(eps):
        raise ValueError(f"'{path}' was fitted with eps {entry['eps']}, not {eps}")
    fields = ("mean", "matrix", "inverse", "eps", "checksum")
    return ZCA(**{k: entry[k] for k in fields})


def cached_zca(
    images: Tensor,
    eps: float = DEFAULT_EPS,
    name: str = "data",
    cache_dir: str | Path | None = None,
    device: torch.device | str | None = None,
) -> ZCA:
    """``fit_zca`` of ``images``, read from the cache when this data was fitted at ``eps`` before.

    The file is keyed by the images' checksum and ``eps`` (``zca_path``); an unreadable or
    mismatching file is refitted with a warning, never served.

    Args:
        images: ``(N, C, H, W)`` uint8 training images (as ``fit_zca``).
        eps: As ``fit_zca``.
        name: Dataset name, for a readable file name.
        cache_dir: Cache folder (default ``$DCL_CACHE_DIR`` or ``~/.cache/dcl``).
        device: Where a fit runs and where the result is put (default: the images' device).

    Returns:
        The fit, on ``device``.
    """
    eps = _check_eps(eps)
    checksum = images_checksum(images)
    path = zca_path(name, checksum, eps, cache_dir)
    target = images.device if device is None else torch.device(device)
    if path.is_file():
        try:
            return load_zca(path, checksum, eps).to(target)
        except Exception as err:  # noqa: BLE001 - any unusable cache is refitted
            warnings.warn(f"Refitting ZCA cache file '{path}': {err}.", stacklevel=2)
    zca = fit_zca(images, eps, device=target, checksum=checksum).to(target)
    try:
        save_zca(zca, path)
    except OSError as err:
        warnings.warn(f"Could not write ZCA cache file '{path}' ({err}).", stacklevel=2)
    return zca


def find_zca(checksum: int, eps: float, cache_dir: str | Path | None = None) -> ZCA | None:
    """A cached fit of the images of ``checksum`` at ``eps`` (any dataset name), else ``None``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    for path in sorted(root.glob(f"zca-*-{checksum:08x}-eps{float(eps)!r}.pt")):
        try:
            return load_zca(path, checksum, eps)
        except Exception:  # noqa: BLE001, S112 - another candidate may be sound
            continue
    return None
