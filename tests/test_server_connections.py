"""The connection cap: past it a new connection gets a clear 503, and the log says so once.

Against real servers: with RELAYMAN_MAX_CONNECTIONS set, with the cap derived from a file
descriptor limit, and with a cap set above what the descriptors allow. And before the cap, the
accept queue: a burst of connections waits in it while the server is busy, none dropped.
"""

import asyncio
import contextlib
import signal
import socket

import httpx
import websockets

from relayman_project import server_connections
from tests.support.server import Server
from tests.support.wait import wait_until

# Idle connections must outlive the test: a long header deadline. An episode of refusals ends
# after 2 seconds without one.
PATIENT = {"RELAYMAN_HEADER_TIMEOUT": "120", "RELAYMAN_EPISODE_QUIET": "2"}


@contextlib.contextmanager
def idle_connections(server: Server, count: int):
    """`count` connections that say nothing; the server accepts them in the order they came."""
    sockets = []
    try:
        for _ in range(count):
            with contextlib.suppress(OSError):
                sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=2))
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def paused(server: Server):
    """The server process stopped: it accepts nothing, as when it is busy, until it goes on."""
    server.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.process.send_signal(signal.SIGCONT)


def health(server: Server) -> httpx.Response:
    return httpx.get(f"{server.url}/healthz", timeout=5)


def test_past_the_cap_a_connection_gets_a_503_and_the_log_one_episode():
    with Server(env={**PATIENT, "RELAYMAN_MAX_CONNECTIONS": "20"}) as relay:
        with idle_connections(relay, 20):
            refusals = [health(relay) for _ in range(30)]

        assert {r.status_code for r in refusals} == {503}
        refused = refusals[0]
        assert refused.headers["Content-Type"] == "application/json"
        assert refused.headers["Retry-After"] == "5"
        assert refused.json() == {
            "detail": "The server is at its limit of 20 open connections "
            "(RELAYMAN_MAX_CONNECTIONS); retry in 5 seconds."
        }
        wait_until(lambda: health(relay).status_code == 200, "a connection served again")
        wait_until(lambda: "connections_full_ended" in relay.logs(), "the episode's end", 10)
        logs = relay.logs()
        assert logs.count("event=connections_full_started limit=20 ") == 1
        assert "event=connections_full_ended count=30 " in logs
        assert "Traceback" not in logs


def test_websockets_count_toward_the_cap_until_they_close():
    with Server(env={**PATIENT, "RELAYMAN_MAX_CONNECTIONS": "3"}) as relay:

        async def sockets_then_http():
            url = f"{relay.ws_url}/socket/websocket?vsn=2.0.0"
            opened = [await websockets.connect(url) for _ in range(3)]
            refused = await asyncio.to_thread(health, relay)
            for ws in opened:
                await ws.close()
            return refused

        assert asyncio.run(sockets_then_http()).status_code == 503
        wait_until(lambda: health(relay).status_code == 200, "the sockets' places freed")


def test_unset_the_cap_is_derived_from_the_raised_descriptor_limit():
    # Soft limit 200, hard 300: the server raises the soft one, then leaves 64 for the rest.
    with Server(env=PATIENT, descriptor_limits=(200, 300)) as relay:
        assert "max_connections=236 descriptor_limit=300" in relay.logs()
        with idle_connections(relay, 236):
            refused = health(relay)

        assert refused.status_code == 503
        assert refused.json() == {
            "detail": "The server is at its limit of 236 open connections (derived from the "
            "file descriptor limit of 300); retry in 5 seconds."
        }


def test_at_the_descriptor_limit_no_connection_is_dropped_unlogged():
    env = {**PATIENT, "RELAYMAN_MAX_CONNECTIONS": "1000"}
    with Server(env=env, descriptor_limits=(150, 150)) as relay:
        assert (
            "event=max_connections_above_descriptor_limit max_connections=1000 "
            "descriptor_limit=150" in relay.logs()
        )
        with idle_connections(relay, 200):
            wait_until(
                lambda: "event=connections_dropped_started" in relay.logs(),
                "the dropped connections logged",
            )
        wait_until(lambda: health(relay).status_code == 200, "served again")
        wait_until(lambda: "connections_dropped_ended" in relay.logs(), "the episode's end", 10)
        assert "Traceback" not in relay.logs()


# As many connections at once as the 300 concurrent POSTs of tests/test_delivery.py: Twisted's
# default accept queue held 50, and the kernel dropped the SYNs past it.
BURST = 300


def test_a_burst_of_connections_waits_in_the_accept_queue_while_the_server_is_busy():
    backlog = server_connections.listen_backlog()
    # Twisted's own queue holds 50; a kernel capping it at less than the burst (128 before Linux
    # 5.4) gets a burst that fits its queue, still past Twisted's.
    burst = min(BURST, backlog)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with Server() as relay:
        assert f"event=server_listen backlog={backlog} (net.core.somaxconn)" in relay.logs()
        with contextlib.ExitStack() as stack:
            opened = []
            with paused(relay):
                # A dropped SYN would be retried a second later: the connect would time out.
                for _ in range(burst):
                    address = ("127.0.0.1", relay.port)
                    opened.append(stack.enter_context(socket.create_connection(address, 5)))
                    opened[-1].sendall(request)
            answers = [sock.makefile("rb").read() for sock in opened]
        assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), answers


def test_the_listen_backlog_goes_to_the_endpoints_that_take_one():
    assert server_connections.with_backlog("tcp:port=80:interface=127.0.0.1", 9) == (
        "tcp:port=80:interface=127.0.0.1:backlog=9"
    )
    assert server_connections.with_backlog("unix:/run/relay.sock", 9) == (
        "unix:/run/relay.sock:backlog=9"
    )
    # Its own backlog is kept; a socket handed over listens already.
    assert server_connections.with_backlog("tcp:80:backlog=5", 9) == "tcp:80:backlog=5"
    assert server_connections.with_backlog("fd:fileno=3", 9) == "fd:fileno=3"
