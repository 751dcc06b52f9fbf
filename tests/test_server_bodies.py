"""Bodies refused before they are read: a 413 past the limit, a 401 without a producer key.

Against a real server, as a producer sees it: the answer, how soon it comes, and what the upload
cost the server (its resident memory, VmRSS).
"""

import json
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.support.server import ROOT, Server

LIMIT = 1024 * 1024  # RELAYMAN_MAX_EVENT_BYTES's default
GIB = 1 << 30
MIB = 1 << 20
EVENTS_LIMIT = "RELAYMAN_MAX_EVENT_BYTES, or 'maximum event size' in the admin's relay settings"
# Memory the server may gain over a refused upload: a few MB, whatever the upload's size.
RSS_SLACK = 8 * MIB


@pytest.fixture(scope="module")
def relay():
    with Server() as running:
        yield running


@pytest.fixture(scope="module")
def keyed():
    """A server that requires producer keys, and one valid key for it."""
    with Server(env={"RELAYMAN_REQUIRE_PRODUCER_KEYS": "true"}) as running:
        key = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", NEW_KEY],
            cwd=ROOT,
            env=running.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        # The server mirrors keys about every second.
        deadline = time.monotonic() + 10
        while post(running, event(), key).status_code == 401 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield running, key


NEW_KEY = """
from events.models import ProducerKey
record = ProducerKey(name="producer", source_prefixes="*")
key = record.issue()
record.save()
print(key)
"""


def event(**attributes) -> dict:
    return {"id": uuid.uuid4().hex, "source": "/server/bodies", "type": "created", **attributes}


def post(server: Server, body: dict, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.url}/events", json=body, headers=headers, timeout=5)


def head_only(server: Server, head: str) -> tuple[bytes, float]:
    """Send a request's head and no body; the whole answer and the seconds it took."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer, time.monotonic() - started


def status_and_json(answer: bytes) -> tuple[str, dict, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, json.loads(body)


def upload(server: Server, size: int, *, declared: bool, key: str | None = None):
    """Stream `size` bytes to POST /events as httpx does (whole body first, then the answer)."""
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(size)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    chunk = b" " * MIB

    def body():
        for _ in range(size // MIB):
            yield chunk

    started = time.monotonic()
    response = httpx.post(f"{server.url}/events", content=body(), headers=headers, timeout=30)
    return response, time.monotonic() - started


# The limit on POST /events


def test_a_declared_body_over_the_limit_is_answered_before_it_is_sent(relay):
    answer, seconds = head_only(
        relay,
        f"POST /events HTTP/1.1\nHost: localhost\nContent-Type: application/json\n"
        f"Content-Length: {GIB}\n",
    )

    status, headers, body = status_and_json(answer)
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert headers["Content-Type"] == "application/json"
    assert headers["Connection"] == "close"
    assert body == {
        "detail": f"The body is {GIB} bytes; the limit is {LIMIT} bytes ({EVENTS_LIMIT})"
    }
    assert seconds < 1


def test_a_client_that_expects_100_continue_is_refused_instead(relay):
    answer, _ = head_only(
        relay,
        f"POST /events HTTP/1.1\nHost: localhost\nContent-Type: application/json\n"
        f"Expect: 100-continue\nContent-Length: {LIMIT + 1}\n",
    )

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer


def test_a_1_gib_upload_is_refused_and_costs_the_server_no_memory(relay):
    idle = relay.rss()

    response, seconds = upload(relay, GIB, declared=True)

    assert response.status_code == 413
    assert response.json()["detail"].startswith(f"The body is {GIB} bytes; the limit is {LIMIT}")
    assert relay.rss() - idle < RSS_SLACK
    # httpx reads the answer once it has sent the body; the server reads and drops what still
    # comes for at most 2 seconds after answering (lingering close).
    assert seconds < 5


def test_a_streamed_body_is_cut_when_it_passes_the_limit(relay):
    idle = relay.rss()

    response, _ = upload(relay, GIB, declared=False)

    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": f"The body is more than {LIMIT} bytes; the limit is {LIMIT} bytes "
        f"({EVENTS_LIMIT})"
    }
    assert relay.rss() - idle < RSS_SLACK


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_limit_is_accepted(relay, declared):
    padding = LIMIT - len(json.dumps(event(data=""), separators=(",", ":")))
    body = json.dumps(event(data="x" * padding), separators=(",", ":")).encode()
    assert len(body) == LIMIT
    content = body if declared else iter([body[: LIMIT // 2], body[LIMIT // 2 :]])

    response = httpx.post(
        f"{relay.url}/events",
        content=content,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 201, response.text


def test_the_limit_follows_the_setting():
    with Server(env={"RELAYMAN_MAX_EVENT_BYTES": "1000"}) as small:
        answer, _ = head_only(
            small, "POST /events HTTP/1.1\nHost: localhost\nContent-Length: 1001\n"
        )
        assert status_and_json(answer)[2] == {
            "detail": f"The body is 1001 bytes; the limit is 1000 bytes ({EVENTS_LIMIT})"
        }
        assert post(small, event(data="x" * 800)).status_code == 201


def test_the_events_route_is_recognized_however_its_path_is_encoded(relay):
    answer, _ = head_only(
        relay, f"POST /%65vents?x=1 HTTP/1.1\nHost: localhost\nContent-Length: {GIB}\n"
    )

    assert EVENTS_LIMIT in status_and_json(answer)[2]["detail"]


def test_other_routes_hold_bodies_to_djangos_limit(relay):
    answer, _ = head_only(
        relay, f"POST /admin/login/ HTTP/1.1\nHost: localhost\nContent-Length: {GIB}\n"
    )

    status, _, body = status_and_json(answer)
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert body == {
        "detail": f"The body is {GIB} bytes; the limit is 2621440 bytes "
        "(DATA_UPLOAD_MAX_MEMORY_SIZE: the limit for bodies other than events)"
    }


# Producer keys, checked before the body


def test_without_a_key_the_401_comes_before_the_body(keyed):
    relay, _ = keyed
    answer, seconds = head_only(
        relay, f"POST /events HTTP/1.1\nHost: localhost\nContent-Length: {500 * MIB}\n"
    )

    status, headers, body = status_and_json(answer)
    assert status == "HTTP/1.1 401 Unauthorized"
    assert headers["WWW-Authenticate"] == 'Bearer realm="relayman"'
    assert headers["Content-Type"] == "application/json"
    assert body == {
        "detail": "This relay requires a producer key: send 'Authorization: Bearer <key>'."
    }
    assert seconds < 1


def test_an_unauthenticated_500_mb_upload_costs_the_server_no_memory(keyed):
    relay, _ = keyed
    idle = relay.rss()

    response, _ = upload(relay, 500 * MIB, declared=True, key="rmk_0123456789abcdef_nope")

    assert response.status_code == 401
    assert response.json() == {"detail": "Unknown producer key."}
    assert relay.rss() - idle < RSS_SLACK


def test_with_a_valid_key_the_body_limit_still_holds(keyed):
    relay, key = keyed

    response, _ = upload(relay, 2 * MIB, declared=True, key=key)

    assert response.status_code == 413
    assert post(relay, event(), key).status_code == 201
