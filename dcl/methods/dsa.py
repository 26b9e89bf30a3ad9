"""DSA, gradient matching with differentiable siamese augmentation (Zhao, Bilen, ICML 2021)."""

from __future__ import annotations

from dcl.methods.dc import DC
from dcl.methods.dm import DSA_EVALUATION


class DSA(DC):
    """DC with the dataset's published siamese augmentation and the release's DSA defaults.

    Real initialisation and plain inner SGD (momentum 0), as the release since its DSA commit;
    the options are DC's.
    """

    name = "dsa"
    evaluation = DSA_EVALUATION  # the release's evaluate_synset with DSA: 1000 epochs
    bf16_measured = True  # results/precision: MNIST 1 ipc, 3 seeds
    init = "real"
    lr_img = 0.1
    dsa_strategy = "published"
    momentum_net = 0.0
