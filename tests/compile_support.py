"""Marks for tests of ``torch.compile`` on CPU: ``compile``, and a skip without a C++ compiler."""

import pytest

from dcl.calls import cpu_compiler

COMPILER_MARKS = (
    pytest.mark.compile,
    pytest.mark.skipif(
        cpu_compiler() is None,
        reason="torch.compile on CPU needs a C++ compiler (g++ or $CXX) and none was found",
    ),
)


def needs_compiler(test):
    """Decorator: mark a test ``compile`` and skip it where no C++ compiler exists."""
    for mark in COMPILER_MARKS:
        test = mark(test)
    return test
