"""SIGTERM drains the server: /readyz 503 at once, new sockets refused, open sockets closed in
batches with a phx_error per channel and 1012, requests in flight answered, then the exit.

Real server processes, real sockets (the `websockets` library, raw TCP for a slow POST).
"""

import asyncio
import json
import re
import signal
import time
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.sockets_client import TIMEOUT, new_source, phoenix
from tests.support.wait import await_until

DRAIN_SECONDS = 2  # four batches, 0.5 s apart (server_drain.BATCH_INTERVAL)
GRACE_SECONDS = 5  # server_drain.GRACE_SECONDS
SOCKETS = 8


def drain_lines(server, event: str) -> list[str]:
    return [line for line in server.logs().splitlines() if f"event={event}" in line]


async def exited(server, timeout: float) -> float:
    """Wait for the server process to exit; how long it took."""
    began = time.monotonic()
    await await_until(lambda: server.process.poll() is not None, "the server's exit", timeout)
    return time.monotonic() - began


async def until_closed(client) -> tuple[list, int, float]:
    """Every frame until the server closes the socket; the close code; when it closed."""
    frames = []
    try:
        async with asyncio.timeout(DRAIN_SECONDS + GRACE_SECONDS):
            while True:
                frames.append(json.loads(await client.ws.recv()))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None, time.monotonic()


class SlowPost:
    """A POST /events whose body is still on its way: a request in flight."""

    def __init__(self, server):
        self.server = server
        source = new_source()
        self.body = json.dumps({"id": uuid.uuid4().hex, "source": source, "type": "t"}).encode()

    async def begin(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        head = (
            "POST /events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        )
        self.writer.write(head.encode() + self.body[:10])
        await self.writer.drain()

    async def finish(self) -> int:
        self.writer.write(self.body[10:])
        await self.writer.drain()
        async with asyncio.timeout(TIMEOUT):
            answer = await self.reader.read()
        self.writer.close()
        return int(answer.split(b" ", 2)[1])


async def test_sigterm_drains_sockets_in_batches_and_exits_once_done(make_server):
    server = make_server(
        env={"RELAYMAN_DRAIN_SECONDS": str(DRAIN_SECONDS), "RELAYMAN_LOG_LEVEL": "DEBUG"}
    )
    sources = [new_source(), new_source()]
    async with asyncio.TaskGroup() as opening:
        contexts = [phoenix(server) for _ in range(SOCKETS)]
        clients = [opening.create_task(context.__aenter__()) for context in contexts]
    clients = [task.result() for task in clients]
    memberships = []
    for client in clients:
        memberships.append({f"source:{s}": await client.join(f"source:{s}") for s in sources})
    slow = SlowPost(server)
    await slow.begin()

    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        ready = await await_until(
            lambda: _status_if(http, "/readyz", 503), "/readyz to answer 503", timeout=1
        )
        assert ready.json()["draining"] is True and "shutting down" in ready.json()["message"]
        assert (await http.get("/healthz")).status_code == 200
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{server.ws_url}/socket/websocket?vsn=2.0.0", proxy=None):
            pass
    assert refused.value.response.status_code == 503
    assert "draining" in json.loads(refused.value.response.body)["detail"]
    assert await slow.finish() == 201  # the request in flight is answered

    results = await asyncio.gather(*(until_closed(client) for client in clients))
    for (frames, code, _), joined in zip(results, memberships, strict=True):
        assert code == 1012
        restarting = {"reason": "server restarting"}
        assert frames == [
            *([ref, ref, topic, "phx_error", restarting] for topic, ref in joined.items()),
            [None, None, "phoenix", "phx_error", restarting],
        ]
    closes = sorted(when - signalled for _, _, when in results)
    # Four batches of two, the last one 1.5 s after the first.
    assert closes[-1] - closes[0] >= 1.2, closes
    batches = drain_lines(server, "drain_batch")
    assert [re.search(r"sockets=(\d+)", line)[1] for line in batches] == ["2"] * 4, batches

    took = await exited(server, DRAIN_SECONDS + GRACE_SECONDS)
    assert took < GRACE_SECONDS  # the exit came before the deadline, once all was done
    [started] = drain_lines(server, "drain_started")
    assert "level=INFO" in started and f"sockets={SOCKETS} requests=1" in started
    [ended] = drain_lines(server, "drain_ended")
    assert "level=INFO" in ended and "reason='done'" in ended
    assert f"sockets_closed={SOCKETS} sockets_left=0 requests_left=0" in ended
    for context in contexts:
        await context.__aexit__(None, None, None)


async def _status_if(http: httpx.AsyncClient, path: str, status: int):
    response = await http.get(path)
    return response if response.status_code == status else None


async def test_the_deadline_ends_a_drain_a_request_holds_up(make_server):
    env = {"RELAYMAN_DRAIN_SECONDS": "0", "RELAYMAN_BODY_TIMEOUT": "60", "LOG_FORMAT": "json"}
    server = make_server(env=env)
    slow = SlowPost(server)
    await slow.begin()
    server.process.send_signal(signal.SIGTERM)
    took = await exited(server, GRACE_SECONDS + TIMEOUT)
    assert took >= GRACE_SECONDS - 0.5
    [started] = map(json.loads, drain_lines(server, "drain_started"))
    assert started["level"] == "INFO" and started["logger"] == "relayman.server"
    assert started["requests"] == 1 and started["deadline_seconds"] == GRACE_SECONDS
    [ended] = map(json.loads, drain_lines(server, "drain_ended"))
    assert ended["reason"] == "deadline" and ended["requests_left"] == 1


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
async def test_a_second_signal_ends_the_drain_at_once(make_server, second):
    server = make_server(env={"RELAYMAN_DRAIN_SECONDS": "60"})
    slow = SlowPost(server)  # holds the drain up until its deadline
    await slow.begin()
    server.process.send_signal(signal.SIGTERM)
    await await_until(lambda: drain_lines(server, "drain_started"), "the drain to begin")
    server.process.send_signal(second)
    assert await exited(server, TIMEOUT) < TIMEOUT
    [ended] = drain_lines(server, "drain_ended")
    assert f"reason='{second.name} during the drain'" in ended and "requests_left=1" in ended
