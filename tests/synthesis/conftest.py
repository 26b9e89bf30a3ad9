import pytest


@pytest.fixture(scope="session")
def digits_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("dcl-cache")
