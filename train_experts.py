"""Train expert trajectories for trajectory matching: ``python train_experts.py --dataset cifar10``.

Run ``python train_experts.py --help`` for every option; ``dcl.methods.mtt.cli`` documents them.
"""

import sys

from dcl import console

if __name__ == "__main__":
    sys.exit(console.experts())
