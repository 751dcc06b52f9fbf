"""bin/serve's output: daphne's access log only when RELAYMAN_ACCESS_LOG asks for it, and nothing
but JSON lines under LOG_FORMAT=json, from migrate to shutdown, the access lines included.

daphne's access log is three lines per socket (WSCONNECTING, WSCONNECT, WSDISCONNECT) and one per
request: 60,000 lines for 20,000 sockets. It goes through logging, as `relayman.access`.
"""

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from relayman_project.server_http import EdgeHTTPFactory
from tests.support.server import ROOT, free_port
from tests.support.sockets_client import new_source, phoenix, post_event
from tests.support.wait import await_until, wait_until


class Served:
    """bin/serve, as `make run` and the image start it, on a free loopback port."""

    def __init__(self, port: int, log: Path):
        self.port, self.log = port, log
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve(tmp_path: Path, **env):
    served = Served(free_port(), tmp_path / "serve.log")
    environment = {
        **os.environ,
        "PYTHON": sys.executable,
        "BIND": "127.0.0.1",
        "PORT": str(served.port),
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
        **env,
    }
    with served.log.open("wb") as log:
        process = subprocess.Popen(
            [str(ROOT / "bin" / "serve")], cwd=ROOT, env=environment, stdout=log, stderr=log
        )
    try:
        wait_until(lambda: answers(served, process), "bin/serve answering /healthz", 60)
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


def answers(served: Served, process: subprocess.Popen) -> bool:
    assert process.poll() is None, f"bin/serve exited:\n{served.logs()}"
    try:
        return httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def a_socket_and_a_post(served: Served) -> int:
    """Connect, join, receive one POSTed event, close; the socket's local port."""
    source = new_source()
    async with phoenix(served) as client:
        await client.join(f"source:{source}")
        await post_event(served, source)
        await client.recv()
        return client.local_port


async def test_the_access_log_is_off_by_default(tmp_path):
    with serve(tmp_path) as served:
        port = await a_socket_and_a_post(served)
        logs = served.logs()
    # daphne writes WSCONNECTING and WSCONNECT before the handshake's answer.
    assert f"127.0.0.1:{port}" not in logs
    assert "WSCONNECT" not in logs and '"POST /events"' not in logs


@pytest.mark.parametrize("value", ["true", "On"])
async def test_relayman_access_log_turns_daphnes_access_log_on(tmp_path, value):
    with serve(tmp_path, RELAYMAN_ACCESS_LOG=value) as served:
        port = await a_socket_and_a_post(served)
        await await_until(
            lambda: "WSDISCONNECT /socket/websocket" in served.logs(), "the socket's access line"
        )
        logs = served.logs()
    assert f"127.0.0.1:{port} - - " in logs and '"POST /events" 201 ' in logs


async def test_bin_serve_writes_only_json_lines_under_log_format_json(tmp_path):
    env = {"LOG_FORMAT": "json", "RELAYMAN_LOG_LEVEL": "DEBUG", "RELAYMAN_ACCESS_LOG": "true"}
    with serve(tmp_path, **env) as served:
        port = await a_socket_and_a_post(served)
        await await_until(lambda: '"event": "close"' in served.logs(), "the socket's close line")
        await await_until(lambda: "WSDISCONNECT" in served.logs(), "the socket's access line")
    lines = served.logs().splitlines()
    assert [line for line in lines if not line.startswith("{")] == []
    records = [json.loads(line) for line in lines]
    loggers = {record["logger"] for record in records}
    assert {"daphne.cli", "sockets", "relayman.access"} <= loggers, loggers
    access = [record for record in records if record["logger"] == "relayman.access"]
    [post] = [record for record in access if record["request"] == "POST /events"]
    assert post["status"] == 201 and post["bytes"] > 0 and post["level"] == "INFO"
    requests = [r["request"] for r in access if r["client"] == f"127.0.0.1:{port}"]
    assert [r.split()[0] for r in requests] == ["WSCONNECTING", "WSCONNECT", "WSDISCONNECT"]


@pytest.mark.parametrize(("verbosity", "lines"), [(0, 0), (1, 0), (2, 1)])
def test_twisteds_own_access_line_is_made_only_when_twisteds_log_goes_somewhere(verbosity, lines):
    """daphne sends Twisted's log nowhere below verbosity 2: its line per request is not made."""
    factory = EdgeHTTPFactory(SimpleNamespace(verbosity=verbosity), edge=None)
    made = []
    factory._logFormatter = lambda timestamp, request: made.append(request) or "a line"
    factory._logFile = SimpleNamespace(write=lambda line: None)
    factory.log("the request")
    assert len(made) == lines
