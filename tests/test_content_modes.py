"""The HTTP binding's content modes without Django: mode selection, JSON decoding, binary mode."""

import base64

import pytest

from events.cloudevent import InvalidEvent
from events.content_modes import (
    BATCH,
    BINARY,
    STRUCTURED,
    MalformedBody,
    binary_event,
    decode_json,
    mode_for,
)

CE_HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "1",
    "ce-source": "/outlets/1/orders",
    "ce-type": "created",
}
ATTRIBUTES = {"specversion": "1.0", "id": "1", "source": "/outlets/1/orders", "type": "created"}


def wire(text: str) -> str:
    """A header value as servers hand it over: its UTF-8 bytes decoded as latin-1."""
    return text.encode().decode("latin-1")


@pytest.mark.parametrize(
    "content_type, headers, mode",
    [
        ("application/cloudevents-batch+json", {}, BATCH),
        ("application/cloudevents-batch+json; charset=utf-8", {}, BATCH),
        ("Application/CloudEvents-Batch+JSON", {}, BATCH),
        ("application/cloudevents-batch+json", CE_HEADERS, BATCH),
        ("application/cloudevents+json", {}, STRUCTURED),
        ("application/cloudevents+json; charset=UTF-8", {}, STRUCTURED),
        (" application/cloudevents+json ;charset=utf-8", {}, STRUCTURED),
        ("application/cloudevents+json", CE_HEADERS, STRUCTURED),
        ("application/json", {}, STRUCTURED),
        ("application/json; charset=utf-8", {}, STRUCTURED),
        ("application/json", CE_HEADERS, BINARY),
        ("application/json; charset=utf-8", CE_HEADERS, BINARY),
        ("text/plain", CE_HEADERS, BINARY),
        ("application/octet-stream", CE_HEADERS, BINARY),
        ("", CE_HEADERS, BINARY),
        ("text/plain", {}, None),
        ("application/xml", {}, None),
        ("application/jsonx", {}, None),
        ("application/x-www-form-urlencoded", {}, None),
        ("", {}, None),
        ("text/plain", {"ce-id": "1", "ce-source": "/s", "ce-type": "t"}, None),
        # Event formats other than JSON are not supported, even with ce- headers.
        ("application/cloudevents+xml", {}, None),
        ("application/cloudevents-batch+avro", CE_HEADERS, None),
    ],
)
def test_mode_follows_the_http_binding(content_type, headers, mode):
    assert mode_for(content_type, headers) == mode


@pytest.mark.parametrize(
    "body, value",
    [
        (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
        (b"[]", []),
        (b'"text"', "text"),
        (b" 0 ", 0),
        (b"null", None),
        ('{"k": "ü"}'.encode(), {"k": "ü"}),
    ],
)
def test_decode_json_accepts_any_json_document(body, value):
    assert decode_json(body) == value


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"", "the body is empty; expected a JSON document"),
        (b" \n\t", "the body is empty; expected a JSON document"),
        (b"{", "not valid JSON"),
        (b"{'a': 1}", "not valid JSON"),
        (b"[1,]", "not valid JSON"),
        (b"{} {}", "not valid JSON"),
        (b"NaN", "NaN is not valid JSON"),
        (b"[Infinity]", "Infinity is not valid JSON"),
        (b'{"a": -Infinity}', "-Infinity is not valid JSON"),
        (b'{"a": "\xff"}', "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"1" * 5000, "not valid JSON"),  # beyond Python's int digit limit
    ],
)
def test_decode_json_names_what_is_wrong(body, reason):
    with pytest.raises(MalformedBody, match=reason.replace("[", r"\[")):
        decode_json(body)


def invalid_binary(headers: dict, content_type: str = "", body: bytes = b"") -> dict:
    with pytest.raises(InvalidEvent) as caught:
        binary_event(headers, content_type, body)
    return caught.value.errors


def test_binary_attributes_come_from_ce_headers_only():
    headers = {**CE_HEADERS, "ce-subject": "1", "host": "example.com", "x-ce-id": "no"}
    assert binary_event(headers, "", b"") == {**ATTRIBUTES, "subject": "1"}


def test_binary_extension_headers_become_string_attributes():
    headers = {**CE_HEADERS, "ce-traceparent": "00-abc-01", "ce-priority": "5"}
    event = binary_event(headers, "", b"")
    assert event["traceparent"] == "00-abc-01" and event["priority"] == "5"


@pytest.mark.parametrize(
    "raw, value",
    [
        ("%2Foutlets%2F1%2Forders", "/outlets/1/orders"),
        ("/a%20b", "/a b"),
        ("%C3%BCber", "über"),
        ("100%25", "100%"),
        ("%22quoted%22", '"quoted"'),
        ("%20padded%20", " padded "),  # encoded spaces are content
        ("  trimmed  ", "trimmed"),  # the header's own whitespace is not
        (wire("über €"), "über €"),  # raw UTF-8 bytes
        (wire("voilà"), "voilà"),  # "à" ends in byte A0, which is not whitespace here
        (wire("\u00a0x\u00a0"), "\u00a0x\u00a0"),
        ("\tx\t", "x"),
        ("50%", "50%"),  # a lone % is kept as is
    ],
)
def test_binary_header_values_are_percent_decoded(raw, value):
    assert binary_event({**CE_HEADERS, "ce-subject": raw}, "", b"")["subject"] == value


@pytest.mark.parametrize("raw", ["%FF", "%C3", "%ED%A0%80", "\xff", "ok%C3%28"])
def test_binary_header_values_must_be_utf8(raw):
    errors = invalid_binary({**CE_HEADERS, "ce-subject": raw})
    assert errors == {"subject": "header 'ce-subject' is not valid UTF-8 once percent-decoded"}


def test_binary_datacontenttype_header_is_an_error():
    errors = invalid_binary({**CE_HEADERS, "ce-datacontenttype": "application/json"})
    assert "Content-Type" in errors["datacontenttype"]


def test_binary_content_type_becomes_datacontenttype():
    event = binary_event(CE_HEADERS, "application/octet-stream", b"")
    assert event == {**ATTRIBUTES, "datacontenttype": "application/octet-stream"}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.example.order+json",
        "application/cloudevents+json",
    ],
)
def test_binary_json_body_becomes_data(content_type):
    event = binary_event(CE_HEADERS, content_type, b'{"id": "1", "n": [1, 2]}')
    assert event["data"] == {"id": "1", "n": [1, 2]}
    assert event["datacontenttype"] == content_type
    assert "data_base64" not in event


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"3", b"false", b"null"])
def test_binary_json_body_may_be_any_json_value(body):
    assert "data" in binary_event(CE_HEADERS, "application/json", body)


@pytest.mark.parametrize("body", [b"{", b"not json", b"NaN", b'"\xff"', b" "])
def test_binary_malformed_json_body_is_an_error_on_data(body):
    errors = invalid_binary(CE_HEADERS, "application/json", body)
    assert set(errors) == {"data"}
    assert (
        "not valid JSON" in errors["data"] or "UTF-8" in errors["data"] or "empty" in errors["data"]
    )


@pytest.mark.parametrize(
    "content_type, body, text",
    [
        ("text/plain", "hello ü".encode(), "hello ü"),
        ("text/plain; charset=utf-8", "hello ü".encode(), "hello ü"),
        ("text/plain; charset=ISO-8859-1", "hello ü".encode("latin-1"), "hello ü"),
        ('text/csv; charset="utf-8"', b"a,b\n1,2\n", "a,b\n1,2\n"),
        ("text/html", b"<p>{not json}</p>", "<p>{not json}</p>"),
    ],
)
def test_binary_text_body_becomes_string_data(content_type, body, text):
    assert binary_event(CE_HEADERS, content_type, body)["data"] == text


@pytest.mark.parametrize(
    "content_type, body",
    [("text/plain", b"\xff\xfe"), ("text/plain; charset=klingon", b"hello")],
)
def test_binary_text_body_that_does_not_decode_is_an_error_on_data(content_type, body):
    errors = invalid_binary(CE_HEADERS, content_type, body)
    assert set(errors) == {"data"} and "not valid text in charset" in errors["data"]


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "image/png", "application/xml", ""]
)
def test_binary_other_body_becomes_data_base64(content_type):
    body = bytes(range(256))
    event = binary_event(CE_HEADERS, content_type, body)
    assert base64.b64decode(event["data_base64"]) == body
    assert "data" not in event


@pytest.mark.parametrize("body, data", [(b'{"id": "1"}', {"id": "1"}), (b"[1, 2]", [1, 2])])
def test_binary_json_body_without_content_type_is_data(body, data):
    # JSON is assumed when no type is given (JSON event format 3.1), as the SDK sends it.
    event = binary_event(CE_HEADERS, "", body)
    assert event["data"] == data and "datacontenttype" not in event


def test_binary_empty_body_means_no_data():
    event = binary_event(CE_HEADERS, "application/json", b"")
    assert "data" not in event and "data_base64" not in event


def test_binary_errors_name_every_offending_attribute():
    headers = {**CE_HEADERS, "ce-subject": "%FF", "ce-datacontenttype": "text/plain"}
    errors = invalid_binary(headers, "application/json", b"{")
    assert set(errors) == {"subject", "datacontenttype", "data"}
