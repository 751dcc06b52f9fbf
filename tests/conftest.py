import pytest

from tests.support.redis import RedisServer
from tests.support.server import Server


@pytest.fixture(scope="session")
def server():
    """One Relayman process with default settings, shared by the end-to-end tests."""
    with Server() as running:
        yield running


@pytest.fixture
def make_server():
    """Start Relayman processes with their own environment; all are stopped afterwards."""
    started = []

    def make(**kwargs) -> Server:
        srv = Server(**kwargs).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.close()


@pytest.fixture
def redis_server():
    """A fresh redis-server of our own on a free port; killed afterwards."""
    with RedisServer() as running:
        yield running
