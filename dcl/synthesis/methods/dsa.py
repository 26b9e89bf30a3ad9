"""DSA, gradient matching with differentiable siamese augmentation (Zhao, Bilen, ICML 2021)."""

from __future__ import annotations

from dcl.synthesis.methods.dc import DC
from dcl.synthesis.settings import DEFAULT_INIT, DEFAULT_LR_IMG, DEFAULT_MOMENTUM_NET


class DSA(DC):
    """DC with the dataset's published siamese augmentation and the release's DSA defaults.

    Real initialisation and plain inner SGD (momentum 0), as the release since its DSA commit;
    the options are DC's.
    """

    name = "dsa"
    bf16_measured = True  # results/precision: MNIST 1 ipc, 3 seeds
    init = DEFAULT_INIT["dsa"]
    lr_img = DEFAULT_LR_IMG["dsa"]
    dsa_strategy = "published"
    momentum_net = DEFAULT_MOMENTUM_NET["dsa"]
