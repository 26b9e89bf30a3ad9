"""Class-incremental continual learning with condensed memories: ``python continual.py --help``.

Example (CPU-sized): ``python continual.py --dataset mnist --data_root /path/to/datasets
--steps 5 --ipc 10 --methods dm,herding,random --output results/continual`` (without
``--data_root``: ``$DCL_DATA_ROOT``, else ``./data``).
"""

import sys

from dcl import console

if __name__ == "__main__":
    sys.exit(console.continual())
