"""Console entry points: errors a user can fix print as one message, not a traceback.

``DCL_DEBUG=1`` re-raises them with the full traceback (for bug reports). Every command of the
package (``dcl-train``, ``dcl-evaluate``, ``dcl-experts``, ``dcl-continual``, ``dcl-nas`` and the
scripts beside the repository's README) goes through :func:`run`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from lightning.fabric.utilities.exceptions import MisconfigurationException

# Raised for settings and files a user gives: the message says what was wrong and how to fix it.
# FloatingPointError is the non-finite-loss stop (its message names the step and the remedies).
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    FileNotFoundError,
    ImportError,
    FloatingPointError,
    MisconfigurationException,
)


def debugging() -> bool:
    """Whether ``DCL_DEBUG`` asks for tracebacks."""
    return os.environ.get("DCL_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def run(main: Callable[[list[str] | None], Any], args: list[str] | None = None) -> int:
    """Run a command's ``main(args)``; a user error prints ``error: ...`` and returns 2.

    Args:
        main: The command (takes the argument list, ``None`` for ``sys.argv[1:]``).
        args: Arguments to pass on.

    Returns:
        The exit status: 0 on success, 2 for a user error.
    """
    try:
        main(args)
    except USER_ERRORS as err:
        if debugging():
            raise
        name = os.path.basename(sys.argv[0]) or "dcl"
        print(f"{name}: error: {err}", file=sys.stderr)
        print("(set DCL_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 2
    return 0


def train() -> int:
    """``dcl-train``: the synthesis Lightning CLI (``dcl-train fit --config quickstart``)."""
    from dcl.cli import train_main

    return run(train_main)


def evaluate() -> int:
    """``dcl-evaluate``: evaluate a synthetic set against a baseline."""
    from dcl.evaluation.cli import main

    return run(main)


def continual() -> int:
    """``dcl-continual``: class-incremental learning with condensed memories."""
    from dcl.applications.continual_cli import continual_main

    return run(continual_main)


def experts() -> int:
    """``dcl-experts``: train expert trajectories for trajectory matching (MTT)."""
    from dcl.methods.mtt.cli import main

    return run(main)


def nas() -> int:
    """``dcl-nas``: rank candidate networks on condensed proxies."""
    from dcl.applications.nas_cli import nas_main

    return run(nas_main)
