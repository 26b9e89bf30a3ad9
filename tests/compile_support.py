"""Skip marker for tests of ``torch.compile`` on CPU, which needs a C++ compiler."""

import pytest

from dcl.calls import cpu_compiler

needs_compiler = pytest.mark.skipif(
    cpu_compiler() is None,
    reason="torch.compile on CPU needs a C++ compiler (g++ or $CXX) and none was found",
)
