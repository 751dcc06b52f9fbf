"""LOG_FORMAT=json: every line a server writes is one JSON object, Django's and daphne's too."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.server import Server
from tests.support.sockets_client import TIMEOUT, new_source, phoenix, post_event
from tests.support.wait import await_until

ROOT = Path(__file__).resolve().parents[1]

# bin/serve's launch with the access log off (its default): daphne's own -v 0.
QUIET_ACCESS = ("-m", "relayman_project.server", "-v", "0")


def records(server: Server) -> list[dict]:
    """Every line of the server's output as JSON; a line that is not fails, quoting it."""
    parsed = []
    for line in server.logs().splitlines():
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return parsed


async def test_every_line_of_a_busy_server_is_one_json_object(make_server):
    server = make_server(
        env={"LOG_FORMAT": "json", "RELAYMAN_LOG_LEVEL": "DEBUG"}, launcher=QUIET_ACCESS
    )
    source = new_source()
    async with phoenix(server) as client:
        await client.join(f"source:{source}")
        await post_event(server, source)
        await client.recv()
        await client.send(None, "9", "phoenix", "heartbeat", "x" * 70_000)  # over the frame limit
        assert (await client.recv())[3] == "phx_error"
        assert (await client.closed())[0] == 1009
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        assert (await http.post("/events", json={"source": source})).status_code == 400
        assert (await http.get("/events/nowhere")).status_code == 404
        assert (await http.get("/healthz", headers={"Host": "evil.example"})).status_code == 400

    def seen(**fields) -> dict | None:
        for record in records(server):
            if fields.items() <= record.items():
                return record
        return None

    closing = await await_until(lambda: seen(event="closing"), "the server's close, as JSON")
    assert closing["level"] == "WARNING" and closing["logger"] == "sockets"
    assert closing["code"] == 1009 and "exceeds payload limit" in closing["reason"], closing
    connect = await await_until(lambda: seen(event="connect"), "the socket's connect, as JSON")
    assert connect["level"] == "DEBUG" and connect["vsn"] == "2.0.0" and connect["push"]
    assert await await_until(lambda: seen(event="join", source=source), "the join, as JSON")
    assert await await_until(lambda: seen(event="close"), "the socket's close, as JSON")
    assert await await_until(lambda: seen(logger="events.errors"), "the bad Host, as JSON")
    server.stop()  # daphne's and Django's shutdown lines are JSON too
    lines = records(server)
    assert {"time", "level", "logger", "message"} <= lines[0].keys()
    assert any(record["logger"].startswith("daphne") for record in lines)
    assert "Traceback" not in server.logs()


def check(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "relayman_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of text, json; got 'xml'"),
        (
            {"RELAYMAN_ACCESS_LOG": "sometimes"},
            "RELAYMAN_ACCESS_LOG must be true/false, 1/0, yes/no or on/off, got 'sometimes'",
        ),
        (
            {"RELAYMAN_DRAIN_SECONDS": "-1"},
            "RELAYMAN_DRAIN_SECONDS must be a whole number of seconds, from 0 to 3600; got '-1'",
        ),
    ],
    ids=["format", "access-log", "drain-seconds"],
)
def test_a_bad_log_setting_stops_the_start_naming_it(env, message):
    result = check(env)

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: " + message)
