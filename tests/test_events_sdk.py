"""Requests made by the `cloudevents` Python SDK, the natural producer, are accepted and normalized.

Both of the SDK's APIs: the long-standing one (`cloudevents.v1`: `http.CloudEvent`,
`conversion.to_structured` / `to_binary`) and the newer core one (`cloudevents.core`). The SDK has
no batch writer, so a batch is the array of its JSON-format events.
"""

import json
import uuid
from datetime import UTC, datetime

from cloudevents.core.bindings import http as core_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as CoreEvent
from cloudevents.v1 import conversion
from cloudevents.v1.http import CloudEvent

from tests.support.groups import GroupListener

TIME = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)


def unique_source() -> str:
    return f"/outlets/{uuid.uuid4().hex}/orders ü"


async def send(client, headers: dict, body: bytes):
    """Send the SDK's request as an HTTP client would: header values as UTF-8 bytes."""
    headers = {name.lower(): str(value) for name, value in headers.items()}
    content_type = headers.pop("content-type", None)
    # Servers hand header bytes to Django as latin-1 text; the test client expects the same.
    wire = {name: value.encode().decode("latin-1") for name, value in headers.items()}
    return await client.generic("POST", "/events", body, content_type, headers=wire)


async def test_v1_structured(async_client):
    event = CloudEvent(
        {"type": "created", "source": unique_source(), "subject": "1", "traceparent": "00-a-01"},
        {"id": "1", "items": [1, 2]},
    )
    headers, body = conversion.to_structured(event)
    async with GroupListener(event["source"]) as listener:
        response = await send(async_client, headers, body)
        assert response.status_code == 201, response.content
        assert response.json() == json.loads(body)
        assert (await listener.receive())["payload"] == response.content.decode()


async def test_v1_structured_bytes_data_becomes_data_base64(async_client):
    event = CloudEvent(
        {"type": "t", "source": unique_source(), "datacontenttype": "application/octet-stream"},
        b"\x00\xff",
    )
    response = await send(async_client, *conversion.to_structured(event))
    assert response.status_code == 201, response.content
    assert response.json()["data_base64"] == "AP8="


async def test_v1_binary(async_client):
    attributes = {
        "type": "created",
        "source": unique_source(),
        "id": "42",
        "time": TIME.isoformat(),
        "subject": "orders/1",
        "dataschema": "https://example.com/order.json",
        "datacontenttype": "application/json",
        "priority": 5,
        "urgent": True,
    }
    event = CloudEvent(attributes, {"id": "1"})
    headers, body = conversion.to_binary(event)
    async with GroupListener(attributes["source"]) as listener:
        response = await send(async_client, headers, body)
        assert response.status_code == 201, response.content
        # Binary mode carries every extension value as a string.
        assert response.json() == {
            **attributes,
            "specversion": "1.0",
            "priority": "5",
            "urgent": "True",
            "data": {"id": "1"},
        }
        assert (await listener.receive())["payload"] == response.content.decode()


async def test_v1_binary_bytes_data_becomes_data_base64(async_client):
    event = CloudEvent(
        {"type": "t", "source": unique_source(), "datacontenttype": "image/png"}, b"\x89PNG"
    )
    response = await send(async_client, *conversion.to_binary(event))
    assert response.status_code == 201, response.content
    assert response.json()["data_base64"] == "iVBORw=="
    assert response.json()["datacontenttype"] == "image/png"


async def test_core_structured(async_client):
    event = CoreEvent(
        {"type": "created", "source": unique_source(), "time": TIME, "partitionkey": "p1"},
        {"id": "1"},
    )
    message = core_http.to_structured_event(event)
    response = await send(async_client, message.headers, message.body)
    assert response.status_code == 201, response.content
    assert response.json() == json.loads(message.body)
    assert response.json()["time"] == "2024-05-01T12:00:00.250000Z"


async def test_core_binary_percent_encodes_and_is_decoded(async_client):
    attributes = {
        "type": "created",
        "source": unique_source(),
        "subject": ' "quoted" 100% ',
        "datacontenttype": "application/json",
        "comment": "über €",
    }
    event = CoreEvent(dict(attributes), {"id": "1"})
    message = core_http.to_binary_event(event)
    assert "%" in message.headers["ce-source"]  # the SDK did percent-encode
    async with GroupListener(attributes["source"]) as listener:
        response = await send(async_client, message.headers, message.body)
        assert response.status_code == 201, response.content
        body = response.json()
        assert {name: body[name] for name in attributes} == attributes
        assert body["data"] == {"id": "1"}
        assert (await listener.receive())["payload"] == response.content.decode()


async def test_core_binary_text_data(async_client):
    event = CoreEvent(
        {"type": "t", "source": unique_source(), "datacontenttype": "text/plain"}, "hello ü"
    )
    message = core_http.to_binary_event(event)
    response = await send(async_client, message.headers, message.body)
    assert response.status_code == 201, response.content
    assert response.json()["data"] == "hello ü"


async def test_batch_of_sdk_events(async_client):
    source = unique_source()
    events = [CoreEvent({"type": f"t{i}", "source": source}, {"n": i}) for i in range(3)]
    body = b"[" + b",".join(JSONFormat().write(event) for event in events) + b"]"
    async with GroupListener(source) as listener:
        response = await send(
            async_client, {"content-type": "application/cloudevents-batch+json"}, body
        )
        assert response.status_code == 201, response.content
        assert response.json() == json.loads(body)
        received = [await listener.receive_event() for _ in events]
    assert [event["id"] for event in received] == [event.get_id() for event in events]


async def test_v1_binary_does_not_percent_encode_so_a_literal_percent_is_refused(async_client):
    # The HTTP binding wants '%' sent as %25; the v1 SDK sends header values raw. The core
    # SDK encodes (test above), and so does structured mode.
    attributes = {"type": "t", "source": unique_source(), "subject": "100% done"}
    event = CloudEvent({**attributes, "datacontenttype": "application/json"}, {"id": "1"})
    headers, body = conversion.to_binary(event)
    assert headers["ce-subject"] == "100% done"
    response = await send(async_client, headers, body)
    assert response.status_code == 400
    assert response.json() == {
        "subject": "header 'ce-subject' has a '%' not followed by two hex digits at index 3: "
        "percent-encoding is '%' and two hex digits (a literal '%' is sent as %25)"
    }


async def test_sdk_events_with_infinite_numbers_are_refused_naming_the_path(async_client):
    # The SDK writes JSON with Python's defaults, which let Infinity through.
    event = CoreEvent({"type": "t", "source": unique_source()}, {"total": float("inf")})
    message = core_http.to_structured_event(event)
    assert b"Infinity" in message.body
    response = await send(async_client, message.headers, message.body)
    assert response.status_code == 400
    assert response.json()["data"].startswith(
        "'data' holds Infinity at /total, which JSON cannot carry"
    )
