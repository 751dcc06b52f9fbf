"""The OpenAPI schema against real answers: every answer of POST /events and the probes, in every
content mode, valid and invalid, as a real server sends it, matches what /api/schema says.

The servers serve their static files as `make run` does: collected, then served by WhiteNoise.
"""

import base64
import inspect
import json
import socket
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import jsonschema
import pytest

from events.views import EventsView
from tests.support.server import ROOT, Server, free_port
from tests.support.wait import wait_until

SETTINGS = "relayman_project.settings"
LIMIT = 4096  # RELAYMAN_MAX_EVENT_BYTES of the servers here
CAP = 4  # RELAYMAN_MAX_CONNECTIONS of the keyed server
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def event(source: str = "/shop/orders", **attributes) -> dict:
    return {"id": uuid.uuid4().hex, "source": source, "type": "created", **attributes}


def ce_headers(source: str = "/shop/orders", **extra: str) -> dict:
    headers = {"ce-specversion": "1.0", "ce-id": "b1", "ce-source": source, "ce-type": "created"}
    return {**headers, **{f"ce-{name}": value for name, value in extra.items()}}


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def collected(tmp_path_factory, **env: str) -> Server:
    """A server of the schema's settings, to start, whose static files are collected first, as
    bin/serve does, so the docs page's assets come from WhiteNoise."""
    static = tmp_path_factory.mktemp("static")
    server = Server(settings=SETTINGS, env={"STATIC_ROOT": str(static), **env})
    collecting = manage("collectstatic", "--noinput", "-v", "0", env=server.env)
    assert collecting.returncode == 0, collecting.stderr
    return server


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    with collected(
        tmp_path_factory, RELAYMAN_MAX_EVENT_BYTES=str(LIMIT), RELAYMAN_HEADER_TIMEOUT="1"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """Producer keys required, a Redis nobody listens on, few connections: 401, 403, and 503s."""
    redis_url = f"redis://127.0.0.1:{free_port()}"
    with collected(
        tmp_path_factory,
        RELAYMAN_REQUIRE_PRODUCER_KEYS="true",
        REDIS_URL=redis_url,
        RELAYMAN_MAX_CONNECTIONS=str(CAP),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def shop_key(keyed) -> str:
    """A key allowed the sources under /shop/, created in the server's database."""
    created = manage(
        "shell",
        "-c",
        "from events.models import ProducerKey\n"
        "record = ProducerKey(name='shop', source_prefixes='/shop/')\n"
        "print(record.issue()); record.save()",
        env=keyed.env,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.split()[-1]  # after what the shell says of its imports
    # The server mirrors keys about every second.
    wait_until(lambda: post(keyed, event(), key=key).status_code != 401, "the key loaded", 10)
    return key


@pytest.fixture(scope="module")
def schema(relay) -> dict:
    answer = httpx.get(f"{relay.url}/api/schema", params={"format": "json"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return answer.json()


def post(server: Server, body=None, content_type: str = STRUCTURED, key=None, **kwargs):
    headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    content = json.dumps(body).encode() if body is not None else kwargs.pop("content", b"")
    return httpx.post(f"{server.url}/events", content=content, headers=headers, timeout=10)


def documented(schema: dict, path: str, method: str, status: int) -> dict:
    """The schema's response for this answer; it must be there."""
    responses = schema["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} {status} is not documented"
    return responses[str(status)]


def validate(schema: dict, part: dict, value) -> None:
    """`value` against a schema object of the document, its `$ref`s resolved in the document."""
    document = {"allOf": [part], "components": schema["components"]}
    jsonschema.Draft7Validator(document).validate(value)


def assert_documented(schema: dict, path: str, method: str, answer: httpx.Response) -> None:
    """Status, headers and body of a real answer are what the schema says."""
    response = documented(schema, path, method, answer.status_code)
    for name, header in response.get("headers", {}).items():
        assert not header.get("required") or name in answer.headers, (name, answer.headers)
    media_type = answer.headers["Content-Type"].split(";")[0]
    assert media_type in response["content"], (media_type, answer.text)
    validate(schema, response["content"][media_type]["schema"], answer.json())


def assert_request_documented(schema: dict, content_type: str, body) -> None:
    content = schema["paths"]["/events"]["post"]["requestBody"]["content"]
    validate(schema, content[content_type]["schema"], body)


# Valid and invalid requests in each content mode, with the status each must get.
CASES = {
    "structured": (lambda: {"body": event(data={"id": 1})}, 201),
    "structured, plain JSON": (
        lambda: {"body": event(data=None), "content_type": "application/json"},
        201,
    ),
    "structured, extensions": (lambda: {"body": event(tenant="a", shard=3, live=True)}, 201),
    "structured, a missing source": (lambda: {"body": {"id": "1", "type": "created"}}, 400),
    "structured, a bad time": (lambda: {"body": event(time="yesterday")}, 400),
    "structured, not JSON": (lambda: {"content": b"{not json"}, 400),
    "batched": (lambda: {"body": [event(), event(data="x")], "content_type": BATCH}, 201),
    "batched, one bad event": (
        lambda: {"body": [event(), event(specversion="0.3")], "content_type": BATCH},
        400,
    ),
    "batched, not an array": (lambda: {"body": event(), "content_type": BATCH}, 400),
    "binary, JSON data": (
        lambda: {
            "content": b'{"id": 1}',
            "content_type": "application/json",
            "headers": ce_headers(subject="orders%2F1"),
        },
        201,
    ),
    "binary, bytes": (
        lambda: {
            "content": bytes(range(256)),
            "content_type": "application/octet-stream",
            "headers": ce_headers(),
        },
        201,
    ),
    "binary, text": (
        lambda: {"content": b"hello", "content_type": "text/plain", "headers": ce_headers()},
        201,
    ),
    "binary, a bad time": (
        lambda: {"content": b"x", "content_type": "text/plain", "headers": ce_headers(time="x")},
        400,
    ),
    "binary, a lone %": (
        lambda: {"content": b"", "content_type": "text/plain", "headers": ce_headers(id="1%")},
        400,
    ),
    "no content mode": (lambda: {"content": b"<event/>", "content_type": "application/xml"}, 415),
    "too large": (lambda: {"body": event(data="x" * LIMIT)}, 413),
    "a Content-Type over 1,024 bytes": (
        lambda: {"body": event(), "content_type": STRUCTURED + ";a=b" * 300},
        400,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_answer_of_post_events_in_each_mode_is_the_documented_one(relay, schema, case):
    request, status = CASES[case]
    answer = post(relay, **request())

    assert answer.status_code == status, answer.text
    assert_documented(schema, "/events", "post", answer)


def test_a_documented_201_is_the_event_subscribers_receive(relay, schema):
    sent = event(data_base64=base64.b64encode(b"\x00\x01").decode())
    assert_request_documented(schema, STRUCTURED, sent)
    answer = post(relay, sent)

    assert answer.status_code == 201
    assert answer.json() == {**sent, "specversion": "1.0"}
    assert_documented(schema, "/events", "post", answer)


def test_the_documented_requests_are_the_ones_relayman_accepts(schema):
    assert_request_documented(schema, STRUCTURED, event(subject="1", data=None, tenant="a"))
    assert_request_documented(schema, BATCH, [event(), event(time="2026-12-02T15:00:00Z")])
    with pytest.raises(jsonschema.ValidationError, match="'source' is a required property"):
        assert_request_documented(schema, STRUCTURED, {"id": "1", "type": "created"})
    with pytest.raises(jsonschema.ValidationError, match="is too long"):
        assert_request_documented(schema, STRUCTURED, event(source="/" * 2042))


def test_another_method_is_a_documented_405(relay, schema):
    answer = httpx.get(f"{relay.url}/events", timeout=10)

    assert answer.status_code == 405
    assert_documented(schema, "/events", "post", answer)


def test_slow_headers_are_a_documented_408(relay, schema):
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and nothing more
        received = b""
        while chunk := sock.recv(65536):  # the server answers after 1 s, then closes
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = httpx.Headers([line.split(": ", 1) for line in header_lines])
    answer = httpx.Response(int(status_line.split()[1]), headers=headers, content=body)

    assert answer.status_code == 408, received
    assert_documented(schema, "/events", "post", answer)


def test_a_missing_key_is_a_documented_401(keyed, schema):
    answer = post(keyed, event())

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="relayman"'
    assert_documented(schema, "/events", "post", answer)


def test_a_source_the_key_may_not_publish_is_a_documented_403(keyed, shop_key, schema):
    answer = post(keyed, event("/elsewhere/1"), key=shop_key)

    assert answer.status_code == 403, answer.text
    assert_documented(schema, "/events", "post", answer)


def test_redis_away_is_a_documented_503_with_retry_after(keyed, shop_key, schema):
    answer = post(keyed, event("/shop/1"), key=shop_key)

    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "1"
    assert_documented(schema, "/events", "post", answer)


def test_a_full_server_is_a_documented_503_with_retry_after(keyed, schema):
    held = [socket.create_connection(("127.0.0.1", keyed.port), timeout=10) for _ in range(CAP)]
    try:
        answer = wait_until(lambda: full(keyed), "a 503 for the connections held")
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: not full(keyed), "a connection served again")

    assert answer.headers["Retry-After"] == "5"
    assert_documented(schema, "/events", "post", answer)


def full(server: Server) -> httpx.Response | None:
    answer = post(server, event())
    return answer if answer.status_code == 503 else None


@pytest.mark.parametrize(("path", "status"), [("/healthz", 200), ("/readyz", 200)])
def test_the_probes_answer_as_documented(relay, schema, path, status):
    answer = httpx.get(relay.url + path, timeout=10)

    assert answer.status_code == status
    assert_documented(schema, path, "get", answer)
    posted = httpx.post(relay.url + path, timeout=10)
    assert posted.status_code == 405
    assert_documented(schema, path, "get", posted)


def test_readiness_without_redis_is_a_documented_503(keyed, schema):
    answer = httpx.get(f"{keyed.url}/readyz", timeout=10)

    assert answer.status_code == 503
    assert_documented(schema, "/readyz", "get", answer)


def test_the_schema_is_yaml_or_json_as_asked(relay, schema):
    answer = httpx.get(f"{relay.url}/api/schema", timeout=10)
    asked = httpx.get(f"{relay.url}/api/schema", headers={"Accept": "application/json"}, timeout=10)

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/vnd.oai.openapi;")
    assert "openapi: 3.0.3" in answer.text and "/events:" in answer.text
    assert asked.json() == schema
    assert set(schema["paths"]) == {"/events", "/healthz", "/readyz"}
    assert schema["paths"]["/events"]["post"]["security"] == [{"producerKey": []}, {}]
    assert schema["components"]["securitySchemes"]["producerKey"]["scheme"] == "bearer"


class Links(HTMLParser):
    """Every URL a page loads or links to: src and href attributes."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_the_docs_page_loads_everything_from_the_server_itself(relay):
    page = httpx.get(f"{relay.url}/api/docs", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    links = Links()
    links.feed(page.text)

    assert len(links.urls) >= 3  # Swagger UI's stylesheet, its scripts, the page's own script
    for url in links.urls:
        absolute = urljoin(f"{relay.url}/api/docs", url)
        assert urlsplit(absolute).netloc == f"127.0.0.1:{relay.port}", url
        asset = httpx.get(absolute, timeout=10)
        assert asset.status_code == 200, url
    assert "cdn" not in page.text.lower() and "//validator.swagger.io" not in page.text


def test_the_schema_validates_without_a_warning(tmp_path):
    env = Server(settings=SETTINGS).env
    out = tmp_path / "schema.yaml"
    checked = manage("spectacular", "--validate", "--fail-on-warn", "--file", str(out), env=env)

    assert checked.returncode == 0, checked.stderr
    assert "warning" not in checked.stderr.lower() and "error" not in checked.stderr.lower()
    assert "/events:" in out.read_text()


def test_the_annotation_leaves_the_view_as_it_was():
    """drf-spectacular reads the annotation at schema time: the handler is the view's own
    coroutine function, not a wrapper around it, so a request costs what it did."""
    handler = EventsView.__dict__["post"]
    assert inspect.iscoroutinefunction(handler) and not hasattr(handler, "__wrapped__")
    assert handler.__code__.co_filename.endswith("events/views.py")
