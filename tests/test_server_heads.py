"""Media-type headers that would cost the server to parse are refused from the request's head.

Django parses every request's Content-Type, and DRF its Accept, with the standard library's email
header parser, quadratic in the number of ';': `a/a; x="` and 16,000 semicolons cost about
150 ms of CPU per request, on any route, before any view runs. Against a real server: what a
client sees, and the CPU such requests cost the server.
"""

import json
import os
import uuid

import httpx
import pytest

from tests.support.server import Server

WORST = 'a/a; x="' + ";" * 16_000  # within Twisted's 16 KiB limit on a request's head
ROUNDS = 10
CPU_PER_REQUEST = 0.02  # seconds: a refusal from the head costs far less than one parse


@pytest.fixture(scope="module")
def relay():
    with Server() as running:
        yield running


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (/proc/<pid>/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def event() -> bytes:
    return json.dumps({"id": uuid.uuid4().hex, "source": "/server/heads", "type": "t"}).encode()


@pytest.mark.parametrize(
    ("method", "path", "header"),
    [
        ("POST", "/events", "Content-Type"),
        ("POST", "/events", "Accept"),
        ("GET", "/healthz", "Content-Type"),
        ("GET", "/admin/login/", "Accept"),
    ],
)
def test_a_media_type_header_that_is_costly_to_parse_is_a_cheap_400(relay, method, path, header):
    headers = {"Content-Type": "application/json", header: WORST}
    before = cpu_seconds(relay.process.pid)
    with httpx.Client(base_url=relay.url, timeout=10) as client:
        responses = [
            client.request(
                method, path, content=event() if method == "POST" else None, headers=headers
            )
            for _ in range(ROUNDS)
        ]
    cpu_per_request = (cpu_seconds(relay.process.pid) - before) / ROUNDS

    for response in responses:
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "detail": f"The {header} header has {len(WORST)} bytes and 16001 ';'; the limit is "
            "1024 bytes and 32 ';' (parsing a longer media type costs the server too much)"
        }
    assert cpu_per_request < CPU_PER_REQUEST
    assert "Traceback" not in relay.logs()


@pytest.mark.parametrize(
    ("content_type", "refused"),
    [
        ("a/a; b=" + "c" * 1017, False),  # 1024 bytes
        ("a/a; b=" + "c" * 1018, True),
        ("a/a" + ";" * 32, False),
        ("a/a" + ";" * 33, True),
    ],
)
def test_the_limit_is_1024_bytes_and_32_semicolons(relay, content_type, refused):
    response = httpx.post(
        f"{relay.url}/events", content=event(), headers={"Content-Type": content_type}, timeout=10
    )

    detail = response.json().get("detail", "")
    assert detail.startswith("The Content-Type header has") is refused, response.text


def test_repeated_headers_count_together_as_django_joins_them(relay):
    answer = httpx.post(
        f"{relay.url}/events",
        content=event(),
        headers=[("Content-Type", "a/a" + ";" * 20), ("Content-Type", "a/a" + ";" * 20)],
        timeout=10,
    )

    assert answer.status_code == 400
    assert "has 47 bytes and 40 ';'" in answer.json()["detail"]


def test_everyday_headers_pass(relay):
    browser = (
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
        "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
    )
    headers = {"Content-Type": "application/cloudevents+json; charset=utf-8", "Accept": browser}

    response = httpx.post(f"{relay.url}/events", content=event(), headers=headers, timeout=10)

    assert response.status_code == 201, response.text
    assert httpx.get(f"{relay.url}/admin/login/", headers={"Accept": browser}).status_code == 200
