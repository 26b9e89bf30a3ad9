"""Evaluate a synthetic set: ``python evaluate.py --synthetic PATH --baseline random``.

Run ``python evaluate.py --help`` for every option; ``dcl.evaluation.cli`` documents the spec form.
"""

import sys

from dcl import console

if __name__ == "__main__":
    sys.exit(console.evaluate())
