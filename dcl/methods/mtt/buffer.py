"""An on-disk buffer of expert trajectories: a manifest and one shard file per expert.

Layout of a buffer directory::

    manifest.json          what the experts learnt from and how (``dcl.methods.mtt.manifest``)
    expert_00000.pt        {"format", "expert", "seed", "trajectory": float32 (epochs + 1, P)}
    expert_00001.pt        ...
    expert_00002.partial.pt  an expert being trained (resumed at its last finished epoch)

Row ``e`` of a trajectory holds the network's parameters after epoch ``e`` (row 0: the
initialisation), flattened and concatenated in ``net.named_parameters()`` order. Every file is
written atomically, so a shard that exists is complete: an interrupted run leaves only whole
shards (and perhaps a partial file), and a rerun trains exactly the missing experts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dcl.data.cache import save_atomic
from dcl.data.registry import DatasetInfo
from dcl.methods.mtt.manifest import (
    FORMAT,
    MANIFEST,
    VERSION,
    manifest_differences,
    run_differences,
)
from dcl.networks.flat import unflatten_parameters

SHARD_FORMAT = "dcl-expert-trajectory-v1"
PARTIAL_FORMAT = "dcl-expert-partial-v1"
_SHARD = re.compile(r"expert_(\d+)\.pt")


def shard_name(expert: int) -> str:
    """File name of expert ``expert``'s trajectory (``expert_00007.pt``)."""
    return f"expert_{expert:05d}.pt"


def partial_name(expert: int) -> str:
    """File name of expert ``expert``'s unfinished trajectory (``expert_00007.partial.pt``)."""
    return f"expert_{expert:05d}.partial.pt"


class ExpertBuffer:
    """Read access to a buffer directory written by ``train_experts``.

    Args:
        path: The buffer directory (holding ``manifest.json``).

    Raises:
        FileNotFoundError: No manifest there (the message says how to make one).
        ValueError: The manifest is not a readable buffer manifest of this format.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        file = self.path / MANIFEST
        if not file.is_file():
            raise FileNotFoundError(
                f"No expert buffer at '{self.path}' (no {MANIFEST}). Train experts first: "
                f"python train_experts.py --dataset NAME --out {self.path}"
            )
        try:
            manifest = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"Cannot read '{file}': {err}") from err
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"'{file}' is not a {FORMAT} manifest.")
        if manifest.get("version") != VERSION:
            raise ValueError(
                f"'{file}' has buffer version {manifest.get('version')}; this dcl reads version "
                f"{VERSION}. Retrain the experts with this version into a new --out folder."
            )
        self.manifest: dict[str, Any] = manifest

    @classmethod
    def create(cls, path: str | Path, manifest: Mapping[str, Any]) -> ExpertBuffer:
        """Open the buffer at ``path``, writing ``manifest`` first if there is none yet.

        Raises:
            ValueError: A buffer is there already, made with other settings (listed).
        """
        path = Path(path)
        if not (path / MANIFEST).is_file():
            path.mkdir(parents=True, exist_ok=True)
            tmp = path / f".{MANIFEST}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(manifest, indent=2) + "\n")
            os.replace(tmp, path / MANIFEST)
        buffer = cls(path)
        buffer.check_appendable(manifest)
        return buffer

    def check_appendable(self, manifest: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` unless experts trained with ``manifest`` may join this buffer.

        Args:
            manifest: The manifest of the experts about to be added (``buffer_manifest``).
        """
        if differ := manifest_differences(self.manifest, manifest):
            raise ValueError(
                f"The expert buffer at '{self.path}' was made with other settings; adding "
                f"experts would mix trajectories. Differences (buffer -> this run): "
                f"{'; '.join(differ)}. Rerun with the buffer's settings, or pass a new --out "
                "folder for these ones."
            )

    @property
    def epochs(self) -> int:
        """Epochs per expert (each trajectory has ``epochs + 1`` rows)."""
        return int(self.manifest["epochs"])

    @property
    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter name -> shape, in ``named_parameters()`` (= flattening) order."""
        return {p["name"]: tuple(p["shape"]) for p in self.manifest["parameters"]}

    @property
    def num_parameters(self) -> int:
        """``P``: the length of one flat parameter vector."""
        return int(self.manifest["num_parameters"])

    @property
    def experts(self) -> list[int]:
        """Indices of the complete experts, sorted (gaps: experts still to be trained)."""
        found = (_SHARD.fullmatch(f.name) for f in self.path.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    @property
    def num_experts(self) -> int:
        """How many complete experts the buffer holds."""
        return len(self.experts)

    def has(self, expert: int) -> bool:
        """Whether expert ``expert``'s shard is complete.

        Args:
            expert: The expert's index.
        """
        return (self.path / shard_name(expert)).is_file()

    def load(
        self, expert: int, map_location: torch.device | str = "cpu", mmap: bool = False
    ) -> Tensor:
        """Expert ``expert``'s trajectory: float32 ``(epochs + 1, P)``, row 0 the initialisation.

        Args:
            expert: The expert's index.
            map_location: Where the tensor is loaded.
            mmap: Memory-map the shard instead of reading it: indexing a few rows then reads
                only those (MTT needs 2 of the 51 rows of a CIFAR expert, about 65 MB).

        Raises:
            FileNotFoundError: The expert has not been trained (the message lists those that are).
            ValueError: The shard does not belong to this buffer or is damaged.
        """
        file = self.path / shard_name(expert)
        if not file.is_file():
            have = self.experts
            shown = f"{have[:10]}{' ...' if len(have) > 10 else ''}"
            raise FileNotFoundError(
                f"Expert {expert} is not in the buffer at '{self.path}' (it holds {len(have)}: "
                f"{shown}). Train more with train_experts.py --num_experts {expert + 1}."
            )
        try:
            entry = torch.load(file, map_location=map_location, weights_only=True, mmap=mmap)
        except Exception:  # noqa: BLE001 - reported below with the remedy
            entry = None
        trajectory = entry.get("trajectory") if isinstance(entry, dict) else None
        shape = (self.epochs + 1, self.num_parameters)
        if (
            not isinstance(entry, dict)
            or entry.get("format") != SHARD_FORMAT
            or not isinstance(trajectory, Tensor)
            or tuple(trajectory.shape) != shape
            or trajectory.dtype != torch.float32
        ):
            raise ValueError(
                f"'{file}' is not a trajectory of this buffer (expected float32 {shape}); delete "
                "it and rerun train_experts.py to retrain that expert."
            )
        return trajectory

    def seed(self, expert: int) -> int:
        """The seed expert ``expert`` was trained from (stored in its shard).

        Args:
            expert: The expert's index.
        """
        return int(torch.load(self.path / shard_name(expert), weights_only=True)["seed"])

    def save(self, expert: int, trajectory: Tensor, seed: int) -> Path:
        """Write expert ``expert``'s finished trajectory atomically; drop its partial file.

        Args:
            expert: The expert's index.
            trajectory: ``(epochs + 1, P)`` its flat parameters, row 0 the initialisation.
            seed: The seed it was trained from.

        Returns:
            The shard's path.
        """
        shape = (self.epochs + 1, self.num_parameters)
        if tuple(trajectory.shape) != shape:
            raise ValueError(f"trajectory is {tuple(trajectory.shape)}, expected {shape}.")
        entry = {
            "format": SHARD_FORMAT,
            "expert": int(expert),
            "seed": int(seed),
            "trajectory": trajectory.detach().to("cpu", torch.float32).contiguous(),
        }
        file = self.path / shard_name(expert)
        save_atomic(entry, file)
        (self.path / partial_name(expert)).unlink(missing_ok=True)
        return file

    def save_partial(self, expert: int, state: Mapping[str, Any]) -> None:
        """Write an unfinished expert's state (``ExpertTraining.partial_state``) atomically.

        Args:
            expert: The expert's index.
            state: What ``ExpertTraining.partial_state`` returned.
        """
        save_atomic({"format": PARTIAL_FORMAT, **state}, self.path / partial_name(expert))

    def load_partial(self, expert: int, seed: int) -> dict[str, Any] | None:
        """The unfinished state of expert ``expert`` trained from ``seed``, or ``None``.

        A partial file that cannot be read, or was left by another seed, is ignored (the expert
        then starts again from its initialisation, which gives the same trajectory).

        Args:
            expert: The expert's index.
            seed: The seed it trains from.
        """
        file = self.path / partial_name(expert)
        if not file.is_file():
            return None
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a damaged partial file only costs the epochs in it
            return None
        if (
            not isinstance(state, dict)
            or state.get("format") != PARTIAL_FORMAT
            or state.get("seed") != seed
            or not 0 < state.get("epoch", 0) <= self.epochs
        ):
            return None
        return state

    def unflatten(self, vector: Tensor) -> dict[str, Tensor]:
        """Split one flat parameter vector ``(P,)`` into ``{name: tensor}`` views, in order.

        Args:
            vector: One row of ``load(i)``.
        """
        if vector.ndim != 1 or vector.numel() != self.num_parameters:
            raise ValueError(
                f"expected a flat vector of {self.num_parameters} parameters, got shape "
                f"{tuple(vector.shape)} (pass one row of load(i))."
            )
        return unflatten_parameters(self.parameter_shapes, vector)

    def validate(
        self,
        network: str | nn.Module,
        info: DatasetInfo,
        zca: bool | None = None,
        validation: dict | None = None,
    ) -> None:
        """Raise ``ValueError`` unless the buffer's experts fit this network, dataset and ZCA.

        Args:
            network: A network name (compared with the buffer's) or a network (its parameter
                names and shapes are compared).
            info: The dataset the synthetic set is distilled from.
            zca: Whether this run whitens its images (``None``: not checked).
            validation: This run's validation split (``None``: not checked).
        """
        m = self.manifest
        differ = run_differences(m, network, info, zca, validation)
        if differ:
            flag = " --zca true" if zca else ""
            if validation is not None:
                flag += f" --val_size {validation['val_size']} --val_seed {validation['seed']}"
            raise ValueError(
                f"The expert buffer at '{self.path}' does not fit this run: "
                f"{'; '.join(differ)} (buffer vs run). Train experts for this setting "
                f"(python train_experts.py --dataset {info.name} --network "
                f"{network if isinstance(network, str) else m['network']}{flag} --out DIR) and "
                "point to that buffer."
            )

    def __repr__(self) -> str:
        m = self.manifest
        return (
            f"ExpertBuffer('{self.path}': {self.num_experts} {m['network']} experts x "
            f"{self.epochs} epochs on {m['dataset']}, zca={m['zca']})"
        )
