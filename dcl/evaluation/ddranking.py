"""DD-Ranking's scores from accuracies: pure functions, the formulas and nothing else.

Source: Li et al., "DD-Ranking: Rethinking the Evaluation of Dataset Distillation",
arXiv:2505.13300, and its package ``ddranking`` (GitHub NUS-HPC-AI-Lab/DD-Ranking: the
introduction of its documentation, ``ddranking/metrics/soft_label.py`` and ``aug_robust.py``).

- Hard-label recovery ``HLR = acc(real, hard) - acc(syn, hard)``: how far the set is, with
  hard labels, from the full training set.
- Improvement over random ``IOR = acc(syn, any) - acc(random, any)``: the set against a random
  real subset of the same size, both trained the set's own way (soft labels, augmentation).
- Label-robust score: ``alpha = w * IOR - (1 - w) * HLR``,
  ``LRS = 100% * (e^alpha - e^-1) / (e - e^-1)``, ``w = 0.5``.
- Augmentation-robust score: ``beta = g * (acc(syn, aug) - acc(random, aug)) + (1 - g) *
  (acc(syn, no aug) - acc(random, no aug))``, normalised as LRS, ``g = 0.5``.

The paper's accuracies are fractions, so ``alpha`` and ``beta`` lie in [-1, 1] and the scores in
[0, 100] %. These functions take accuracies in % (as ``run_protocol`` reports them), return
HLR and IOR in percentage points, and exponentiate fractions. (The package's 0.2.0 release
exponentiates differences of percentages instead, so its scores leave [0, 1] once ``alpha``
passes one percentage point either way; the paper's definition is followed here.)
"""

from __future__ import annotations

import math

# DD-Ranking's leaderboard weights (``lrs_lambda`` and ``ars_lambda``).
DEFAULT_WEIGHT = 0.5


def hard_label_recovery(real_hard: float, syn_hard: float) -> float:
    """``HLR``: full-data minus set accuracy with hard labels, in percentage points."""
    return real_hard - syn_hard


def improvement_over_random(syn: float, random: float) -> float:
    """``IOR``: set minus same-size random-subset accuracy, in percentage points."""
    return syn - random


def normalized_score(x: float) -> float:
    """``100 * (e^x - e^-1) / (e - e^-1)``: maps ``x`` in [-1, 1] onto [0, 100] %."""
    return 100.0 * (math.exp(x) - math.exp(-1.0)) / (math.e - math.exp(-1.0))


def label_robust_score(
    real_hard: float,
    syn_hard: float,
    syn_soft: float,
    random_soft: float,
    weight: float = DEFAULT_WEIGHT,
) -> dict[str, float]:
    """DD-Ranking's LRS and its components from accuracies in %.

    Args:
        real_hard: A network trained on the full training split, hard labels.
        syn_hard: Trained on the set with hard labels.
        syn_soft: Trained on the set the set's way (soft labels).
        random_soft: Trained on a same-size random real subset, the same way.
        weight: ``w``, the weight of IOR against HLR.

    Returns:
        ``{"hlr", "ior"}`` in percentage points, ``"lrs"`` in %.
    """
    hlr = hard_label_recovery(real_hard, syn_hard)
    ior = improvement_over_random(syn_soft, random_soft)
    alpha = (weight * ior - (1.0 - weight) * hlr) / 100.0
    return {"hlr": hlr, "ior": ior, "lrs": normalized_score(alpha)}


def augmentation_robust_score(
    syn_aug: float,
    random_aug: float,
    syn_plain: float,
    random_plain: float,
    weight: float = DEFAULT_WEIGHT,
) -> dict[str, float]:
    """DD-Ranking's ARS and its two improvements over random from accuracies in %.

    Args:
        syn_aug: Trained on the set with augmentation.
        random_aug: Trained on the random subset with augmentation.
        syn_plain: Trained on the set without augmentation.
        random_plain: Trained on the random subset without augmentation.
        weight: ``gamma``, the weight of the augmented gap.

    Returns:
        ``{"gain_aug", "gain_plain"}`` in percentage points, ``"ars"`` in %.
    """
    gain_aug = improvement_over_random(syn_aug, random_aug)
    gain_plain = improvement_over_random(syn_plain, random_plain)
    beta = (weight * gain_aug + (1.0 - weight) * gain_plain) / 100.0
    return {"gain_aug": gain_aug, "gain_plain": gain_plain, "ars": normalized_score(beta)}
