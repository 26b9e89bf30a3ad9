"""Reproducible randomness: every draw comes from an explicit generator with a derived seed."""

from __future__ import annotations

import hashlib

import torch

# Independent random streams of one synthesis step (BN_STATS: DC's batch-norm statistics images,
# drawn independently of the matching batch, as the release's separate get_images calls are).
REAL, NETWORK, AUGMENT, INIT, INNER, BN_STATS = 0, 1, 2, 3, 4, 5
# MTT: EXPERT picks the expert trajectory and its start epoch; STUDENT draws the unrolled
# student's minibatches and their augmentation.
EXPERT, STUDENT = 6, 7


def step_seed(seed: int, rank: int, step: int, stream: int = 0) -> int:
    """A distinct 63-bit seed for each (run seed, rank, step, random stream).

    Deriving seeds instead of carrying generator state makes resumed and multi-process runs
    draw exactly what one uninterrupted run would have. The tuple is hashed because the CPU
    generator (Mersenne Twister) only uses the low 32 bits of a seed.
    """
    key = f"{seed}/{rank}/{step}/{stream}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)
