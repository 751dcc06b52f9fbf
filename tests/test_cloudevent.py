"""CloudEvents 1.0 attribute rules (JSON format), one rule at a time, valid and invalid."""

import pytest

from events.cloudevent import MAX_SOURCE_LENGTH, InvalidEvent, validate_batch, validate_event
from sockets import session

MINIMAL = {"id": "1", "source": "/outlets/1/orders", "type": "created"}


def valid(**attributes) -> dict:
    return validate_event({**MINIMAL, **attributes})


def errors(value) -> dict:
    with pytest.raises(InvalidEvent) as caught:
        validate_event(value)
    return caught.value.errors


def error(**attributes) -> dict:
    return errors({**MINIMAL, **attributes})


def test_a_minimal_event_gets_specversion_1_0():
    assert validate_event(dict(MINIMAL)) == {**MINIMAL, "specversion": "1.0"}


def test_specversion_1_0_is_kept():
    assert valid(specversion="1.0")["specversion"] == "1.0"


@pytest.mark.parametrize("specversion", ["0.3", "1", "1.0.0", "", 1.0, 1, True, ["1.0"]])
def test_specversion_other_than_1_0_is_rejected(specversion):
    message = error(specversion=specversion)["specversion"]
    assert '"1.0"' in message and repr(specversion) in message


@pytest.mark.parametrize("name", ["id", "source", "type"])
def test_required_attribute_missing(name):
    event = dict(MINIMAL)
    del event[name]
    assert errors(event) == {name: f"'{name}' is required"}


@pytest.mark.parametrize("name", ["id", "source", "type"])
def test_required_attribute_null_counts_as_missing(name):
    assert error(**{name: None}) == {name: f"'{name}' is required"}


@pytest.mark.parametrize("name", ["id", "source", "type", "subject"])
def test_string_attribute_must_not_be_empty(name):
    assert error(**{name: ""}) == {name: f"'{name}' must not be empty"}


@pytest.mark.parametrize("name", ["id", "source", "type", "subject"])
@pytest.mark.parametrize(
    "value, kind",
    [(1, "a number"), (1.5, "a number"), (True, "a boolean"), ([], "an array"), ({}, "an object")],
)
def test_string_attribute_must_be_a_string(name, value, kind):
    assert error(**{name: value}) == {name: f"'{name}' must be a string, not {kind}"}


@pytest.mark.parametrize(
    "name, value",
    [
        ("id", "5c7a3f2e-0000-4000-8000-000000000000"),
        ("source", "https://example.com/outlets/1?x=ü"),
        ("source", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
        ("type", "com.example.order.created.v1"),
        ("subject", "orders/1"),
    ],
)
def test_string_attribute_accepts_any_text(name, value):
    assert valid(**{name: value})[name] == value


STRING_ATTRIBUTES = ["id", "source", "type", "subject", "ext"]


@pytest.mark.parametrize("name", STRING_ATTRIBUTES)
@pytest.mark.parametrize(
    "character, kind",
    [
        ("\x00", "a control character"),
        ("\t", "a control character"),
        ("\n", "a control character"),
        ("\x1f", "a control character"),
        ("\x7f", "a control character"),
        ("\x85", "a control character"),
        ("\x9f", "a control character"),
        ("\ud800", "a surrogate"),
        ("\udfff", "a surrogate"),
        ("\ufdd0", "a noncharacter"),
        ("\ufdef", "a noncharacter"),
        ("\ufffe", "a noncharacter"),
        ("\uffff", "a noncharacter"),
        ("\U0001fffe", "a noncharacter"),
        ("\U0010ffff", "a noncharacter"),
    ],
)
def test_strings_exclude_controls_surrogates_and_noncharacters(name, character, kind):
    message = error(**{name: "ab" + character + "c"})[name]
    assert message.startswith(f"'{name}' contains {kind}, U+{ord(character):04X}, at index 2: ")
    assert "CloudEvents strings exclude control characters" in message


@pytest.mark.parametrize("name", ["time", "dataschema", "datacontenttype"])
def test_formatted_strings_name_the_excluded_character_first(name):
    value = {"time": "2024-05-01T12:00:00Z", "dataschema": "https://e.x/", "datacontenttype": "a/b"}
    message = error(**{name: value[name] + "\x00"})[name]
    assert f"contains a control character, U+0000, at index {len(value[name])}" in message


@pytest.mark.parametrize(
    "text",
    [
        " \u00a0no-break space, \u200dzero-width joiner, \u2028line separator",
        "\ue000 private use, \U000e0001 tag, \u0378 unassigned but not a noncharacter",
        "\ufdcf\ufdf0\ufffd\U0001fffd\U00020000 just around the noncharacters",
        "\xa0\xa0 right after the C1 controls, emoji 😀👍🏽",
    ],
)
@pytest.mark.parametrize("name", STRING_ATTRIBUTES)
def test_strings_accept_every_other_character(name, text):
    assert valid(**{name: text})[name] == text


@pytest.mark.parametrize(
    "time",
    [
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00z",
        "2024-05-01t12:00:00Z",
        "2024-05-01T12:00:00+00:00",
        "2024-05-01T12:00:00-00:00",
        "2024-05-01T12:00:00+05:30",
        "2024-05-01T12:00:00-08:00",
        "2024-05-01T12:00:00+23:59",
        "2024-05-01T12:00:00.5Z",
        "2024-05-01T12:00:00.123456789+02:00",
        "2016-12-31T23:59:60Z",  # a leap second
        "2024-02-29T00:00:00Z",  # a leap day
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_time_accepts_rfc3339(time):
    assert valid(time=time)["time"] == time


@pytest.mark.parametrize(
    "time",
    [
        "2024-05-01",  # no time
        "2024-05-01T12:00:00",  # no offset
        "2024-05-01T12:00Z",  # no seconds
        "2024-5-1T12:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",  # not a leap year
        "2024-13-01T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-05-00T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z",
        "2024-05-01T12:00:61Z",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00+05:60",
        "2024-05-01T12:00:00+0530",
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00,5Z",
        " 2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00Z ",
        "٢٠٢٤-٠٥-٠١T12:00:00Z",  # digits, but not ASCII ones
        "yesterday",
    ],
)
def test_time_rejects_what_is_not_rfc3339(time):
    message = error(time=time)["time"]
    assert "RFC 3339" in message and repr(time) in message


@pytest.mark.parametrize(
    "time, real",
    [
        ("2000-02-29T00:00:00Z", True),  # a leap year: divisible by 400
        ("1900-02-29T00:00:00Z", False),  # divisible by 100 only
        ("2024-01-31T00:00:00Z", True),
        ("2024-04-31T00:00:00Z", False),
        ("2024-12-31T23:59:60+23:59", True),
        ("0000-01-01T00:00:00Z", False),  # datetime's years start at 1
    ],
)
def test_time_is_a_day_of_the_calendar(time, real):
    if real:
        assert valid(time=time)["time"] == time
    else:
        assert "RFC 3339" in error(time=time)["time"]


@pytest.mark.parametrize("time, kind", [(1714564800, "a number"), ({}, "an object")])
def test_time_must_be_a_string(time, kind):
    assert error(time=time) == {"time": f"'time' must be a string, not {kind}"}


@pytest.mark.parametrize(
    "uri",
    [
        "https://example.com/schemas/order.json",
        "urn:example:order:v1",
        "mailto:ops@example.com",
        "tag:example.com,2024:order",
        "HTTP://EXAMPLE.COM/X",
    ],
)
def test_dataschema_accepts_absolute_uris(uri):
    assert valid(dataschema=uri)["dataschema"] == uri


@pytest.mark.parametrize(
    "uri",
    [
        "/schemas/order.json",
        "order.json",
        "//example.com/order.json",
        "1http://example.com",
        "https://example.com/a b",
        ":no-scheme",
    ],
)
def test_dataschema_rejects_relative_or_malformed_uris(uri):
    assert "absolute URI" in error(dataschema=uri)["dataschema"]


def test_dataschema_must_be_a_string():
    assert error(dataschema=7) == {"dataschema": "'dataschema' must be a string, not a number"}


@pytest.mark.parametrize(
    "media_type",
    [
        "application/json",
        "text/plain; charset=utf-8",
        'text/plain;charset="utf-8"',
        "application/vnd.example+json",
        "multipart/form-data; boundary=abc; charset=utf-8",
        "Text/Plain",
    ],
)
def test_datacontenttype_accepts_media_types(media_type):
    assert valid(datacontenttype=media_type)["datacontenttype"] == media_type


@pytest.mark.parametrize(
    "media_type",
    [
        "json",
        "application/",
        "/json",
        "application/json/extra",
        "application json",
        "text/plain; charset",
        "text/plain\u2003;charset=utf-8",  # Unicode whitespace
        "ü/x",
    ],
)
def test_datacontenttype_rejects_what_is_not_a_media_type(media_type):
    assert "media type" in error(datacontenttype=media_type)["datacontenttype"]


@pytest.mark.parametrize(
    "data",
    [{"id": "1"}, [1, 2], "text", 0, -1.5, 10**30, True, False, {"nested": [{"a": None}]}, ""],
)
def test_data_is_any_json_value(data):
    assert valid(data=data)["data"] == data


def test_data_null_is_an_explicit_null_payload_and_is_kept():
    # JSON event format 3.1.1: `"data": null` is not the same as an event without data.
    assert valid(data=None) == {**MINIMAL, "specversion": "1.0", "data": None}


@pytest.mark.parametrize("data_base64", ["", "AP8=", "aGVsbG8gd29ybGQ=", "YQ=="])
def test_data_base64_accepts_base64(data_base64):
    assert valid(data_base64=data_base64)["data_base64"] == data_base64


@pytest.mark.parametrize("data_base64", ["AP8", "A", "not base64!", "YQ==YQ==x", "AP8=\n", "ü"])
def test_data_base64_rejects_what_is_not_base64(data_base64):
    assert "not valid base64" in error(data_base64=data_base64)["data_base64"]


@pytest.mark.parametrize("data_base64, kind", [(1, "a number"), ([], "an array")])
def test_data_base64_must_be_a_string(data_base64, kind):
    assert error(data_base64=data_base64) == {
        "data_base64": f"'data_base64' must be a base64 string, not {kind}"
    }


def test_data_and_data_base64_are_mutually_exclusive():
    message = error(data={"a": 1}, data_base64="AP8=")["data_base64"]
    assert "'data' and 'data_base64' are mutually exclusive" in message


def test_data_null_beside_data_base64_is_two_payloads():
    message = error(data=None, data_base64="AP8=")["data_base64"]
    assert "'data' and 'data_base64' are mutually exclusive" in message


@pytest.mark.parametrize("name", ["traceparent", "partitionkey", "x1", "a", "0", "v2beta"])
def test_extension_names_are_lower_case_letters_and_digits(name):
    assert valid(**{name: "v"})[name] == "v"


@pytest.mark.parametrize(
    "name", ["traceParent", "trace-id", "trace_id", "trace id", "", "ünicode", "x.y", "DATA"]
)
def test_extension_names_that_break_the_rule_are_rejected(name):
    message = error(**{name: "v"})[name]
    assert "lower-case ASCII letters and digits" in message and repr(name) in message


@pytest.mark.parametrize(
    "value", ["", "text", True, False, 0, 1, -1, 2**31 - 1, -(2**31), "2**40 as text"]
)
def test_extension_values_are_strings_integers_or_booleans(value):
    assert valid(ext=value)["ext"] == value


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 10**20])
def test_extension_integers_must_fit_32_bits(value):
    assert "out of range" in error(ext=value)["ext"]


@pytest.mark.parametrize(
    "value, kind", [(1.5, "a number"), (1.0, "a number"), ({}, "an object"), ([1], "an array")]
)
def test_extension_values_other_than_string_integer_boolean_are_rejected(value, kind):
    assert error(ext=value) == {
        "ext": f"extension 'ext' must be a string, an integer or a boolean, not {kind}"
    }


@pytest.mark.parametrize("name", ["subject", "time", "dataschema", "datacontenttype", "ext"])
def test_null_attribute_counts_as_absent(name):
    assert valid(**{name: None}) == {**MINIMAL, "specversion": "1.0"}


def test_extensions_are_kept_untouched_beside_every_attribute():
    event = {
        **MINIMAL,
        "specversion": "1.0",
        "subject": "1",
        "time": "2024-05-01T12:00:00Z",
        "dataschema": "https://example.com/s",
        "datacontenttype": "application/json",
        "data": {"id": "1"},
        "traceparent": "00-abc-01",
        "priority": 3,
        "urgent": False,
    }
    assert validate_event(event) == event


def test_an_error_keyed_by_a_long_invalid_name_is_keyed_by_its_start():
    [(key, message)] = errors({**MINIMAL, "ü" * 100_000: 1}).items()
    assert key == "ü" * 97 + "..."
    assert message == f"attribute name '{'ü' * 56}... is invalid: names are lower-case ASCII " + (
        "letters and digits only"
    )


def test_every_offending_attribute_is_named_at_once():
    assert set(errors({"id": 1, "source": "", "time": "now", "Bad": 1})) == {
        "id",
        "source",
        "type",
        "time",
        "Bad",
    }


@pytest.mark.parametrize(
    "value, kind",
    [([], "an array"), ("event", "a string"), (1, "a number"), (None, "null"), (True, "a boolean")],
)
def test_an_event_must_be_an_object(value, kind):
    assert errors(value) == {"event": f"an event must be a JSON object, not {kind}"}


def test_validation_does_not_change_the_input():
    event = {**MINIMAL, "subject": None}
    validate_event(event)
    assert event == {**MINIMAL, "subject": None}


# A batch


def test_a_batch_is_its_events_normalized_in_order():
    batch = [{**MINIMAL, "id": "1"}, {**MINIMAL, "id": "2", "subject": None}]
    assert validate_batch(batch) == [
        {**MINIMAL, "id": "1", "specversion": "1.0"},
        {**MINIMAL, "id": "2", "specversion": "1.0"},
    ]
    assert validate_batch([]) == []


def test_a_batch_is_all_or_nothing_with_errors_keyed_by_index():
    with pytest.raises(InvalidEvent) as caught:
        validate_batch([dict(MINIMAL), {**MINIMAL, "id": ""}, dict(MINIMAL), None])
    assert set(caught.value.errors) == {"1", "3"}
    assert set(caught.value.errors["1"]) == {"id"}
    assert caught.value.errors["3"] == {"event": "an event must be a JSON object, not null"}


@pytest.mark.parametrize("value, kind", [({}, "an object"), (None, "null"), ("[]", "a string")])
def test_a_batch_must_be_an_array(value, kind):
    with pytest.raises(InvalidEvent) as caught:
        validate_batch(value)
    assert caught.value.errors == {"batch": f"a batch must be a JSON array of events, not {kind}"}


def test_a_batch_answer_lists_about_100_errors_and_says_where_judging_stopped():
    batch = [dict(MINIMAL)] * 5 + [{**MINIMAL, "id": 1}] * 150 + [dict(MINIMAL)]
    with pytest.raises(InvalidEvent) as caught:
        validate_batch(batch)
    errors = caught.value.errors
    assert list(errors) == [str(index) for index in range(5, 105)] + ["batch"]
    assert errors["104"] == {"id": "'id' must be a string, not a number"}
    assert errors["batch"] == (
        "judging stopped at index 104, with 100 errors listed; the 51 events after it were not "
        "judged"
    )


def test_a_batch_counts_the_errors_of_each_event():
    with pytest.raises(InvalidEvent) as caught:
        validate_batch([{}] * 50)  # three errors each
    assert list(caught.value.errors)[-2:] == ["33", "batch"]


def test_a_batch_whose_last_event_brings_the_100th_error_is_judged_whole():
    with pytest.raises(InvalidEvent) as caught:
        validate_batch([dict(MINIMAL)] + [None] * 100)
    assert len(caught.value.errors) == 100 and "batch" not in caught.value.errors


def test_an_event_answer_lists_100_invalid_attributes_and_says_where_judging_stopped():
    listed = errors({**MINIMAL, **{f"Bad{i}": 1 for i in range(150)}})
    assert len(listed) == 101 and "Bad99" in listed and "Bad100" not in listed
    assert listed["event"] == (  # 50 more names, then the specversion filled in
        "judging stopped at attribute 'Bad99', with 100 errors listed; the 51 attributes after "
        "it were not judged"
    )


def test_an_event_whose_last_attribute_is_its_100th_error_is_judged_whole():
    listed = errors({**MINIMAL, **{f"Bad{i}": 1 for i in range(99)}, "specversion": 2})
    assert len(listed) == 100 and "event" not in listed


def test_a_source_is_at_most_as_long_as_a_socket_can_join():
    longest = "/" + "s" * (MAX_SOURCE_LENGTH - 1)

    assert valid(source=longest)["source"] == longest
    assert error(source=longest + "s") == {
        "source": f"'source' is {MAX_SOURCE_LENGTH + 1} characters long; the limit is "
        f"{MAX_SOURCE_LENGTH} characters, so that subscribers can join it as the topic "
        "'source:<source>' (2048 at most)"
    }
    assert session.topic_problem(session.TOPIC_PREFIX + longest) is None
