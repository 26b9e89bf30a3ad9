"""dcl: dataset condensation (DC, DSA, DM) and coreset baselines on PyTorch Lightning."""

__version__ = "0.1.0"
