"""Relayman added to an existing Django project (tests/host_project), served by a real daphne.

The host mounts Relayman under /relay/, has an app of its own whose post_save signal publishes
with `events.publish_on_commit`, and views that publish with `events.publish` / `apublish`.
HTTP producers, the websockets library and the stock phoenix.js client all work there.
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.admin_browser import USERNAME, AdminBrowser, create_superuser
from tests.support.server import ROOT, Server
from tests.support.sockets_client import TIMEOUT, PhoenixClient, new_source

HOST = {
    "application": "tests.host_project.asgi:application",
    "settings": "tests.host_project.settings",
}
ORDERS = "source:/shop/orders"
NODE_SCRIPT = ROOT / "tests" / "host_project" / "phoenix_subscriber.mjs"


@pytest.fixture(scope="module")
def host():
    with Server(**HOST) as running:
        yield running


class Subscriber(PhoenixClient):
    async def next_push(self) -> tuple[str, dict]:
        """The next push: its event name and payload."""
        join_ref, ref, _topic, event, payload = await self.recv()
        assert (join_ref, ref) == (None, None), "a push, not a reply"
        return event, payload


async def subscribe(host: Server, topic: str):
    ws = await connect(f"{host.ws_url}/relay/socket/websocket?vsn=2.0.0", proxy=None)
    subscriber = Subscriber(ws, "2.0.0")
    await subscriber.join(topic)
    return subscriber


async def post(host: Server, path: str, body) -> httpx.Response:
    async with httpx.AsyncClient(base_url=host.url, timeout=TIMEOUT) as http:
        return await http.post(path, json=body)


# Relayman's own endpoints under /relay/


async def test_an_http_producer_reaches_a_socket_under_relay(host):
    source = new_source()
    subscriber = await subscribe(host, f"source:{source}")
    event = {"id": "1", "source": source, "type": "created", "data": {"n": 1}}

    response = await post(host, "/relay/events", event)

    assert response.status_code == 201, response.text
    assert await subscriber.next_push() == ("created", {**event, "specversion": "1.0"})
    await subscriber.ws.close()


async def test_relaymans_paths_exist_only_under_the_prefix(host):
    async with httpx.AsyncClient(base_url=host.url, timeout=TIMEOUT) as http:
        assert (await http.get("/relay/healthz")).json() == {"status": 200, "message": "OK"}
        assert (await http.post("/events", json={})).status_code == 404


async def test_errors_under_relay_are_json_and_the_hosts_own_pages_stay_html(host):
    async with httpx.AsyncClient(base_url=host.url, timeout=TIMEOUT) as http:
        relayman = await http.post("/relay/events/", json={})
        own = await http.get("/no-such-page")
        bad_host = await http.get("/relay/healthz", headers={"Host": "evil.example"})

    assert relayman.status_code == 404
    assert relayman.json() == {
        "detail": "No route for POST /relay/events/; did you mean /relay/events?"
    }
    assert own.status_code == 404 and own.headers["content-type"].startswith("text/html")
    assert bad_host.status_code == 400 and bad_host.json()["detail"].startswith(
        "Host 'evil.example'"
    )
    assert "Traceback" not in host.logs()


async def test_a_websocket_outside_relay_is_a_json_404_without_a_traceback(host):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{host.ws_url}/socket/websocket", proxy=None):
            pass

    assert refused.value.response.status_code == 404
    assert json.loads(refused.value.response.body) == {
        "detail": "No WebSocket route for /socket/websocket"
    }
    assert "Traceback" not in host.logs()


def test_relaymans_migrations_apply_to_the_host_with_nothing_left_to_make(host):
    check = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env=host.env,
        capture_output=True,
        text=True,
    )

    assert check.returncode == 0, check.stdout + check.stderr


# Publishing from the host's own code


async def test_a_saved_order_is_published_when_its_transaction_commits(host):
    subscriber = await subscribe(host, ORDERS)

    response = await post(host, "/orders", {"item": "tea"})

    assert response.status_code == 201, response.text
    order_id = response.json()["id"]
    event, payload = await subscriber.next_push()
    assert event == "created"
    assert payload["source"] == "/shop/orders"
    assert payload["subject"] == str(order_id)
    assert payload["data"]["id"] == order_id and payload["data"]["item"] == "tea"
    assert payload["data"]["created"].endswith(
        "Z"
    )  # a datetime, as Django's JSON encoder writes it
    uuid.UUID(payload["id"])  # filled in
    assert payload["time"].endswith("Z") and payload["specversion"] == "1.0"
    await subscriber.ws.close()


async def test_a_rolled_back_order_publishes_nothing(host):
    subscriber = await subscribe(host, ORDERS)

    rejected = await post(host, "/orders", {"item": "rolled back", "reject": True})
    kept = await post(host, "/orders", {"item": "kept"})

    assert rejected.status_code == 409 and kept.status_code == 201
    _, payload = await subscriber.next_push()
    assert payload["data"]["item"] == "kept"  # the first push: the rolled-back order had none
    await subscriber.ws.close()


@pytest.mark.parametrize("path", ["/announce", "/announce-sync"], ids=["apublish", "publish"])
async def test_publish_from_async_and_sync_views(host, path):
    source = new_source()
    subscriber = await subscribe(host, f"source:{source}")

    response = await post(host, path, {"source": source, "type": "announced", "data": [1, 2]})

    assert response.status_code == 201, response.text
    published = response.json()
    assert await subscriber.next_push() == ("announced", published)
    assert published["data"] == [1, 2] and published["id"] and published["time"]
    await subscriber.ws.close()


@pytest.mark.parametrize("path", ["/announce", "/announce-sync"], ids=["apublish", "publish"])
async def test_an_invalid_event_from_python_is_refused_naming_the_attribute(host, path):
    response = await post(host, path, {"source": "/x", "time": "yesterday", "Bad": 1})

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"type", "time", "Bad"}
    assert errors["type"] == "'type' is required"
    assert errors["time"].startswith("'time' must be an RFC 3339 timestamp")
    assert errors["Bad"].startswith("attribute name 'Bad' is invalid")


# The stock phoenix.js client


def require_phoenix_js() -> str:
    """Node's path; skips when Node or the phoenix package is missing (fails under CI)."""
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not (ROOT / "tests" / "js" / "node_modules" / "phoenix").is_dir():
        missing = "the phoenix npm package is not installed (make js-deps)"
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    return node


async def test_phoenix_js_receives_orders_and_http_events_under_relay(host):
    node = require_phoenix_js()
    socket_url = f"{host.ws_url}/relay/socket"
    client = await asyncio.create_subprocess_exec(
        node,
        str(NODE_SCRIPT),
        socket_url,
        ORDERS,
        "created",
        "shipped",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert await read_line(client) == "joined"

        order = (await post(host, "/orders", {"item": "coffee"})).json()
        shipped = {"id": "s1", "source": "/shop/orders", "type": "shipped", "subject": "1"}
        assert (await post(host, "/relay/events", shipped)).status_code == 201

        created = json.loads(await read_line(client))
        assert created["event"] == "created"
        assert created["payload"]["data"]["id"] == order["id"]
        assert json.loads(await read_line(client)) == {
            "event": "shipped",
            "payload": {**shipped, "specversion": "1.0"},
        }
    finally:
        client.kill()
        await client.wait()


async def read_line(process) -> str:
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 10)
    except TimeoutError:
        raise AssertionError("phoenix.js printed nothing within 10 s") from None
    if not line:
        raise AssertionError(f"phoenix.js exited: {(await process.stderr.read()).decode()}")
    return line.decode().strip()


# Private sources decided by the host's join authorizer, from the browser's Django session


async def join_with_cookie(host: Server, source: str, cookie: str | None) -> dict:
    headers = {"Cookie": cookie} if cookie else {}
    url = f"{host.ws_url}/relay/socket/websocket?vsn=2.0.0"
    async with connect(url, proxy=None, additional_headers=headers) as ws:
        client = PhoenixClient(ws, "2.0.0")
        return (await client.request(f"source:{source}", "phx_join"))[4]


@pytest.fixture(scope="module")
def signed_in(host) -> str:
    """The session cookie of a user signed in through the host's admin login page."""
    create_superuser(host)
    browser = AdminBrowser(host.url)
    cookie = f"sessionid={browser.http.cookies['sessionid']}"
    browser.close()
    return cookie


async def test_a_signed_in_session_joins_its_private_source_and_an_anonymous_one_does_not(
    host, signed_in
):
    source = f"/shop/accounts/{USERNAME}/orders"

    assert await join_with_cookie(host, source, signed_in) == {
        "status": "ok",
        "response": {"messages": []},
    }
    assert await join_with_cookie(host, source, None) == {
        "status": "error",
        "response": {"reason": "unauthorized", "detail": "no subscriber token covers this source"},
    }
    other = await join_with_cookie(host, "/shop/accounts/someone-else/orders", signed_in)
    assert other["response"]["reason"] == "unauthorized"
    public = await join_with_cookie(host, new_source(), None)
    assert public["status"] == "ok"
