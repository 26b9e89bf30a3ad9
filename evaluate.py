"""Evaluate a synthetic set: ``python evaluate.py --synthetic PATH --baseline random``.

Run ``python evaluate.py --help`` for every option; ``dcl.evaluation.cli`` documents the spec form.
"""

from dcl.evaluation.cli import main

if __name__ == "__main__":
    main()
