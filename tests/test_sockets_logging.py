"""End to end against a real daphne: what an operator reads about sockets in the logs.

A socket's routine lines (connect, join, leave, close) are DEBUG, so an operator of 20,000 sockets
reads at INFO only what went wrong: the server's own closes (WARNING or ERROR), and refused
handshakes as one episode per reason.
"""

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
    (line,) = await log_lines(server, rf"level=DEBUG logger=sockets event=connect .*:{port} ")
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
    (close,) = await log_lines(verbose, rf"level=DEBUG .*event=close socket={sid} ")
    assert "code=1000" in close and "channels=1" in close


async def test_a_run_of_refused_handshakes_is_one_episode(make_server):
    """A client may repeat a refused handshake at will: the first is logged, then a count."""
    server = make_server(env={"RELAYMAN_EPISODE_QUIET": "1"})
    for _ in range(5):
        with pytest.raises(InvalidStatus):
            async with phoenix(server, "9.9.9"):
                pass
    (ended,) = await log_lines(server, r"event=handshake_refused_ended ")
    assert "level=WARNING" in ended and "reason='unsupported vsn' count=5 " in ended
    (started,) = await log_lines(server, r"event=handshake_refused_started ")
    assert "reason='unsupported vsn'" in started and "detail='vsn=9.9.9'" in started


async def test_a_routine_socket_writes_no_line_at_the_default_level(make_server):
    """Connect, join, leave and close log nothing at INFO; the refusal after them is logged."""
    server = make_server()
    topic = f"source:{new_source()}"
    async with phoenix(server) as client:
        join_ref = await client.join(topic)
        await client.request(topic, "phx_leave", join_ref=join_ref)
        port = client.local_port
    with pytest.raises(InvalidStatus):  # its WARNING comes after the socket above was served
        async with phoenix(server, "8.8.8"):
            pass
    await log_lines(server, r"event=handshake_refused_started .*detail='vsn=8.8.8'")
    assert not re.search(rf"event=connect .*:{port} |event=(join|leave|close) ", server.logs())
