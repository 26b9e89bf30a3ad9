"""Condensed sets as an architecture-search proxy: ``python nas.py --help``.

Example (CPU-sized): ``python nas.py --dataset mnist --data_root ../shared/datasets --ipc 10
--full_subset 6000 --output results/nas``.
"""

from dcl.applications.nas_cli import nas_main

if __name__ == "__main__":
    nas_main()
