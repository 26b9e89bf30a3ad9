"""Condensed sets as an architecture-search proxy: ``python nas.py --help``.

Example (CPU-sized): ``python nas.py --dataset mnist --data_root ../shared/datasets --ipc 10
--full_subset 6000 --output results/nas``.
"""

import sys

from dcl import console

if __name__ == "__main__":
    sys.exit(console.nas())
