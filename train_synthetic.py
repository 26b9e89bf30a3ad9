"""Condense a dataset: ``python train_synthetic.py fit --config configs/quickstart.yaml``."""

from dcl.cli import train_main

if __name__ == "__main__":
    train_main()
