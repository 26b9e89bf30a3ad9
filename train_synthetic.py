"""Condense a dataset: ``python train_synthetic.py fit --config configs/quickstart.yaml``."""

import sys

from dcl import console

if __name__ == "__main__":
    sys.exit(console.train())
