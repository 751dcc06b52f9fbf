"""Deadlines for a request's headers and body: a slow client is cut, everyone else is served.

Against a real server with short deadlines (RELAYMAN_HEADER_TIMEOUT, RELAYMAN_BODY_TIMEOUT), over
raw sockets that send a byte at a time, as a slowloris client does.
"""

import asyncio
import contextlib
import json
import socket
import time
import uuid

import httpx
import pytest
import websockets

from tests.support.server import Server
from tests.support.wait import wait_until

HEADER_TIMEOUT = 2
BODY_TIMEOUT = 3
SLACK = 2.5  # how late a cut may come on a busy two-core machine
EARLY = 0.1  # how much sooner the server's clock may start, when it starts on its answer
DEADLINES = {"RELAYMAN_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "RELAYMAN_BODY_TIMEOUT": "3"}
HEADERS_408 = {
    "detail": "The request's headers did not arrive within 2 seconds (RELAYMAN_HEADER_TIMEOUT)."
}
BODY_408 = {
    "detail": "The request's body did not arrive within 3 seconds of its headers "
    "(RELAYMAN_BODY_TIMEOUT)."
}
HEAD = b"POST /events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def relay():
    with Server(env=DEADLINES) as running:
        yield running


async def trickle(port: int, head: bytes, drip: bytes, timeout: float) -> tuple[float, bytes]:
    """Send `head`, then `drip` one byte a second; the seconds until the server closed, and
    everything it answered."""
    started = time.monotonic()  # before the server can have accepted: its clock starts later
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def drip_bytes():
        writer.write(head)
        for byte in drip:
            await asyncio.sleep(1)  # the client's pace, not a wait for the server
            writer.write(bytes([byte]))
            await writer.drain()

    dripping = asyncio.create_task(drip_bytes())
    try:
        answer = await asyncio.wait_for(reader.read(), timeout)
        return time.monotonic() - started, answer
    finally:
        dripping.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await dripping
        writer.close()


def answer_of(raw: bytes) -> tuple[str, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), json.loads(body)


def event() -> dict:
    return {"id": uuid.uuid4().hex, "source": "/server/deadlines", "type": "created"}


def test_headers_that_trickle_in_are_cut_at_the_deadline(relay):
    seconds, raw = asyncio.run(trickle(relay.port, HEAD, b"X-Slow: " + b"a" * 60, 10))

    assert answer_of(raw) == ("HTTP/1.1 408 Request Timeout", HEADERS_408)
    assert HEADER_TIMEOUT <= seconds < HEADER_TIMEOUT + SLACK


def test_a_body_that_trickles_in_is_cut_at_its_deadline(relay):
    head = HEAD + b"Content-Length: 100\r\n\r\n"

    seconds, raw = asyncio.run(trickle(relay.port, head, b"{" * 100, 10))

    assert answer_of(raw) == ("HTTP/1.1 408 Request Timeout", BODY_408)
    assert BODY_TIMEOUT <= seconds < BODY_TIMEOUT + SLACK


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(relay):
    seconds, raw = asyncio.run(trickle(relay.port, b"", b"", 10))

    assert raw == b""
    assert HEADER_TIMEOUT <= seconds < HEADER_TIMEOUT + SLACK


def test_a_keep_alive_connection_serves_requests_then_closes_when_idle(relay):
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        for _ in range(2):  # each answer restarts the wait for the next request
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed, with no answer: no request was pending
        assert HEADER_TIMEOUT - EARLY <= time.monotonic() - started < HEADER_TIMEOUT + SLACK


def test_an_open_websocket_is_not_cut_by_the_http_deadlines(relay):
    async def heartbeat_after_the_deadlines():
        url = f"{relay.ws_url}/socket/websocket?vsn=2.0.0"
        async with websockets.connect(url) as ws:
            await asyncio.sleep(BODY_TIMEOUT + 1)  # outlive both deadlines
            await ws.send(json.dumps(["1", "1", "phoenix", "heartbeat", {}]))
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    reply = asyncio.run(heartbeat_after_the_deadlines())

    assert reply == ["1", "1", "phoenix", "phx_reply", {"status": "ok", "response": {}}]


def test_400_slow_clients_are_all_cut_while_others_are_served():
    """300 clients trickle headers and 100 trickle bodies, one byte a second; meanwhile
    /healthz and POST /events answer promptly, and the log has one episode, not 400 lines."""
    with Server(env={**DEADLINES, "RELAYMAN_EPISODE_QUIET": "2"}) as relay:

        async def siege():
            headers = [trickle(relay.port, HEAD, b"X-Slow: " + b"a" * 60, 20) for _ in range(300)]
            bodies = [
                trickle(relay.port, HEAD + b"Content-Length: 100\r\n\r\n", b"{" * 100, 20)
                for _ in range(100)
            ]
            slow = asyncio.gather(*headers, *bodies)
            served = []
            async with httpx.AsyncClient(base_url=relay.url, timeout=5) as client:
                while not slow.done():
                    started = time.monotonic()
                    health = await client.get("/healthz")
                    posted = await client.post("/events", json=event())
                    served.append((health.status_code, posted.status_code))
                    assert time.monotonic() - started < 1, "a prompt client waited"
                    await asyncio.sleep(0.2)  # one probe every 200 ms, as a monitor would
            return await slow, served

        cuts, served = asyncio.run(siege())

        assert set(served) == {(200, 201)} and len(served) >= 10
        header_cuts, body_cuts = cuts[:300], cuts[300:]
        assert all(
            answer_of(raw) == ("HTTP/1.1 408 Request Timeout", HEADERS_408)
            for _, raw in header_cuts
        )
        assert all(
            answer_of(raw) == ("HTTP/1.1 408 Request Timeout", BODY_408) for _, raw in body_cuts
        )
        assert all(HEADER_TIMEOUT <= seconds < HEADER_TIMEOUT + SLACK for seconds, _ in header_cuts)
        assert all(BODY_TIMEOUT <= seconds < BODY_TIMEOUT + SLACK for seconds, _ in body_cuts)
        wait_until(lambda: "slow_clients_cut_ended" in relay.logs(), "the episode's end", 10)
        logs = relay.logs()
        assert logs.count("event=slow_clients_cut_started") == 1
        assert "event=slow_clients_cut_ended count=400 " in logs
        assert "Traceback" not in logs
