"""The per-socket state machine: what each client message does, as frames and group changes."""

import json

import pytest

from sockets.serializers import FrameError, V1Serializer, V2Serializer
from sockets.session import Send, Session, Subscribe, Unsubscribe, source_of

MAX = 100


def frames(actions) -> list:
    """The frames among `actions`, decoded, in order."""
    return [json.loads(action.frame) for action in actions if isinstance(action, Send)]


def groups(actions) -> list:
    return [action for action in actions if not isinstance(action, Send)]


def v2(*fields) -> str:
    return json.dumps(list(fields))


def joined(session: Session, topic: str, join_ref: str) -> list:
    return session.receive(v2(join_ref, join_ref, topic, "phx_join", {}), MAX)


@pytest.fixture
def session() -> Session:
    return Session(V2Serializer)


def test_heartbeat_is_answered_ok(session):
    actions = session.receive(v2(None, "9", "phoenix", "heartbeat", {}), MAX)
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
    actions = session.receive(v2("1", "2", "source:/a", "phx_leave", {}), MAX)
    assert actions[0] == Unsubscribe("/a")
    assert frames(actions) == [
        ["1", "2", "source:/a", "phx_reply", {"status": "ok", "response": {}}],
        ["1", "1", "source:/a", "phx_close", {}],
    ]
    assert session.push("/a", "created", "{}") is None


@pytest.mark.parametrize("join_ref", ["7", None])
def test_leave_of_a_topic_not_joined_is_ok_and_changes_nothing(session, join_ref):
    actions = session.receive(v2(join_ref, "2", "source:/a", "phx_leave", {}), MAX)
    assert frames(actions) == [
        [join_ref, "2", "source:/a", "phx_reply", {"status": "ok", "response": {}}]
    ]
    assert groups(actions) == []


def test_leave_of_an_older_membership_keeps_the_current_one(session):
    joined(session, "source:/a", "1")
    joined(session, "source:/a", "5")
    actions = session.receive(v2("1", "6", "source:/a", "phx_leave", {}), MAX)
    assert groups(actions) == []
    assert frames(actions)[0][4] == {"status": "ok", "response": {}}
    assert session.joined == {"/a": "5"}


def test_message_to_a_topic_not_joined_is_unmatched(session):
    actions = session.receive(v2("1", "2", "source:/a", "shout", {}), MAX)
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
    actions = session.receive(v2(None, "2", "phoenix", "ping", {}), MAX)
    assert frames(actions)[0][4]["response"] == {"reason": "unmatched topic"}


def test_client_pushes_on_a_joined_topic_are_refused(session):
    joined(session, "source:/a", "1")
    actions = session.receive(v2("1", "2", "source:/a", "shout", {}), MAX)
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
    over = session.receive(v2("3", "3", "source:/c", "phx_join", {}), 2)
    assert groups(over) == []
    assert frames(over)[0][4] == {
        "status": "error",
        "response": {"reason": "too many channels joined"},
    }
    # A rejoin replaces a membership rather than adding one.
    rejoin = session.receive(v2("4", "4", "source:/a", "phx_join", {}), 2)
    assert frames(rejoin)[-1][4]["status"] == "ok"
    # Leaving makes room again.
    session.receive(v2("2", "5", "source:/b", "phx_leave", {}), 2)
    assert groups(session.receive(v2("6", "6", "source:/c", "phx_join", {}), 2)) == [
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
    session = Session(V1Serializer)
    join = '{"topic": "source:/a", "event": "phx_join", "payload": {}, "ref": "3"}'
    actions = session.receive(join, MAX)
    assert actions[0] == Subscribe("/a")
    assert frames(actions)[0] == {
        "join_ref": None,
        "ref": "3",
        "topic": "source:/a",
        "event": "phx_reply",
        "payload": {"status": "ok", "response": {"messages": []}},
    }
    rejoin = session.receive(join.replace('"3"', '"4"'), MAX)
    assert frames(rejoin)[0] == {
        "join_ref": "3",
        "ref": "3",
        "topic": "source:/a",
        "event": "phx_close",
        "payload": {},
    }


def test_malformed_frames_raise_frame_error_and_change_nothing(session):
    joined(session, "source:/a", "1")
    with pytest.raises(FrameError):
        session.receive('{"topic": "source:/b"}', MAX)
    assert session.joined == {"/a": "1"}


@pytest.mark.parametrize(
    ("topic", "source"),
    [("source:/a", "/a"), ("source:source:x", "source:x"), ("source:", None), ("room:1", None)],
)
def test_source_of(topic, source):
    assert source_of(topic) == source
