"""POST /events in-process (Django's async test client): content modes, answers, publishing.

Each test listens on the configured channel layer in the group of a source of its own, as a
subscriber's socket would, so "published" and "nothing published" are both observed directly.
"""

import base64
import json
import uuid

import pytest

from tests.support.groups import GroupListener


def new_event(**attributes) -> dict:
    """A valid event with an id and a source of its own."""
    unique = uuid.uuid4().hex
    return {"id": unique, "source": f"/tests/{unique}", "type": "created", **attributes}


def ce_headers(event: dict) -> dict:
    return {f"ce-{name}": str(value) for name, value in event.items()}


async def post(client, body: bytes, content_type: str | None, headers: dict | None = None):
    return await client.generic("POST", "/events", body, content_type, headers=headers or {})


async def post_json(client, value, content_type="application/json"):
    return await post(client, json.dumps(value).encode(), content_type)


async def assert_nothing_published(client, listener: GroupListener) -> None:
    """A sentinel sent after the rejected request must be the next message of the group."""
    sentinel = new_event(source=listener.source, type="sentinel")
    assert (await post_json(client, sentinel)).status_code == 201
    assert (await listener.receive_event())["id"] == sentinel["id"]


def assert_error(response, status: int, **contains) -> dict:
    """The response is a JSON error with `status`; each named key's message contains a text."""
    assert response.status_code == status, response.content
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    for key, text in contains.items():
        assert text in str(body[key]), body
    return body


# Structured mode


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/cloudevents+json",
        "application/cloudevents+json; charset=utf-8",
        "application/cloudevents+json;charset=UTF-8",
        "Application/CloudEvents+JSON",
    ],
)
async def test_structured_event_is_accepted_and_published(async_client, content_type):
    event = new_event(subject="1", data={"id": "1"})
    async with GroupListener(event["source"]) as listener:
        response = await post_json(async_client, event, content_type)
        assert response.status_code == 201
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {**event, "specversion": "1.0"}
        message = await listener.receive()
    assert message == {
        "type": "relay.event",
        "source": event["source"],
        "event": "created",
        "payload": response.content.decode(),
    }


async def test_the_readme_curl_example_is_accepted(async_client):
    body = (
        b'{"id":"uuid","source":"/outlets/1/orders","type":"created","subject":"1",'
        b'"data":{"id":"1"}}'
    )
    response = await post(async_client, body, "application/json")
    assert response.status_code == 201
    assert response.json()["data"] == {"id": "1"}


async def test_structured_event_is_normalized(async_client):
    event = new_event(
        specversion=None,
        subject=None,
        time="2024-05-01T12:00:00.5+02:00",
        dataschema="https://example.com/order.json",
        datacontenttype="application/json",
        data=[1, "ü", None],
        traceparent="00-abc-01",
        priority=3,
        urgent=False,
        empty=None,
    )
    response = await post_json(async_client, event)
    assert response.status_code == 201
    normalized = {k: v for k, v in event.items() if v is not None}
    assert response.json() == {**normalized, "specversion": "1.0"}


async def test_structured_event_with_data_base64_is_relayed_as_is(async_client):
    event = new_event(datacontenttype="image/png", data_base64="iVBORw0KGgo=")
    async with GroupListener(event["source"]) as listener:
        response = await post_json(async_client, event, "application/cloudevents+json")
        assert response.status_code == 201
        assert (await listener.receive_event())["data_base64"] == "iVBORw0KGgo="


# Batched mode


async def test_batch_is_accepted_and_each_event_published_once_in_order(async_client):
    source = new_event()["source"]
    events = [new_event(source=source, type=f"t{i}", data=i) for i in range(3)]
    async with GroupListener(source) as listener:
        response = await post_json(async_client, events, "application/cloudevents-batch+json")
        assert response.status_code == 201
        assert response.json() == [{**e, "specversion": "1.0"} for e in events]
        messages = [await listener.receive() for _ in events]
        await assert_nothing_published(async_client, listener)  # nothing more than the three
    assert [m["event"] for m in messages] == ["t0", "t1", "t2"]
    assert response.content.decode() == "[" + ",".join(m["payload"] for m in messages) + "]"


async def test_batch_events_go_to_the_group_of_their_own_source(async_client):
    first, second = new_event(), new_event()
    async with GroupListener(first["source"]) as one, GroupListener(second["source"]) as two:
        response = await post_json(
            async_client, [first, second], "application/cloudevents-batch+json; charset=utf-8"
        )
        assert response.status_code == 201
        assert (await one.receive_event())["id"] == first["id"]
        assert (await two.receive_event())["id"] == second["id"]
        await assert_nothing_published(async_client, one)


async def test_batch_is_all_or_nothing_with_errors_keyed_by_index(async_client):
    source = new_event()["source"]
    events = [
        new_event(source=source),
        new_event(source=source, type=None),
        new_event(source=source),
    ]
    async with GroupListener(source) as listener:
        response = await post_json(async_client, events, "application/cloudevents-batch+json")
        assert_error(response, 400)
        assert response.json() == {"1": {"type": "'type' is required"}}
        await assert_nothing_published(async_client, listener)


async def test_batch_errors_name_every_invalid_event(async_client):
    events = [new_event(time="noon"), new_event(), 7, new_event(Bad=1)]
    response = await post_json(async_client, events, "application/cloudevents-batch+json")
    body = assert_error(response, 400)
    assert set(body) == {"0", "2", "3"}
    assert "RFC 3339" in body["0"]["time"]
    assert body["2"] == {"event": "an event must be a JSON object, not a number"}
    assert "'Bad'" in body["3"]["Bad"]


@pytest.mark.parametrize(
    "body, kind",
    [(b"{}", "an object"), (b"null", "null"), (b'"events"', "a string"), (b"1", "a number")],
)
async def test_batch_body_must_be_an_array(async_client, body, kind):
    response = await post(async_client, body, "application/cloudevents-batch+json")
    assert assert_error(response, 400) == {
        "batch": f"a batch must be a JSON array of events, not {kind}"
    }


async def test_empty_batch_publishes_nothing(async_client):
    response = await post(async_client, b"[]", "application/cloudevents-batch+json")
    assert response.status_code == 201
    assert response.json() == []


# Binary mode


async def test_binary_event_is_accepted_and_published(async_client):
    event = new_event(subject="orders/1", time="2024-05-01T12:00:00Z", traceparent="00-abc-01")
    headers = {**ce_headers(event), "ce-specversion": "1.0"}
    headers["ce-source"] = event["source"].replace("/", "%2F")
    async with GroupListener(event["source"]) as listener:
        response = await post(async_client, b'{"id": "1"}', "application/json", headers)
        assert response.status_code == 201
        assert response.json() == {
            **event,
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "data": {"id": "1"},
        }
        message = await listener.receive()
    assert message["payload"] == response.content.decode()
    assert message["event"] == "created"


@pytest.mark.parametrize(
    "content_type, body, data",
    [
        ("application/json", b"[1, 2]", {"data": [1, 2]}),
        ("application/json; charset=utf-8", '"ü"'.encode(), {"data": "ü"}),
        ("application/vnd.example+json", b'{"a": null}', {"data": {"a": None}}),
        ("text/plain", "hello ü".encode(), {"data": "hello ü"}),
        ("text/plain; charset=iso-8859-1", "hello ü".encode("latin-1"), {"data": "hello ü"}),
        ("text/csv", b"a,b\n", {"data": "a,b\n"}),
        ("application/octet-stream", b"\x00\xff", {"data_base64": "AP8="}),
        ("image/png", b"\x89PNG", {"data_base64": base64.b64encode(b"\x89PNG").decode()}),
    ],
)
async def test_binary_body_becomes_data_by_content_type(async_client, content_type, body, data):
    event = new_event(specversion="1.0")
    response = await post(async_client, body, content_type, ce_headers(event))
    assert response.status_code == 201
    assert response.json() == {**event, "datacontenttype": content_type, **data}


async def test_plain_json_with_ce_headers_is_binary_not_structured(async_client):
    attributes = new_event(specversion="1.0")
    body = new_event(type="inside-the-body")
    response = await post(
        async_client, json.dumps(body).encode(), "application/json", ce_headers(attributes)
    )
    assert response.status_code == 201
    assert response.json() == {**attributes, "datacontenttype": "application/json", "data": body}


@pytest.mark.parametrize(
    "raw, value",
    [
        ("%2Fa%20b", "/a b"),
        ("%C3%BCber%20%E2%82%AC", "über €"),
        ("über €".encode().decode("latin-1"), "über €"),  # raw UTF-8 bytes on the wire
        ("100%25%22", '100%"'),
    ],
)
async def test_binary_header_values_are_percent_decoded(async_client, raw, value):
    event = new_event(specversion="1.0")
    headers = {**ce_headers(event), "ce-subject": raw, "ce-comment": raw}
    response = await post(async_client, b"", None, headers)
    assert response.status_code == 201
    assert response.json()["subject"] == value
    assert response.json()["comment"] == value


async def test_binary_header_that_is_not_utf8_is_rejected(async_client):
    event = new_event(specversion="1.0")
    async with GroupListener(event["source"]) as listener:
        response = await post(async_client, b"", None, {**ce_headers(event), "ce-subject": "%FF"})
        assert assert_error(response, 400) == {
            "subject": "header 'ce-subject' is not valid UTF-8 once percent-decoded"
        }
        await assert_nothing_published(async_client, listener)


async def test_binary_ce_datacontenttype_header_is_rejected(async_client):
    headers = {**ce_headers(new_event(specversion="1.0")), "ce-datacontenttype": "text/plain"}
    response = await post(async_client, b"hi", "text/plain", headers)
    assert_error(response, 400, datacontenttype="Content-Type")


@pytest.mark.parametrize("body", [b"{", b"{'a': 1}", b"\xff"])
async def test_binary_malformed_json_body_is_rejected(async_client, body):
    response = await post(
        async_client, body, "application/json", ce_headers(new_event(specversion="1.0"))
    )
    assert_error(response, 400, data="the body is not valid")


async def test_binary_text_body_in_the_wrong_charset_is_rejected(async_client):
    response = await post(
        async_client, b"\xff", "text/plain; charset=utf-8", ce_headers(new_event(specversion="1.0"))
    )
    assert_error(response, 400, data="not valid text in charset 'utf-8'")


@pytest.mark.parametrize(
    "header, value, attribute, text",
    [
        ("ce-specversion", "0.3", "specversion", '"1.0"'),
        ("ce-time", "2024-02-30T00:00:00Z", "time", "RFC 3339"),
        ("ce-dataschema", "%2Frelative", "dataschema", "absolute URI"),
        ("ce-source", "", "source", "must not be empty"),
        ("ce-trace_id", "1", "trace-id", "lower-case ASCII letters and digits"),
    ],
)
async def test_binary_attribute_rules_apply_to_headers(
    async_client, header, value, attribute, text
):
    headers = {**ce_headers(new_event(specversion="1.0")), header: value}
    response = await post(async_client, b"", None, headers)
    assert_error(response, 400, **{attribute: text})


@pytest.mark.parametrize("missing", ["id", "source", "type"])
async def test_binary_required_headers(async_client, missing):
    headers = ce_headers(new_event(specversion="1.0"))
    del headers[f"ce-{missing}"]
    response = await post(async_client, b"", "text/plain", headers)
    assert assert_error(response, 400) == {missing: f"'{missing}' is required"}


# Error answers and nothing published


async def test_invalid_attributes_are_a_400_keyed_by_attribute(async_client):
    event = new_event(time="noon", dataschema="relative", Priority=1.5, data=1, data_base64="AP8=")
    async with GroupListener(event["source"]) as listener:
        response = await post_json(async_client, event)
        body = assert_error(response, 400)
        assert set(body) == {"time", "dataschema", "Priority", "data_base64"}
        assert all(isinstance(message, str) and message for message in body.values())
        await assert_nothing_published(async_client, listener)


@pytest.mark.parametrize(
    "body, text",
    [
        (b'{"id": "1",', "the body is not valid JSON"),
        (b"   ", "the body is empty"),
        (b'{"id": "\xff"}', "the body is not valid UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ],
)
@pytest.mark.parametrize("content_type", ["application/json", "application/cloudevents-batch+json"])
async def test_malformed_json_is_a_400_with_a_json_detail(async_client, content_type, body, text):
    assert_error(await post(async_client, body, content_type), 400, detail=text)


async def test_malformed_json_publishes_nothing(async_client):
    event = new_event()
    async with GroupListener(event["source"]) as listener:
        body = json.dumps(event).encode()[:-1]
        assert_error(await post(async_client, body, "application/json"), 400)
        await assert_nothing_published(async_client, listener)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "",
        "application/cloudevents+xml",
        "application/cloudevents-batch+avro",
    ],
)
async def test_unsupported_media_type_is_a_415(async_client, content_type):
    event = new_event()
    async with GroupListener(event["source"]) as listener:
        response = await post(async_client, json.dumps(event).encode(), content_type)
        assert_error(response, 415, detail="Unsupported media type")
        assert "application/cloudevents+json" in response.json()["detail"]
        await assert_nothing_published(async_client, listener)


async def test_415_names_the_media_type(async_client):
    response = await post(async_client, b"<event/>", "application/xml")
    assert_error(response, 415, detail="'application/xml'")


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_other_methods_are_a_405(async_client, method):
    event = new_event()
    response = await async_client.generic(
        method, "/events", json.dumps(event).encode(), "application/json"
    )
    assert_error(response, 405, detail=f'Method "{method}" not allowed')
    assert response.headers["Allow"] == "POST"


async def test_head_is_a_405(async_client):
    response = await async_client.head("/events")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "application/json; indent=4"])
async def test_every_answer_is_json_whatever_the_client_accepts(async_client, accept):
    headers = {"Accept": accept}
    event = new_event()
    body = json.dumps(event).encode()
    response = await post(async_client, body, "application/json", headers)
    assert response.status_code == 201, response.content
    assert response.json()["id"] == event["id"]

    response = await post(async_client, b'{"id": ""}', "application/json", headers)
    assert_error(response, 400, id="must not be empty")
    assert b"\n" not in response.content


async def test_the_projects_rest_framework_throttles_and_versioning_do_not_apply(
    async_client, settings
):
    # The view runs DRF's checks on the event loop: a project's throttles (which read a cache)
    # must not run there, nor its versioning refuse a producer.
    settings.REST_FRAMEWORK = {
        **getattr(settings, "REST_FRAMEWORK", {}),
        "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {"anon": "1/day"},
        "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.QueryParameterVersioning",
        "ALLOWED_VERSIONS": ["1"],
    }
    for _ in range(2):
        body = json.dumps(new_event()).encode()
        response = await async_client.generic("POST", "/events?version=2", body, "application/json")
        assert response.status_code == 201, response.content


@pytest.fixture
def small_limit(settings):
    settings.RELAYMAN_MAX_EVENT_BYTES = 200
    return 200


def padded(event: dict, size: int) -> bytes:
    """The event as JSON of exactly `size` bytes (padding its data)."""
    body = json.dumps({**event, "data": ""}).encode()
    return json.dumps({**event, "data": "x" * (size - len(body))}).encode()


async def test_body_at_the_limit_is_accepted(async_client, small_limit):
    response = await post(async_client, padded(new_event(), small_limit), "application/json")
    assert response.status_code == 201


@pytest.mark.parametrize("content_type", ["application/json", "application/cloudevents-batch+json"])
async def test_body_over_the_limit_is_a_413(async_client, small_limit, content_type):
    event = new_event()
    body = padded(event, small_limit + 1)
    if content_type.endswith("batch+json"):
        body = b"[" + padded(event, small_limit - 1) + b"]"
    async with GroupListener(event["source"]) as listener:
        response = await post(async_client, body, content_type)
        assert assert_error(response, 413) == {
            "detail": "The body is 201 bytes; the limit is 200 bytes (RELAYMAN_MAX_EVENT_BYTES, "
            "or 'maximum event size' in the admin's relay settings)"
        }
        await assert_nothing_published(async_client, listener)


async def test_binary_body_over_the_limit_is_a_413(async_client, small_limit):
    headers = ce_headers(new_event(specversion="1.0"))
    response = await post(async_client, b"\x00" * 201, "application/octet-stream", headers)
    assert_error(response, 413, detail="RELAYMAN_MAX_EVENT_BYTES")


async def test_error_messages_quoting_odd_input_are_ascii_json(async_client):
    event = new_event(**{"na\u00efve": 1, "bad\ud800": 2})
    response = await post_json(async_client, event)
    assert_error(response, 400)
    assert response.content.isascii()
    assert set(response.json()) == {"na\u00efve", "bad\ud800"}


async def test_healthz(async_client):
    response = await async_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": 200, "message": "OK"}
