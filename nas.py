"""Condensed sets as an architecture-search proxy: ``python nas.py --help``.

Example (CPU-sized): ``python nas.py --dataset mnist --data_root /path/to/datasets --ipc 10
--full_subset 6000 --output results/nas`` (without ``--data_root``: ``$DCL_DATA_ROOT``, else
``./data``).
"""

import sys

from dcl import console

if __name__ == "__main__":
    sys.exit(console.nas())
