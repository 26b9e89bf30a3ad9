"""Class-incremental continual learning with condensed memories: ``python continual.py --help``.

Example (CPU-sized): ``python continual.py --dataset mnist --data_root ../shared/datasets
--steps 5 --ipc 10 --methods dm,herding,random --output results/continual``.
"""

from dcl.applications.continual_cli import continual_main

if __name__ == "__main__":
    continual_main()
