"""End to end against a real daphne: what an operator reads about sockets in the logs."""

import asyncio
import re

import pytest
from websockets.exceptions import InvalidStatus

from tests.support.server import Server
from tests.support.sockets_client import TIMEOUT, new_source, phoenix


async def log_lines(server: Server, pattern: str, count: int = 1) -> list[str]:
    """Await `count` log lines matching `pattern` (a regular expression)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            lines = [line for line in server.logs().splitlines() if re.search(pattern, line)]
            if len(lines) >= count:
                return lines
            await asyncio.sleep(0.02)


async def socket_id(server: Server, port: int) -> str:
    (line,) = await log_lines(server, rf"level=INFO logger=sockets event=connect .*:{port} ")
    return re.search(r"socket=(\d+)", line).group(1)


@pytest.fixture(scope="module")
def verbose():
    with Server(env={"RELAYMAN_LOG_LEVEL": "DEBUG"}) as running:
        yield running


async def test_connect_join_leave_and_close_are_logged(verbose):
    source = new_source()
    async with phoenix(verbose, "1.0.0", origin="https://app.example") as client:
        port = client.local_port
        join_ref = await client.join(f"source:{source}")
        await client.join(f"source:{source}/other")
        await client.request(f"source:{source}", "phx_leave", join_ref=join_ref)
    sid = await socket_id(verbose, port)
    (connect,) = await log_lines(verbose, rf"event=connect socket={sid} ")
    assert "vsn=1.0.0" in connect and "origin='https://app.example'" in connect
    assert connect.endswith(" push=direct")  # daphne over TCP: pushes skip the ASGI detour
    assert await log_lines(verbose, rf"level=DEBUG .*event=join socket={sid} source='{source}'")
    assert await log_lines(verbose, rf"level=DEBUG .*event=leave socket={sid} source='{source}'")
    (close,) = await log_lines(verbose, rf"level=INFO .*event=close socket={sid} ")
    assert "code=1000" in close and "channels=1" in close


async def test_refused_handshakes_are_one_warning_each(verbose):
    with pytest.raises(InvalidStatus):
        async with phoenix(verbose, "9.9.9"):
            pass
    (line,) = await log_lines(verbose, r"event=refused .*detail='vsn=9.9.9'")
    assert "level=WARNING" in line and "reason='unsupported vsn'" in line


async def test_joins_are_not_logged_at_the_default_level(server):
    async with phoenix(server) as client:
        port = client.local_port
        await client.join(f"source:{new_source()}")
    sid = await socket_id(server, port)
    await log_lines(server, rf"event=close socket={sid} ")
    assert not re.search(rf"event=join socket={sid} ", server.logs())
