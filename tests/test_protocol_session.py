"""The per-socket state machine: what each client message does, as frames and group changes."""

import json

import pytest

from sockets.serializers import V1Serializer, V2Serializer
from sockets.session import (
    MAX_JOIN_PAYLOAD_BYTES,
    MAX_REF_LENGTH,
    MAX_TOPIC_LENGTH,
    MAX_UNREAD_BYTES,
    Close,
    CloseCode,
    Limits,
    Pong,
    Send,
    Session,
    Subscribe,
    Unsubscribe,
    source_of,
)

NOW = 1000.0
LIMITS = Limits(max_frame_bytes=64 * 1024, max_channels=100, idle_timeout=60)
TWO = Limits(max_frame_bytes=64 * 1024, max_channels=2, idle_timeout=60)


def frames(actions) -> list:
    """The frames among `actions`, decoded, in order."""
    return [json.loads(action.frame) for action in actions if isinstance(action, Send)]


def groups(actions) -> list:
    return [action for action in actions if not isinstance(action, Send)]


def v2(*fields) -> str:
    return json.dumps(list(fields))


def closed_for(code: CloseCode, reason: str) -> list:
    """What the session returns to end a socket: the reason in a frame, then the close."""
    notice = [None, None, "phoenix", "phx_error", {"reason": reason}]
    return [Send(json.dumps(notice, separators=(",", ":"))), Close(code, reason)]


def joined(session: Session, topic: str, join_ref: str) -> list:
    return session.receive(v2(join_ref, join_ref, topic, "phx_join", {}), NOW, LIMITS)


@pytest.fixture
def session() -> Session:
    return Session(V2Serializer, NOW)


def test_heartbeat_is_answered_ok(session):
    actions = session.receive(v2(None, "9", "phoenix", "heartbeat", {}), NOW, LIMITS)
    assert frames(actions) == [
        [None, "9", "phoenix", "phx_reply", {"status": "ok", "response": {}}]
    ]
    assert groups(actions) == []


def test_join_subscribes_then_replies_ok_with_no_messages(session):
    actions = joined(session, "source:/orders", "1")
    assert actions[0] == Subscribe("/orders")
    assert frames(actions) == [
        ["1", "1", "source:/orders", "phx_reply", {"status": "ok", "response": {"messages": []}}]
    ]


@pytest.mark.parametrize("topic", ["source:", "room:lobby", "phoenix", "Source:/a", ""])
def test_join_of_another_topic_is_unmatched(session, topic):
    actions = joined(session, topic, "1")
    assert groups(actions) == []
    assert frames(actions) == [
        [
            "1",
            "1",
            topic,
            "phx_reply",
            {"status": "error", "response": {"reason": "unmatched topic"}},
        ]
    ]


def test_duplicate_join_closes_the_old_membership_first_and_keeps_the_group(session):
    joined(session, "source:/a", "1")
    actions = joined(session, "source:/a", "5")
    assert groups(actions) == []  # still subscribed: nothing lost, nothing doubled
    assert frames(actions) == [
        ["1", "1", "source:/a", "phx_close", {}],
        ["5", "5", "source:/a", "phx_reply", {"status": "ok", "response": {"messages": []}}],
    ]
    assert session.joined == {"/a": "5"}


def test_leave_unsubscribes_replies_ok_then_closes(session):
    joined(session, "source:/a", "1")
    actions = session.receive(v2("1", "2", "source:/a", "phx_leave", {}), NOW, LIMITS)
    assert actions[0] == Unsubscribe("/a")
    assert frames(actions) == [
        ["1", "2", "source:/a", "phx_reply", {"status": "ok", "response": {}}],
        ["1", "1", "source:/a", "phx_close", {}],
    ]
    assert session.push("/a", "created", "{}") is None


@pytest.mark.parametrize("join_ref", ["7", None])
def test_leave_of_a_topic_not_joined_is_ok_and_changes_nothing(session, join_ref):
    actions = session.receive(v2(join_ref, "2", "source:/a", "phx_leave", {}), NOW, LIMITS)
    assert frames(actions) == [
        [join_ref, "2", "source:/a", "phx_reply", {"status": "ok", "response": {}}]
    ]
    assert groups(actions) == []


def test_leave_of_an_older_membership_keeps_the_current_one(session):
    joined(session, "source:/a", "1")
    joined(session, "source:/a", "5")
    actions = session.receive(v2("1", "6", "source:/a", "phx_leave", {}), NOW, LIMITS)
    assert groups(actions) == []
    assert frames(actions)[0][4] == {"status": "ok", "response": {}}
    assert session.joined == {"/a": "5"}


def test_message_to_a_topic_not_joined_is_unmatched(session):
    actions = session.receive(v2("1", "2", "source:/a", "shout", {}), NOW, LIMITS)
    assert frames(actions) == [
        [
            "1",
            "2",
            "source:/a",
            "phx_reply",
            {"status": "error", "response": {"reason": "unmatched topic"}},
        ]
    ]


def test_other_messages_on_the_phoenix_topic_are_unmatched(session):
    actions = session.receive(v2(None, "2", "phoenix", "ping", {}), NOW, LIMITS)
    assert frames(actions)[0][4]["response"] == {"reason": "unmatched topic"}


def test_client_pushes_on_a_joined_topic_are_refused(session):
    joined(session, "source:/a", "1")
    actions = session.receive(v2("1", "2", "source:/a", "shout", {}), NOW, LIMITS)
    assert frames(actions) == [
        [
            "1",
            "2",
            "source:/a",
            "phx_reply",
            {"status": "error", "response": {"reason": "unsupported event"}},
        ]
    ]


def test_channel_limit(session):
    assert groups(joined(session, "source:/a", "1")) == [Subscribe("/a")]
    assert groups(joined(session, "source:/b", "2")) == [Subscribe("/b")]
    over = session.receive(v2("3", "3", "source:/c", "phx_join", {}), NOW, TWO)
    assert groups(over) == []
    assert frames(over)[0][4] == {
        "status": "error",
        "response": {"reason": "too many channels joined"},
    }
    # A rejoin replaces a membership rather than adding one.
    rejoin = session.receive(v2("4", "4", "source:/a", "phx_join", {}), NOW, TWO)
    assert frames(rejoin)[-1][4]["status"] == "ok"
    # Leaving makes room again.
    session.receive(v2("2", "5", "source:/b", "phx_leave", {}), NOW, TWO)
    assert groups(session.receive(v2("6", "6", "source:/c", "phx_join", {}), NOW, TWO)) == [
        Subscribe("/c")
    ]


def test_push_only_for_joined_sources(session):
    joined(session, "source:/a", "1")
    assert json.loads(session.push("/a", "created", '{"id":"1"}')) == [
        None,
        None,
        "source:/a",
        "created",
        {"id": "1"},
    ]
    assert session.push("/b", "created", '{"id":"1"}') is None


def test_leave_all_forgets_every_membership(session):
    joined(session, "source:/a", "1")
    joined(session, "source:/b", "2")
    assert session.leave_all() == [Unsubscribe("/a"), Unsubscribe("/b")]
    assert session.joined == {}
    assert session.push("/a", "created", "{}") is None


def test_v1_session_speaks_objects_and_old_clients_use_ref_as_join_ref():
    session = Session(V1Serializer, NOW)
    join = '{"topic": "source:/a", "event": "phx_join", "payload": {}, "ref": "3"}'
    actions = session.receive(join, NOW, LIMITS)
    assert actions[0] == Subscribe("/a")
    assert frames(actions)[0] == {
        "join_ref": None,
        "ref": "3",
        "topic": "source:/a",
        "event": "phx_reply",
        "payload": {"status": "ok", "response": {"messages": []}},
    }
    rejoin = session.receive(join.replace('"3"', '"4"'), NOW, LIMITS)
    assert frames(rejoin)[0] == {
        "join_ref": "3",
        "ref": "3",
        "topic": "source:/a",
        "event": "phx_close",
        "payload": {},
    }


def test_malformed_frames_close_the_socket_and_change_nothing(session):
    joined(session, "source:/a", "1")
    actions = session.receive('{"topic": "source:/b"}', NOW, LIMITS)
    reason = "a V2 frame is a JSON array [join_ref, ref, topic, event, payload]"
    assert actions == closed_for(CloseCode.INVALID_PAYLOAD, reason)
    assert session.joined == {"/a": "1"}


@pytest.mark.parametrize(
    ("topic", "source"),
    [("source:/a", "/a"), ("source:source:x", "source:x"), ("source:", None), ("room:1", None)],
)
def test_source_of(topic, source):
    assert source_of(topic) == source


# The per-connection rules: limits, idle deadline, backlog and close codes.


@pytest.mark.parametrize("padding", ["x" * 100, "é" * 50])
def test_a_frame_over_the_limit_closes_with_4009_counting_bytes(padding):
    session = Session(V2Serializer, NOW)
    small = Limits(max_frame_bytes=100, max_channels=100, idle_timeout=60)
    actions = session.receive(v2(None, "1", "phoenix", "heartbeat", {"pad": padding}), NOW, small)
    assert actions == closed_for(CloseCode.MESSAGE_TOO_BIG, "frame larger than 100 bytes")


def test_binary_frames_close_with_4003(session):
    assert session.receive_binary(NOW) == closed_for(
        CloseCode.UNSUPPORTED_DATA, "binary frames are not supported"
    )


@pytest.mark.parametrize("field", [0, 1])
def test_refs_longer_than_the_limit_close_with_4007_and_are_never_echoed(session, field):
    refs = ["1", "1"]
    refs[field] = "r" * (MAX_REF_LENGTH + 1)
    actions = session.receive(v2(*refs, "phoenix", "heartbeat", {}), NOW, LIMITS)
    assert actions == closed_for(CloseCode.INVALID_PAYLOAD, "ref longer than 128 characters")


def test_refs_at_the_limit_are_answered(session):
    ref = "r" * MAX_REF_LENGTH
    assert frames(session.receive(v2(ref, ref, "phoenix", "heartbeat", {}), NOW, LIMITS)) == [
        [ref, ref, "phoenix", "phx_reply", {"status": "ok", "response": {}}]
    ]


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("source:/" + "t" * MAX_TOPIC_LENGTH, "topic longer than 2048 characters"),
        ("source:/\ud800", "topic is not valid Unicode text (it has a lone surrogate)"),
        ("room:\udfff", "topic is not valid Unicode text (it has a lone surrogate)"),
    ],
)
def test_topics_that_cannot_be_joined_get_an_error_reply_naming_why(session, topic, reason):
    actions = joined(session, topic, "1")
    assert groups(actions) == []
    assert frames(actions) == [
        ["1", "1", topic, "phx_reply", {"status": "error", "response": {"reason": reason}}]
    ]
    assert session.joined == {}


def test_a_topic_at_the_limit_can_be_joined(session):
    topic = "source:/" + "t" * (MAX_TOPIC_LENGTH - len("source:/"))
    assert groups(joined(session, topic, "1")) == [Subscribe(topic[len("source:") :])]


def test_join_payloads_over_the_limit_get_an_error_reply(session):
    big = {"token": "x" * MAX_JOIN_PAYLOAD_BYTES}
    actions = session.receive(v2("1", "1", "source:/a", "phx_join", big), NOW, LIMITS)
    assert frames(actions)[0][4] == {
        "status": "error",
        "response": {"reason": "join payload larger than 8192 bytes"},
    }
    params = {"token": "x" * 100}
    ok = session.receive(v2("2", "2", "source:/a", "phx_join", params), NOW, LIMITS)
    assert groups(ok) == [Subscribe("/a")]


def test_a_ping_is_answered_with_a_pong_and_counts_as_activity(session):
    assert session.ping(b"hi", NOW + 50) == [Pong(b"hi")]
    assert session.idle_deadline(LIMITS) == NOW + 50 + 60


def test_the_idle_deadline_counts_from_the_last_frame(session):
    assert session.check_idle(NOW + 59, LIMITS) == []
    session.receive(v2(None, "1", "phoenix", "heartbeat", {}), NOW + 30, LIMITS)
    assert session.check_idle(NOW + 61, LIMITS) == []
    assert session.check_idle(NOW + 90, LIMITS) == closed_for(
        CloseCode.IDLE_TIMEOUT, "no frame received for 60s (idle timeout)"
    )


def test_a_client_is_closed_once_more_than_the_limit_waits_for_it(session):
    assert session.sent(0) is None
    assert session.sent(MAX_UNREAD_BYTES) is None
    assert session.sent(10) is None  # it read meanwhile: what waits is what counts
    reason = f"the client is not reading: more than {MAX_UNREAD_BYTES} bytes wait for it"
    assert session.sent(MAX_UNREAD_BYTES + 1) == closed_for(CloseCode.TOO_SLOW, reason)
    assert session.sent(MAX_UNREAD_BYTES + 2) is None  # closing already


def test_an_overflowing_channel_layer_closes_with_4008(session):
    assert session.overflow() == closed_for(
        CloseCode.TOO_SLOW, "events arrived faster than the socket took them"
    )


def test_a_failure_closes_with_4011(session):
    assert session.fail() == closed_for(CloseCode.SERVER_ERROR, "server error")


def test_a_closing_session_ignores_the_client_and_pushes_nothing(session):
    joined(session, "source:/a", "1")
    session.fail()
    assert session.receive(v2(None, "1", "phoenix", "heartbeat", {}), NOW, LIMITS) == []
    assert session.ping(b"", NOW) == []
    assert session.push("/a", "created", "{}") is None
    assert session.check_idle(NOW + 1000, LIMITS) == []
    assert session.overflow() == []
