"""With daphne or Twisted not the tested versions, the server runs as stock daphne and says so.

The installed versions are the tested ones, so the test makes the server believe otherwise: it
starts `relayman_project.server` with `server_internals.TESTED` changed first.
"""

import asyncio
import json
import socket
from importlib.metadata import version

import httpx
import pytest
import websockets

from relayman_project import server_internals
from tests.support.server import Server

UNTESTED = (
    "-c",
    "from relayman_project import server_internals\n"
    "server_internals.TESTED['twisted'] = '0.0'\n"
    "from relayman_project.server import CommandLineInterface\n"
    "CommandLineInterface.entrypoint()",
)


def test_the_installed_internals_are_the_tested_ones():
    assert server_internals.problems() == []


def test_another_version_or_a_missing_hook_is_named(monkeypatch):
    monkeypatch.setitem(server_internals.TESTED, "daphne", "9.9")
    monkeypatch.delattr("twisted.web.http.Request.gotLength")

    assert server_internals.problems() == [
        f"daphne {version('daphne')} is installed, 9.9 was tested",
        "twisted.web.http.Request.gotLength is missing",
    ]


@pytest.fixture(scope="module")
def stock():
    with Server(env={"RELAYMAN_HEADER_TIMEOUT": "1"}, launcher=UNTESTED) as running:
        yield running


def test_the_server_warns_once_and_serves_as_stock_daphne(stock):
    logs = stock.logs()
    assert logs.count("level=WARNING logger=relayman.server event=server_stock") == 1
    assert f"twisted {version('twisted')} is installed, 0.0 was tested" in logs
    assert "event=server_edge" not in logs

    assert httpx.get(f"{stock.url}/healthz", timeout=5).status_code == 200
    event = {"id": "1", "source": "/server/fallback", "type": "created"}
    assert httpx.post(f"{stock.url}/events", json=event, timeout=5).status_code == 201

    async def heartbeat():
        async with websockets.connect(f"{stock.ws_url}/socket/websocket?vsn=2.0.0") as ws:
            await ws.send(json.dumps(["1", "1", "phoenix", "heartbeat", {}]))
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    assert asyncio.run(heartbeat())[3:] == ["phx_reply", {"status": "ok", "response": {}}]


def test_stock_daphne_refuses_an_unknown_websocket_path_with_its_403(stock):
    """Stock daphne offers no denial response: SocketRouteNotFound closes, daphne says 403."""

    async def unknown_path():
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{stock.ws_url}/nowhere/websocket"):
                pass
        return refused.value.response.status_code

    assert asyncio.run(unknown_path()) == 403
    assert "Traceback" not in stock.logs()


def test_stock_daphne_has_no_deadline_and_waits_for_a_refused_body(stock):
    with socket.create_connection(("127.0.0.1", stock.port), timeout=2) as sock:
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\n\r\n")
        # Past the 1-second header deadline, with no 413 before the body: stock waits for it.
        with pytest.raises(TimeoutError):
            sock.recv(65536)
