import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_thread():
    """Tiny networks on a shared 2-core machine run far faster on one intra-op thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
