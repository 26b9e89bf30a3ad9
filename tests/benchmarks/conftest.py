"""Every benchmark test leaves torch's thread count as it found it (the tools set ``--threads``)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
