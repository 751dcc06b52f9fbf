"""End to end against a real daphne: silent sockets are closed, heartbeats keep them open."""

import asyncio
import time

import pytest

from tests.support.server import Server
from tests.support.sockets_client import new_source, phoenix, post_event


@pytest.fixture(scope="module")
def impatient():
    """A server that closes a socket after one second without a frame."""
    with Server(env={"RELAYMAN_IDLE_TIMEOUT": "1"}) as running:
        yield running


async def test_a_silent_socket_is_closed_after_the_idle_timeout(impatient):
    async with phoenix(impatient) as client:
        await client.join(f"source:{new_source()}")
        joined_at = time.monotonic()
        notice = await client.recv()
        assert notice == [
            None,
            None,
            "phoenix",
            "phx_error",
            {"reason": "no frame received for 1s (idle timeout)"},
        ]
        assert (await client.closed())[0] == 4000
        assert 0.9 <= time.monotonic() - joined_at < 3


async def test_heartbeats_keep_a_socket_open_past_the_idle_timeout(impatient):
    source = new_source()
    async with phoenix(impatient) as client:
        await client.join(f"source:{source}")
        for _ in range(6):  # 2.4 s in all, each gap under the 1 s timeout
            await asyncio.sleep(0.4)
            assert (await client.request("phoenix", "heartbeat"))[4]["status"] == "ok"
        event = await post_event(impatient, source)
        assert (await client.recv())[4] == event
