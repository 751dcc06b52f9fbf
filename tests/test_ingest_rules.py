"""POST /events and the Python API apply the input rules of issue #10 in every content mode.

Strict JSON in (finite numbers, UTF-8 bodies), CloudEvents' allowed characters in every string
attribute, well-formed percent-encoding in `ce-` headers, and an explicit `"data": null` kept.
Each refusal is a 400 keyed as the other errors are: by attribute, and by index in a batch.
The 201 body is the text subscribers receive, so it must be RFC 8259 JSON.
"""

import json
import uuid

import pytest

from events import api
from events.cloudevent import InvalidEvent

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def new_event(**attributes) -> dict:
    return {"id": uuid.uuid4().hex, "source": "/tests/rules", "type": "t", **attributes}


def ce_headers(**attributes) -> dict:
    event = new_event(specversion="1.0", **attributes)
    return {f"ce-{name}": value for name, value in event.items()}


async def post(client, body: bytes | str, content_type: str | None, headers=None):
    body = body.encode() if isinstance(body, str) else body
    return await client.generic("POST", "/events", body, content_type, headers=headers or {})


def strict(text: bytes):
    """Parse as browsers' JSON.parse would: no NaN, no Infinity."""
    return json.loads(text, parse_constant=pytest.fail)


def refused(response) -> dict:
    assert response.status_code == 400, response.content
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


# Numbers JSON cannot carry


@pytest.mark.parametrize(
    "data, literal, where",
    [
        ("1e400", "1e400", ""),
        ("-1E+999", "-1E+999", ""),
        ('{"items": [{"price": 1e309}]}', "1e309", " at /items/0/price"),
        ("[0, " + "9" * 400 + ".5]", "9" * 57 + "...", " at /1"),
        ("NaN", "NaN", ""),
        ('{"x": -Infinity}', "-Infinity", " at /x"),
    ],
)
async def test_a_number_json_cannot_carry_is_a_400_naming_the_attribute_and_the_path(
    async_client, data, literal, where
):
    body = f'{{"id": "1", "source": "/s", "type": "t", "data": {data}}}'
    assert refused(await post(async_client, body, STRUCTURED)) == {
        "data": f"'data' holds {literal}{where}, which JSON cannot carry: numbers must be "
        "finite, between -1.7976931348623157e+308 and 1.7976931348623157e+308 (JSON has no "
        "Infinity or NaN)"
    }


async def test_a_number_json_cannot_carry_in_a_batch_is_keyed_by_index(async_client):
    body = f'[{json.dumps(new_event())}, {{"id": "2", "source": "/s", "type": "t", '
    body += '"data": {"a": [1, 2, 1e400]}}]'
    errors = refused(await post(async_client, body, BATCH))
    assert list(errors) == ["1"] and list(errors["1"]) == ["data"]
    assert errors["1"]["data"].startswith("'data' holds 1e400 at /a/2, which JSON cannot carry")


async def test_a_number_json_cannot_carry_in_an_extension_names_the_extension(async_client):
    body = '{"id": "1", "source": "/s", "type": "t", "priority": 1e400}'
    errors = refused(await post(async_client, body, STRUCTURED))
    assert errors["priority"].startswith("'priority' holds 1e400, which JSON cannot carry")


async def test_a_number_json_cannot_carry_in_a_binary_body_is_an_error_on_data(async_client):
    response = await post(async_client, b'{"a": [1e400]}', "application/json", ce_headers())
    errors = refused(response)
    assert errors["data"].startswith("the body holds 1e400 at /a/0, which JSON cannot carry")


@pytest.mark.parametrize(
    "data", ["1.7976931348623157e308", "-1.7976931348623157e308", "1e-400", "123456789e-5"]
)
async def test_numbers_at_the_edges_of_the_range_are_relayed_as_json(async_client, data):
    body = f'{{"id": "1", "source": "/s", "type": "t", "data": [{data}]}}'
    response = await post(async_client, body, STRUCTURED)
    assert response.status_code == 201, response.content
    assert strict(response.content)["data"] == [float(data)]


# Bodies are UTF-8


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
@pytest.mark.parametrize("content_type", [STRUCTURED, BATCH, "application/json"])
async def test_a_body_that_is_not_utf8_is_a_400_saying_so(async_client, content_type, encoding):
    value = [new_event()] if content_type == BATCH else new_event()
    response = await post(async_client, json.dumps(value).encode(encoding), content_type)
    assert refused(response) == {
        "detail": f"the body must be UTF-8 (RFC 8259), and this one looks like {encoding.upper()}"
    }


async def test_a_binary_json_body_that_is_not_utf8_is_an_error_on_data(async_client):
    body = json.dumps({"a": 1}).encode("utf-16")
    response = await post(async_client, body, "application/json", ce_headers())
    assert refused(response) == {
        "data": "the body must be UTF-8 (RFC 8259), and this one looks like UTF-16"
    }


async def test_utf8_encoded_surrogates_are_not_utf8(async_client):
    body = b'{"id": "1", "source": "/s", "type": "t", "data": "\xed\xa0\x80"}'
    detail = refused(await post(async_client, body, STRUCTURED))["detail"]
    assert detail == "the body is not valid UTF-8: invalid continuation byte at byte 50"


@pytest.mark.parametrize("content_type", [STRUCTURED, BATCH])
async def test_a_utf8_byte_order_mark_is_skipped(async_client, content_type):
    event = new_event(subject="ü")
    value = [event] if content_type == BATCH else event
    response = await post(async_client, "\ufeff" + json.dumps(value), content_type)
    assert response.status_code == 201, response.content
    assert response.json() == (
        [{**event, "specversion": "1.0"}]
        if content_type == BATCH
        else {**event, "specversion": "1.0"}
    )


# CloudEvents' allowed characters, in every string attribute and every content mode

EXCLUDED = [
    ("\u0000", "a control character"),
    ("\u001b", "a control character"),
    ("\u007f", "a control character"),
    ("\u0085", "a control character"),
    ("\ud800", "a surrogate"),
    ("\ufdd0", "a noncharacter"),
    ("\uffff", "a noncharacter"),
    ("\U0001fffe", "a noncharacter"),
]


def excluded_message(name: str, character: str, kind: str, index: int) -> str:
    return f"'{name}' contains {kind}, U+{ord(character):04X}, at index {index}: "


@pytest.mark.parametrize("character, kind", EXCLUDED)
@pytest.mark.parametrize("name", ["id", "source", "type", "subject", "traceparent"])
async def test_structured_string_attributes_refuse_excluded_characters(
    async_client, name, character, kind
):
    body = json.dumps(new_event(**{name: "ok" + character}))  # a JSON escape: \u0000, \ud800...
    errors = refused(await post(async_client, body, STRUCTURED))
    assert errors[name].startswith(excluded_message(name, character, kind, 2))


@pytest.mark.parametrize("character, kind", EXCLUDED)
async def test_batched_string_attributes_refuse_excluded_characters(async_client, character, kind):
    body = json.dumps([new_event(), new_event(partitionkey=character)])
    errors = refused(await post(async_client, body, BATCH))
    assert list(errors) == ["1"]
    assert errors["1"]["partitionkey"].startswith(
        excluded_message("partitionkey", character, kind, 0)
    )


@pytest.mark.parametrize(
    "encoded, character, kind",
    [
        ("%00", "\u0000", "a control character"),
        ("%0A", "\n", "a control character"),
        ("%7F", "\u007f", "a control character"),
        ("%C2%85", "\u0085", "a control character"),
        ("%EF%B7%90", "\ufdd0", "a noncharacter"),
        ("%EF%BF%BE", "\ufffe", "a noncharacter"),
        ("%F4%8F%BF%BF", "\U0010ffff", "a noncharacter"),
    ],
)
@pytest.mark.parametrize("name", ["id", "source", "type", "subject", "traceparent"])
async def test_binary_headers_refuse_excluded_characters_once_decoded(
    async_client, name, encoded, character, kind
):
    headers = {**ce_headers(), f"ce-{name}": "ab" + encoded}
    errors = refused(await post(async_client, b"", None, headers))
    assert errors[name].startswith(excluded_message(name, character, kind, 2))


async def test_a_binary_content_type_with_a_control_character_names_datacontenttype(
    async_client,
):
    response = await post(async_client, b"x", "text/plain;\tcharset=utf-8", ce_headers())
    errors = refused(response)
    assert errors["datacontenttype"].startswith(
        excluded_message("datacontenttype", "\t", "a control character", 11)
    )


@pytest.mark.parametrize(
    "text", ["no-break\u00a0space", "emoji 😀👍🏽 and joiner \u200d", "\ufffd\ue000\U00020000"]
)
async def test_every_other_character_is_accepted_in_every_mode(async_client, text):
    event = new_event(subject=text, comment=text)
    response = await post(async_client, json.dumps(event), STRUCTURED)
    assert response.json()["subject"] == text and response.json()["comment"] == text
    response = await post(async_client, json.dumps([event]), BATCH)
    assert response.json()[0]["subject"] == text
    encoded = "".join(f"%{byte:02X}" for byte in text.encode())
    headers = {**ce_headers(), "ce-subject": encoded, "ce-comment": encoded}
    response = await post(async_client, b"", None, headers)
    assert response.json()["subject"] == text and response.json()["comment"] == text


# Percent-encoding in ce- headers


@pytest.mark.parametrize("raw, index", [("%", 0), ("100%", 3), ("%zz", 0), ("a%4", 1)])
@pytest.mark.parametrize("name", ["subject", "source", "traceparent"])
async def test_malformed_percent_encoding_is_a_400_naming_the_header(
    async_client, name, raw, index
):
    headers = {**ce_headers(), f"ce-{name}": raw}
    assert refused(await post(async_client, b"", None, headers)) == {
        name: f"header 'ce-{name}' has a '%' not followed by two hex digits at index {index}: "
        "percent-encoding is '%' and two hex digits (a literal '%' is sent as %25)"
    }


# "data": null


async def test_structured_data_null_is_kept_and_relayed_as_null(async_client):
    event = new_event(data=None, subject=None)
    response = await post(async_client, json.dumps(event), STRUCTURED)
    assert response.status_code == 201, response.content
    assert b'"data":null' in response.content
    assert strict(response.content) == {
        **new_event(id=event["id"]),
        "specversion": "1.0",
        "data": None,
    }


async def test_batched_data_null_is_kept_and_absent_data_stays_absent(async_client):
    events = [new_event(data=None), new_event()]
    response = await post(async_client, json.dumps(events), BATCH)
    assert response.status_code == 201, response.content
    relayed = strict(response.content)
    assert relayed[0]["data"] is None and "data" not in relayed[1]


async def test_binary_null_body_is_data_null_and_an_empty_body_is_no_data(async_client):
    response = await post(async_client, b"null", "application/json", ce_headers())
    assert response.status_code == 201 and response.json()["data"] is None
    response = await post(async_client, b"", "application/json", ce_headers())
    assert response.status_code == 201 and "data" not in response.json()


async def test_data_null_beside_data_base64_is_two_payloads(async_client):
    event = new_event(data=None, data_base64="AP8=")
    errors = refused(await post(async_client, json.dumps(event), STRUCTURED))
    assert "'data' and 'data_base64' are mutually exclusive" in errors["data_base64"]


# The Python publish API follows the same rules


def prepared_errors(**attributes) -> dict:
    with pytest.raises(InvalidEvent) as caught:
        api.prepare(None, {"source": "/s", "type": "t", **attributes})
    return caught.value.errors


@pytest.mark.parametrize(
    "data, shown, where",
    [
        (float("inf"), "Infinity", ""),
        ({"a": [1, float("-inf")]}, "-Infinity", " at /a/1"),
        ([float("nan")], "NaN", " at /0"),
    ],
)
def test_api_refuses_numbers_json_cannot_carry_saying_where(data, shown, where):
    assert prepared_errors(data=data) == {
        "data": f"'data' cannot be encoded as JSON: it holds {shown}{where}, which JSON cannot "
        "carry: numbers must be finite, between -1.7976931348623157e+308 and "
        "1.7976931348623157e+308 (JSON has no Infinity or NaN)"
    }


@pytest.mark.parametrize("name", ["subject", "traceparent"])
def test_api_refuses_excluded_characters(name):
    assert prepared_errors(**{name: "a\x00"})[name].startswith(
        excluded_message(name, "\x00", "a control character", 1)
    )


def test_api_keeps_data_none_as_an_explicit_null_payload():
    assert api.prepare(None, {"source": "/s", "type": "t", "data": None})["data"] is None


# Many invalid events or attributes


async def test_a_batch_of_a_million_invalid_items_gets_a_short_answer(async_client):
    # Every item of 1 MiB of `1,` is an invalid event: the answer lists the first 100.
    body = b"[" + b"1," * (512 * 1024 - 2) + b"1]"
    errors = refused(await post(async_client, body, BATCH))
    assert len(errors) == 101 and errors["99"] == {
        "event": "an event must be a JSON object, not a number"
    }
    assert errors["batch"].startswith("judging stopped at index 99, with 100 errors listed; ")


async def test_an_event_of_ninety_thousand_invalid_attributes_gets_a_short_answer(async_client):
    names = ",".join(f'"A{i}":1' for i in range(90_000))
    body = f'{{"id": "1", "source": "/s", "type": "t", {names}}}'
    response = await post(async_client, body, STRUCTURED)
    errors = refused(response)
    assert len(errors) == 101 and len(response.content) < 20_000
    assert errors["event"].startswith("judging stopped at attribute 'A99', with 100 errors listed")
