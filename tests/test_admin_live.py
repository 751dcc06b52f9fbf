"""A change saved in the admin of one node reaches every node within 5 seconds, without restart.

Two real daphne processes share one database, as two nodes behind a load balancer would: the
operator saves on node A's admin, and node B's producers and sockets see the effect.
"""

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.admin_browser import (
    PASSWORD,
    USERNAME,
    AdminBrowser,
    eventually,
    two_nodes_one_admin,
)
from tests.support.server import ROOT, Server, free_port
from tests.support.sockets_client import PhoenixClient, new_source
from tests.support.wait import await_until

WITHIN = 5.0
LAST_USED = re.compile(r'field-last_used.*?<div class="readonly">(.*?)</div>', re.S)


@pytest.fixture(scope="module")
def nodes():
    with two_nodes_one_admin() as both:
        yield both


@pytest.fixture
def admin(nodes):
    browser = AdminBrowser(nodes[0].url)
    yield browser
    browser.save_settings()  # every field empty: the server's settings again
    browser.close()


def post(server: Server, event: dict, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.url}/events", json=event, headers=headers, timeout=5)


def event_of(size: int = 0) -> dict:
    return {"id": uuid.uuid4().hex, "source": "/live", "type": "created", "data": "x" * size}


def test_a_smaller_event_size_reaches_every_node_within_5_s(nodes, admin):
    assert all(post(node, event_of(2000)).status_code == 201 for node in nodes)

    admin.save_settings(max_event_bytes=1000)

    for node in nodes:
        took = eventually(lambda n=node: post(n, event_of(2000)).status_code == 413, "413", WITHIN)
        assert took < WITHIN
    answer = post(nodes[1], event_of(2000))
    assert "the limit is 1000 bytes" in answer.json()["detail"]
    assert post(nodes[1], event_of(10)).status_code == 201

    admin.save_settings()
    eventually(lambda: post(nodes[1], event_of(2000)).status_code == 201, "back to 1 MiB", WITHIN)


def test_requiring_keys_then_adding_and_revoking_one_reach_another_node(nodes, admin):
    node_b = nodes[1]
    admin.save_settings(require_producer_keys="True")
    eventually(lambda: post(node_b, event_of()).status_code == 401, "keys required", WITHIN)

    key, change_url = admin.add_key("live", "/live")
    eventually(lambda: post(node_b, event_of(), key).status_code == 201, "new key", WITHIN)

    admin.edit_key(change_url, "live", "/live", active=False)
    eventually(lambda: post(node_b, event_of(), key).status_code == 401, "revoked key", WITHIN)
    assert post(node_b, event_of(), key).json() == {
        "detail": "The producer key 'live' has been deactivated."
    }

    admin.save_settings(require_producer_keys="False")
    eventually(lambda: post(node_b, event_of()).status_code == 201, "keys not required", WITHIN)


def test_a_keys_last_use_shows_in_the_admin(nodes, admin):
    admin.save_settings(require_producer_keys="True")
    key, change_url = admin.add_key("last-used", "*")
    assert _last_used(admin.page(change_url)) == "-"
    eventually(lambda: post(nodes[1], event_of()).status_code == 401, "keys required", WITHIN)

    eventually(lambda: post(nodes[1], event_of(), key).status_code == 201, "key usable", WITHIN)

    eventually(lambda: _last_used(admin.page(change_url)) != "-", "last used shown", WITHIN)
    assert re.fullmatch(r"\w{3}\.? \d+, \d{4}, .*", _last_used(admin.page(change_url)))


def _last_used(change_page: str) -> str:
    """The readonly "Last used" value on a key's change page."""
    return LAST_USED.search(change_page)[1].strip()


async def test_allowed_origins_and_the_channel_limit_reach_sockets_on_another_node(nodes, admin):
    node_b = nodes[1]
    url = f"{node_b.ws_url}/socket/websocket?vsn=2.0.0"

    await asyncio.to_thread(
        admin.save_settings, allowed_origins="https://app.example.com", max_channels=1
    )

    async def refused_elsewhere() -> bool:
        try:
            async with connect(url, origin="https://elsewhere.example.com", proxy=None):
                return False
        except InvalidStatus as refused:
            return refused.response.status_code == 403

    await _eventually_async(refused_elsewhere, "origin refused")
    async with connect(url, origin="https://app.example.com", proxy=None) as ws:
        client = PhoenixClient(ws, "2.0.0")
        await client.join(f"source:{new_source()}")
        reply = await client.request(f"source:{new_source()}", "phx_join", join_ref="9")
        assert reply[4] == {"status": "error", "response": {"reason": "too many channels joined"}}


async def _eventually_async(check, what: str) -> None:
    await await_until(check, what, WITHIN)


def test_bin_serve_creates_the_first_admin_and_serves_the_admins_static_files(tmp_path):
    """The container's command, as the README tells operators to use it."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "BIND": "127.0.0.1",
        "PORT": str(port),
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
        "DJANGO_SUPERUSER_USERNAME": USERNAME,
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "DJANGO_SUPERUSER_EMAIL": "operator@example.com",
    }
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        serve = subprocess.Popen([ROOT / "bin" / "serve"], env=env, stdout=output, stderr=output)
    try:
        eventually(lambda: _answers(url, serve, log), "bin/serve answering", timeout=60)
        css = httpx.get(f"{url}/static/admin/css/base.css", timeout=5)
        assert css.status_code == 200
        assert css.headers["Content-Type"].startswith("text/css")
        assert b"body" in css.content

        AdminBrowser(url).close()  # logs in as the user bin/serve created
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=10)


def _answers(url: str, process: subprocess.Popen, log: Path) -> bool:
    assert process.poll() is None, f"bin/serve exited:\n{log.read_text()}"
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
