"""The HTTP binding's content modes without Django: mode selection, JSON decoding, binary mode."""

import base64
import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import content_modes
from events.cloudevent import InvalidEvent
from events.content_modes import (
    BATCH,
    BINARY,
    STRUCTURED,
    MalformedBody,
    NumberOutOfRange,
    binary_event,
    decode_json,
    mode_for,
    mode_of_environ,
)
from tests.support.fuzz import count

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
    environ = {"CONTENT_TYPE": content_type}
    if "ce-specversion" in headers:
        environ["HTTP_CE_SPECVERSION"] = headers["ce-specversion"]
    assert mode_of_environ(environ) == mode


def test_the_modes_kept_for_content_types_stay_few_whatever_a_producer_sends():
    for n in range(1_000):
        assert mode_of_environ({"CONTENT_TYPE": f"application/json; n={n}"}) == STRUCTURED
        assert mode_of_environ({"CONTENT_TYPE": f"text/plain; n={n}"}) is None
    assert content_modes._mode_of.cache_info().currsize <= 64


@pytest.mark.parametrize(
    "body, value",
    [
        (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
        (b"[]", []),
        (b'"text"', "text"),
        (b" 0 ", 0),
        (b"null", None),
        ('{"k": "ü"}'.encode(), {"k": "ü"}),
        ('\ufeff{"k": "ü"}'.encode(), {"k": "ü"}),  # a UTF-8 BOM is skipped
        (
            b"[1.7976931348623157e308, -1.7976931348623157e308, 1e-400, 0.5E+3]",
            [1.7976931348623157e308, -1.7976931348623157e308, 0.0, 500.0],
        ),
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
        (b'{"data": NaN, "x": }', "not valid JSON"),  # beyond the number, not JSON anyway
        (b"[1e400, " + b"[" * 100_000 + b"]" * 100_000 + b"]", "nested too deeply"),
        (b'{"a": "\xff"}', "the body is not valid UTF-8: invalid start byte at byte 7"),
        (b'"\xed\xa0\x80"', "the body is not valid UTF-8: invalid continuation byte at byte 1"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"1" * 5000, "not valid JSON"),  # beyond Python's int digit limit
    ],
)
def test_decode_json_names_what_is_wrong(body, reason):
    with pytest.raises(MalformedBody, match=reason.replace("[", r"\[")):
        decode_json(body)


@pytest.mark.parametrize(
    "body, encoding",
    [
        ('{"id": "1"}'.encode("utf-16"), "UTF-16"),
        ('{"id": "1"}'.encode("utf-16-le"), "UTF-16-LE"),
        ('{"id": "1"}'.encode("utf-16-be"), "UTF-16-BE"),
        ('{"id": "1"}'.encode("utf-32"), "UTF-32"),
        ('{"id": "1"}'.encode("utf-32-be"), "UTF-32-BE"),
    ],
)
def test_decode_json_refuses_what_is_not_utf8(body, encoding):
    # json.loads(bytes) would guess the encoding and accept these.
    with pytest.raises(MalformedBody) as caught:
        decode_json(body)
    assert str(caught.value) == (
        f"the body must be UTF-8 (RFC 8259), and this one looks like {encoding}"
    )


@pytest.mark.parametrize(
    "body, literal, path",
    [
        (b"1e400", "1e400", ()),
        (b'{"data": 1e400}', "1e400", ("data",)),
        (b'{"data": -1E+999}', "-1E+999", ("data",)),
        (b'{"data": {"a": [0, 1, 2.5, 1e309]}}', "1e309", ("data", "a", 3)),
        (b'{"data": [' + b"1" * 400 + b".0]}", "1" * 57 + "...", ("data", 0)),
        (b'[{"id": "1"}, {"data": {"x": [1e999, 1e999]}}]', "1e999", (1, "data", "x", 0)),
        (b'{"data": NaN}', "NaN", ("data",)),
        (b'{"ext": [Infinity]}', "Infinity", ("ext", 0)),
        (b'{"data": -Infinity}', "-Infinity", ("data",)),
    ],
)
def test_decode_json_refuses_numbers_json_cannot_carry_and_says_where(body, literal, path):
    with pytest.raises(NumberOutOfRange) as caught:
        decode_json(body)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"the body holds {literal}")
    assert "JSON cannot carry: numbers must be finite" in str(caught.value)


def test_number_out_of_range_errors_are_keyed_like_the_rules():
    with pytest.raises(NumberOutOfRange) as caught:
        decode_json(b'[{"id": "1"}, {"data": {"a/b": [0, 1e400]}}]')
    assert caught.value.errors("batch", "event") == {
        "1": {
            "data": "'data' holds 1e400 at /a~1b/1, which JSON cannot carry: numbers must be "
            "finite, between -1.7976931348623157e+308 and 1.7976931348623157e+308 (JSON has no "
            "Infinity or NaN)"
        }
    }
    assert set(caught.value.errors("event")) == {"1"}


@pytest.mark.parametrize(
    "body, levels, key, where",
    [
        (
            '{"data": [' + "[0]," * 30_000 + "[[1e400]]]}",
            ("event",),
            "data",
            "somewhere inside /30000",
        ),
        (
            "[" + '{"data": [[0]]},' * 30_000 + '{"data": [1e400]}]',
            ("batch", "event"),
            "30000",
            "somewhere inside",
        ),
    ],
)
def test_a_number_among_very_many_containers_is_located_to_the_attribute(body, levels, key, where):
    # Past 50,000 members of containers the exact search gives way to one that names the
    # attribute (and the event in a batch) at the cost of an encoding or two, not of a walk in
    # Python.
    with pytest.raises(NumberOutOfRange) as caught:
        decode_json(body.encode())
    assert not caught.value.exact
    errors = caught.value.errors(*levels)
    message = errors[key] if len(levels) == 1 else errors[key]["data"]
    assert message.startswith(f"'data' holds 1e400 {where}, which JSON cannot carry")


def test_number_out_of_range_errors_cut_a_long_key():
    with pytest.raises(NumberOutOfRange) as caught:
        decode_json(('{"' + "k" * 100_000 + '": 1e400}').encode())
    assert list(caught.value.errors("event")) == ["k" * 97 + "..."]


@pytest.mark.parametrize(
    "body, levels, keys",
    [
        (b"1e400", ("event",), ["event"]),
        (b"1e400", ("batch", "event"), ["batch"]),
        (b"[1e400]", ("batch", "event"), ["0", "event"]),
    ],
)
def test_a_number_in_place_of_an_event_or_batch_is_keyed_by_that_name(body, levels, keys):
    with pytest.raises(NumberOutOfRange) as caught:
        decode_json(body)
    errors = caught.value.errors(*levels)
    for key in keys:
        assert list(errors) == [key]
        errors = errors[key]
    assert errors.startswith(f"'{keys[-1]}' holds 1e400, which JSON cannot carry")


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
        ("%e2%82%ac", "€"),  # lower-case hex digits
    ],
)
def test_binary_header_values_are_percent_decoded(raw, value):
    assert binary_event({**CE_HEADERS, "ce-subject": raw}, "", b"")["subject"] == value


@pytest.mark.parametrize(
    "raw, index",
    [("%", 0), ("50%", 2), ("%zz", 0), ("%4", 0), ("a%4g", 1), ("%41%", 3), ("%%41", 0)],
)
def test_binary_header_malformed_percent_encoding_is_an_error(raw, index):
    errors = invalid_binary({**CE_HEADERS, "ce-subject": raw})
    assert errors == {
        "subject": "header 'ce-subject' has a '%' not followed by two hex digits at index "
        f"{index}: percent-encoding is '%' and two hex digits (a literal '%' is sent as %25)"
    }


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


@pytest.mark.parametrize(
    "body, text",
    [
        (b"{", "the body is not valid JSON"),
        (b"not json", "the body is not valid JSON"),
        (b'"\xff"', "the body is not valid UTF-8"),
        ('"x"'.encode("utf-16"), "the body must be UTF-8"),
        (b" ", "the body is empty"),
        (b"NaN", "the body holds NaN, which JSON cannot carry"),
        (b'{"a": [1e400]}', "the body holds 1e400 at /a/0, which JSON cannot carry"),
    ],
)
def test_binary_malformed_json_body_is_an_error_on_data(body, text):
    errors = invalid_binary(CE_HEADERS, "application/json", body)
    assert set(errors) == {"data"} and errors["data"].startswith(text)


def test_binary_json_null_body_is_an_explicit_null_payload():
    assert binary_event(CE_HEADERS, "application/json", b"null")["data"] is None


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


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(st.characters(codec="utf-8"))
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Spellings orjson refuses or reads otherwise, spliced into documents.
ODD_PIECES = [
    rb'"\ud800"',
    rb'"x\udc00"',
    b"NaN",
    b"-Infinity",
    b"1e400",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"0.1000000000000000055511151231257827",
    rb'"\u0000\/"',
    b"\xff",
    b"\x00",
    b"[" * 300 + b"]" * 300,
    b"[" * 501 + b"]" * 501,
    b"[" * 990 + b"]" * 990,  # past what the json module reaches from here: orjson reaches it
    b" \t\r\n",
    b"\x0c",
]


def outcome(decode, body: bytes):
    """What a decoder gives: the value as text (keys in order, 1 apart from 1.0), or the error."""
    try:
        return json.dumps(decode(body))
    except MalformedBody as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=count("FUZZ_EXAMPLES", 300), deadline=None)
@given(
    value=json_values,
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
    bom=st.booleans(),
    odd=st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(ODD_PIECES)), max_size=2),
)
def test_orjsons_fast_path_decodes_as_the_json_module(value, indent, ascii_only, bom, odd):
    body = json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode(
        "utf-8", "surrogatepass"
    )
    for at, piece in odd:
        at %= len(body) + 1
        body = body[:at] + piece + body[at:]
    body = b"\xef\xbb\xbf" + body if bom else body
    assert outcome(decode_json, body) == outcome(content_modes._decode_exactly, body)


def test_a_document_nested_past_what_the_stack_leaves_is_refused_as_before():
    """orjson reaches 1,024 levels wherever it is called; the json module, only what is left of
    the stack. Past FAST_BRACKETS the json module decodes, so what it refused stays refused."""
    depth = content_modes.FAST_BRACKETS + 100
    body = b"[" * depth + b"]" * depth

    def from_deep_in_the_stack(levels: int):
        if levels:
            return from_deep_in_the_stack(levels - 1)
        return outcome(decode_json, body), outcome(content_modes._decode_exactly, body)

    ours, exact = from_deep_in_the_stack(sys.getrecursionlimit() - depth)
    assert ours == exact == ("MalformedBody", "the JSON document is nested too deeply")
