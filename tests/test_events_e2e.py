"""POST /events against a real daphne process: every mode reaches a real WebSocket subscriber.

Subscribers join `source:<s>` over the Phoenix V2 protocol with the `websockets` library and
must receive the push `[null, null, "source:<s>", <type>, <event>]`; a rejected request must push
nothing (a valid sentinel posted after it is the next push).
"""

import json

import httpx
import pytest
from cloudevents.v1 import conversion
from cloudevents.v1.http import CloudEvent

from tests.support.server import Server
from tests.support.sockets_client import TIMEOUT, new_source, phoenix, post_event

LIMIT = 1024


async def post(server: Server, content: bytes, content_type: str | None = None, **kwargs):
    headers = {**kwargs.pop("headers", {})}
    if content_type is not None:
        headers["content-type"] = content_type
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        return await http.post(f"{server.url}/events", content=content, headers=headers, **kwargs)


def ce_headers(source: str, type_: str = "created", **extra) -> dict:
    return {
        "ce-specversion": "1.0",
        "ce-id": "b1",
        "ce-source": source,
        "ce-type": type_,
        **{f"ce-{name}": value for name, value in extra.items()},
    }


async def expect_push(client, source: str) -> tuple[str, dict]:
    """The next frame must be a broadcast push on `source:<source>`; its event name and payload."""
    join_ref, ref, topic, event, payload = await client.recv()
    assert (join_ref, ref, topic) == (None, None, f"source:{source}")
    return event, payload


async def expect_nothing_pushed(server: Server, client, source: str) -> None:
    sentinel = await post_event(server, source, "sentinel")
    assert await expect_push(client, source) == ("sentinel", sentinel)


def structured(source):
    event = {"id": "s1", "source": source, "type": "created", "subject": "1", "data": {"id": "1"}}
    return json.dumps(event).encode(), {}


def binary_json(source):
    return b'{"id": "1"}', ce_headers(source, subject="orders%2F1")


@pytest.mark.parametrize(
    "content_type, request_of",
    [
        ("application/json", structured),
        ("application/cloudevents+json; charset=utf-8", structured),
        ("application/json", binary_json),
    ],
)
async def test_an_accepted_event_reaches_subscribers_of_its_source(
    server, content_type, request_of
):
    source = new_source()
    body, headers = request_of(source)
    async with phoenix(server) as client:
        await client.join(f"source:{source}")
        response = await post(server, body, content_type, headers=headers)
        assert response.status_code == 201, response.text
        assert await expect_push(client, source) == ("created", response.json())


@pytest.mark.parametrize(
    "content_type, body, data",
    [
        ("text/plain; charset=utf-8", "hello ü".encode(), {"data": "hello ü"}),
        ("application/octet-stream", b"\x00\xff", {"data_base64": "AP8="}),
        ("application/vnd.example+json", b"[1]", {"data": [1]}),
    ],
)
async def test_binary_data_by_content_type_reaches_subscribers(server, content_type, body, data):
    source = new_source()
    async with phoenix(server) as client:
        await client.join(f"source:{source}")
        response = await post(server, body, content_type, headers=ce_headers(source))
        assert response.status_code == 201, response.text
        _, event = await expect_push(client, source)
    assert event == {
        "specversion": "1.0",
        "id": "b1",
        "source": source,
        "type": "created",
        "datacontenttype": content_type,
        **data,
    }


async def test_a_batch_reaches_subscribers_event_by_event(server):
    source, other = new_source(), new_source()
    events = [
        {"id": "1", "source": source, "type": "first"},
        {"id": "2", "source": other, "type": "elsewhere"},
        {"id": "3", "source": source, "type": "second", "data": [1]},
    ]
    async with phoenix(server) as client:
        await client.join(f"source:{source}")
        response = await post(
            server, json.dumps(events).encode(), "application/cloudevents-batch+json"
        )
        assert response.status_code == 201, response.text
        accepted = response.json()
        assert await expect_push(client, source) == ("first", accepted[0])
        assert await expect_push(client, source) == ("second", accepted[2])
        await expect_nothing_pushed(server, client, source)


async def test_binary_header_bytes_are_percent_decoded_utf8(server):
    source = new_source()
    headers = {**ce_headers(source), "ce-subject": "voilà €".encode(), "ce-note": b"a%20b%25"}
    async with phoenix(server) as client:
        await client.join(f"source:{source}")
        response = await post(server, b"", None, headers=headers)
        assert response.status_code == 201, response.text
        _, event = await expect_push(client, source)
    assert (event["subject"], event["note"]) == ("voilà €", "a b%")
    assert "datacontenttype" not in event and "data" not in event


async def test_binary_body_without_content_type_is_data_base64(server):
    response = await post(server, b"\x01\x02", None, headers=ce_headers(new_source()))
    assert response.status_code == 201, response.text
    assert response.json()["data_base64"] == "AQI="


async def test_sdk_binary_request_without_datacontenttype(server):
    # The SDK's JSON body comes without a Content-Type: JSON is assumed, as its receiver does.
    event = CloudEvent({"type": "t", "source": new_source()}, {"id": "1"})
    headers, body = conversion.to_binary(event)
    response = await post(server, body, headers={k: str(v) for k, v in headers.items()})
    assert response.status_code == 201, response.text
    assert response.json()["data"] == {"id": "1"}
    assert "datacontenttype" not in response.json()


async def test_sdk_structured_request(server):
    event = CloudEvent({"type": "t", "source": new_source(), "priority": 2}, {"id": "1"})
    headers, body = conversion.to_structured(event)
    response = await post(server, body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json() == json.loads(body)


def missing_type(source):
    return json.dumps({"id": "1", "source": source}).encode(), "application/json", {}


def malformed(source):
    return b'{"id": "1", "source": "' + source.encode() + b'"', "application/json", {}


def empty(source):
    return b"", "application/cloudevents+json", {}


def unsupported(source):
    return json.dumps({"id": "1", "source": source, "type": "t"}).encode(), "text/plain", {}


def binary_bad_header(source):
    return b"", None, ce_headers(source, subject="%FF")


def binary_datacontenttype(source):
    return b"x", "text/plain", ce_headers(source, datacontenttype="text/plain")


def binary_malformed_json(source):
    return b"{", "application/json", ce_headers(source)


def batch_with_one_invalid(source):
    events = [{"id": "1", "source": source, "type": "t"}, {"id": "2", "source": source}]
    return json.dumps(events).encode(), "application/cloudevents-batch+json", {}


@pytest.mark.parametrize(
    "request_of, status, expected",
    [
        (missing_type, 400, {"type": "'type' is required"}),
        (malformed, 400, {"detail": "the body is not valid JSON"}),
        (empty, 400, {"detail": "the body is empty; expected a JSON document"}),
        (unsupported, 415, {"detail": "Unsupported media type 'text/plain'"}),
        (binary_bad_header, 400, {"subject": "not valid UTF-8"}),
        (binary_datacontenttype, 400, {"datacontenttype": "Content-Type"}),
        (binary_malformed_json, 400, {"data": "the body is not valid JSON"}),
        (batch_with_one_invalid, 400, {"1": "'type' is required"}),
    ],
)
async def test_a_rejected_request_names_the_problem_and_pushes_nothing(
    server, request_of, status, expected
):
    source = new_source()
    body, content_type, headers = request_of(source)
    async with phoenix(server) as client:
        await client.join(f"source:{source}")
        response = await post(server, body, content_type, headers=headers)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        for key, text in expected.items():
            assert text in str(response.json()[key]), response.text
        await expect_nothing_pushed(server, client, source)


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_other_methods_are_a_405(server, method):
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.request(method, f"{server.url}/events")
    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method}" not allowed.'}
    assert response.headers["allow"] == "POST"


async def test_healthz(server):
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.get(f"{server.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": 200, "message": "OK"}


@pytest.fixture(scope="module")
def limited_server():
    """A server whose RELAYMAN_MAX_EVENT_BYTES is LIMIT."""
    with Server(env={"RELAYMAN_MAX_EVENT_BYTES": str(LIMIT)}) as running:
        yield running


def event_of_size(source: str, size: int) -> bytes:
    body = json.dumps({"id": "1", "source": source, "type": "t", "data": ""}).encode()
    padded = {"id": "1", "source": source, "type": "t", "data": "x" * (size - len(body))}
    return json.dumps(padded).encode()


async def chunks(body: bytes):
    """The body as a chunked upload: no Content-Length for the server to trust."""
    for start in range(0, len(body), 100):
        yield body[start : start + 100]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_a_413_and_pushes_nothing(limited_server, chunked):
    source = new_source()
    body = event_of_size(source, LIMIT + 1)
    content = chunks(body) if chunked else body
    async with phoenix(limited_server) as client:
        await client.join(f"source:{source}")
        response = await post(limited_server, content, "application/json")
        assert response.status_code == 413, response.text
        size = f"more than {LIMIT} bytes" if chunked else f"{LIMIT + 1} bytes"
        assert response.json() == {
            "detail": f"The body is {size}; the limit is {LIMIT} bytes "
            "(RELAYMAN_MAX_EVENT_BYTES, or 'maximum event size' in the admin's relay settings)"
        }
        await expect_nothing_pushed(limited_server, client, source)


async def test_a_body_at_the_limit_is_accepted(limited_server):
    body = event_of_size(new_source(), LIMIT)
    response = await post(limited_server, chunks(body), "application/json")
    assert response.status_code == 201, response.text


async def test_the_default_limit_is_1_mib(server):
    mib = 1024 * 1024
    accepted = await post(server, event_of_size(new_source(), mib), "application/json")
    assert accepted.status_code == 201, accepted.text
    rejected = await post(server, event_of_size(new_source(), mib + 1), "application/json")
    assert rejected.status_code == 413
    assert f"the limit is {mib} bytes" in rejected.json()["detail"]
