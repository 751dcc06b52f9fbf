"""The Phoenix frame codec, V1 and V2: every message kind, malformed input, and fuzzing."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockets.serializers import (
    FrameError,
    Message,
    V1Serializer,
    V2Serializer,
    close,
    error,
    reply,
    serializer_for,
)

SERIALIZERS = [V1Serializer, V2Serializer]

JOIN = Message("1", "1", "source:/orders", "phx_join", {})
HEARTBEAT = Message(None, "2", "phoenix", "heartbeat", {})
LEAVE = Message("1", "3", "source:/orders", "phx_leave", {})
CUSTOM = Message("1", "4", "source:/orders", "shout", {"body": ["ü", 1, None]})


def v1_text(message: Message) -> str:
    return json.dumps(
        {
            "join_ref": message.join_ref,
            "ref": message.ref,
            "topic": message.topic,
            "event": message.event,
            "payload": message.payload,
        }
    )


def v2_text(message: Message) -> str:
    return json.dumps(
        [message.join_ref, message.ref, message.topic, message.event, message.payload]
    )


@pytest.mark.parametrize("message", [JOIN, HEARTBEAT, LEAVE, CUSTOM])
def test_v2_decodes_phoenix_js_frames(message):
    assert V2Serializer.decode(v2_text(message)) == message


@pytest.mark.parametrize("message", [JOIN, HEARTBEAT, LEAVE, CUSTOM])
def test_v1_decodes_phoenix_js_frames(message):
    assert V1Serializer.decode(v1_text(message)) == message


def test_v1_join_ref_is_optional_as_before_phoenix_1_3():
    text = '{"topic": "source:/a", "event": "phx_join", "payload": {}, "ref": "7"}'
    assert V1Serializer.decode(text) == Message(None, "7", "source:/a", "phx_join", {})


def test_v2_encodes_replies_as_arrays():
    frame = V2Serializer.encode(reply(JOIN, "ok", {"messages": []}))
    assert json.loads(frame) == [
        "1",
        "1",
        "source:/orders",
        "phx_reply",
        {"status": "ok", "response": {"messages": []}},
    ]


def test_v1_encodes_replies_as_objects():
    frame = V1Serializer.encode(reply(HEARTBEAT, "error", {"reason": "unmatched topic"}))
    assert json.loads(frame) == {
        "join_ref": None,
        "ref": "2",
        "topic": "phoenix",
        "event": "phx_reply",
        "payload": {"status": "error", "response": {"reason": "unmatched topic"}},
    }


def test_close_carries_the_join_ref_as_ref_and_join_ref():
    assert json.loads(V2Serializer.encode(close("source:/a", "5"))) == [
        "5",
        "5",
        "source:/a",
        "phx_close",
        {},
    ]


def test_error_notice_goes_to_the_phoenix_topic():
    assert json.loads(V1Serializer.encode(error("frame is not valid JSON"))) == {
        "join_ref": None,
        "ref": None,
        "topic": "phoenix",
        "event": "phx_error",
        "payload": {"reason": "frame is not valid JSON"},
    }


def test_encoding_escapes_lone_surrogates_instead_of_emitting_them():
    frame = V2Serializer.encode(Message(None, "\ud800", "phoenix", "heartbeat", {}))
    frame.encode("utf-8")  # would raise on a raw lone surrogate
    assert json.loads(frame)[1] == "\ud800"


PAYLOAD = '{"id":"1","source":"/a \\"quoted\\"","type":"created","data":{"n":[1,2]}}'


def test_v2_push_wraps_the_encoded_payload_untouched():
    frame = V2Serializer.encode_push('source:/a "quoted"', "créé", PAYLOAD)
    assert frame.endswith("," + PAYLOAD + "]")
    assert json.loads(frame) == [None, None, 'source:/a "quoted"', "créé", json.loads(PAYLOAD)]


def test_v1_push_wraps_the_encoded_payload_untouched():
    frame = V1Serializer.encode_push("source:/a", "created", PAYLOAD)
    assert frame.endswith(":" + PAYLOAD + "}")
    assert json.loads(frame) == {
        "join_ref": None,
        "ref": None,
        "topic": "source:/a",
        "event": "created",
        "payload": json.loads(PAYLOAD),
    }


@pytest.mark.parametrize(
    ("vsn", "serializer"),
    [
        ("2.0.0", V2Serializer),
        ("2.1.3", V2Serializer),
        ("1.0.0", V1Serializer),
        (None, V1Serializer),
        ("", V1Serializer),
        ("3.0.0", None),
        ("0.9", None),
        ("latest", None),
    ],
)
def test_serializer_for_vsn(vsn, serializer):
    assert serializer_for(vsn) is serializer


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "frame is not valid JSON"),
        ("[null, null", "frame is not valid JSON"),
        ("[" * 100_000, "frame is not valid JSON"),
        ("1" * 5000, "frame is not valid JSON"),
        ('{"topic": "x"}', "a V2 frame is a JSON array"),
        ('[null, "1", "phoenix", "heartbeat"]', "a V2 frame is a JSON array"),
        ('[null, "1", "phoenix", "heartbeat", {}, 6]', "a V2 frame is a JSON array"),
        ('[1, "1", "phoenix", "heartbeat", {}]', "join_ref must be a string or null"),
        ('[null, 1, "phoenix", "heartbeat", {}]', "ref must be a string or null"),
        ('[null, "1", null, "heartbeat", {}]', "topic must be a string"),
        ('[null, "1", "phoenix", ["heartbeat"], {}]', "event must be a string"),
    ],
)
def test_v2_names_what_is_wrong(text, reason):
    with pytest.raises(FrameError, match=reason.replace("[", r"\[")):
        V2Serializer.decode(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "frame is not valid JSON"),
        ('[null, "1", "phoenix", "heartbeat", {}]', "a V1 frame is a JSON object"),
        ('"heartbeat"', "a V1 frame is a JSON object"),
        ('{"topic": "phoenix", "event": "heartbeat"}', "V1 frame lacks payload, ref"),
        (
            '{"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "1", "join_ref": 2}',
            "join_ref must be a string or null",
        ),
        ('{"topic": 1, "event": "heartbeat", "payload": {}, "ref": "1"}', "topic must be"),
    ],
)
def test_v1_names_what_is_wrong(text, reason):
    with pytest.raises(FrameError, match=reason):
        V1Serializer.decode(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=20,
)
frame_keys = st.sampled_from(["join_ref", "ref", "topic", "event", "payload"]) | st.text(max_size=8)


@pytest.mark.parametrize("serializer", SERIALIZERS)
@given(text=st.text())
def test_arbitrary_text_raises_nothing_but_frame_error(serializer, text):
    try:
        assert isinstance(serializer.decode(text), Message)
    except FrameError:
        pass


@pytest.mark.parametrize("serializer", SERIALIZERS)
@given(
    data=st.lists(json_values, max_size=7)
    | st.dictionaries(frame_keys, json_values, max_size=7)
    | json_values
)
def test_arbitrary_json_raises_nothing_but_frame_error(serializer, data):
    try:
        message = serializer.decode(json.dumps(data))
    except FrameError:
        return
    assert isinstance(message.topic, str) and isinstance(message.event, str)


refs = st.none() | st.text()


@pytest.mark.parametrize("serializer", SERIALIZERS)
@given(
    message=st.builds(Message, refs, refs, st.text(), st.text(), json_values),
)
def test_encoded_messages_decode_to_themselves(serializer, message):
    assert serializer.decode(serializer.encode(message)) == message
