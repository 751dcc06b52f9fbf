"""History for catch-up on rejoin, in-process: the embedded buffer's bounds, the search for a
client's last event, the join's catch-up actions and replies, and the overlap rule."""

import json

import pytest

from events import config, history
from events.history import LocalHistory
from events.history_entries import Kept, Limits
from events.layers import EmbeddedChannelLayer
from events.publishing import group_for, publish
from sockets.catch_up import AlreadySent
from sockets.serializers import V2Serializer
from sockets.session import CatchUp, Send, Session, Subscribe
from sockets.session import Limits as SocketLimits

SOURCE = "/orders"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def kept(n: int, size: int = 10, event_id: str | None = None) -> Kept:
    payload = json.dumps({"n": n, "pad": "x" * max(size - 20, 0)})
    return Kept(f"m{n}", event_id or f"e{n}", "created", payload)


def ids(entries) -> list[str] | None:
    return None if entries is None else [entry.event_id for entry in entries]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store_with(clock, count: int, limits: Limits, source: str = SOURCE, **kwargs) -> LocalHistory:
    store = LocalHistory(clock=clock, **kwargs)
    for n in range(count):
        store.add(source, [kept(n)], limits)
    return store


def test_the_events_after_the_last_one_seen_come_oldest_first(clock):
    limits = Limits(size=10, seconds=60)
    store = store_with(clock, 8, limits)
    assert ids(store.after(SOURCE, "e2", limits)) == ["e3", "e4", "e5", "e6", "e7"]
    assert ids(store.after(SOURCE, "e7", limits)) == []


def test_an_unknown_id_or_source_is_not_recovered(clock):
    limits = Limits(size=10, seconds=60)
    store = store_with(clock, 3, limits)
    assert store.after(SOURCE, "nope", limits) is None
    assert store.after("/elsewhere", "e1", limits) is None


def test_a_source_keeps_its_newest_size_events(clock):
    limits = Limits(size=3, seconds=60)
    store = store_with(clock, 10, limits)
    assert len(store.sources[SOURCE]) == 3
    assert store.after(SOURCE, "e6", limits) is None  # evicted
    assert ids(store.after(SOURCE, "e7", limits)) == ["e8", "e9"]


def test_a_smaller_size_set_live_applies_to_reads_and_the_next_publish(clock):
    store = store_with(clock, 10, Limits(size=10, seconds=60))
    smaller = Limits(size=2, seconds=60)
    assert store.after(SOURCE, "e7", smaller) is None
    assert ids(store.after(SOURCE, "e8", smaller)) == ["e9"]
    assert len(store.sources[SOURCE]) == 2


def test_events_past_the_age_are_not_served(clock):
    limits = Limits(size=10, seconds=60)
    store = store_with(clock, 3, limits)
    clock.now += 61
    store.add(SOURCE, [kept(3)], limits)
    assert store.after(SOURCE, "e2", limits) is None
    assert ids(store.sources[SOURCE] and [e for _, e in store.sources[SOURCE]]) == ["e3"]


def test_a_reused_id_is_the_cursor_at_its_latest_occurrence(clock):
    limits = Limits(size=10, seconds=60)
    store = LocalHistory(clock=clock)
    for n, event_id in enumerate(["a", "b", "a", "c"]):
        store.add(SOURCE, [kept(n, event_id=event_id)], limits)
    assert ids(store.after(SOURCE, "a", limits)) == ["c"]


def test_a_batch_is_kept_in_batch_order(clock):
    limits = Limits(size=10, seconds=60)
    store = LocalHistory(clock=clock)
    store.add(SOURCE, [kept(0)], limits)
    store.add(SOURCE, [kept(1), kept(2), kept(3)], limits)
    assert ids(store.after(SOURCE, "e0", limits)) == ["e1", "e2", "e3"]


def test_a_gap_larger_than_the_reply_limits_is_not_recovered(clock):
    by_count = Limits(size=100, seconds=60, max_events=5)
    store = store_with(clock, 20, by_count)
    assert store.after(SOURCE, "e13", by_count) is None  # 6 events after it
    assert ids(store.after(SOURCE, "e14", by_count)) == ["e15", "e16", "e17", "e18", "e19"]
    by_bytes = Limits(
        size=100, seconds=60, max_bytes=sum(len(kept(n).payload) for n in (17, 18, 19))
    )
    assert store.after(SOURCE, "e15", by_bytes) is None
    assert ids(store.after(SOURCE, "e16", by_bytes)) == ["e17", "e18", "e19"]


def test_all_sources_together_stay_under_the_byte_cap(clock):
    limits = Limits(size=1000, seconds=60)
    cap = 50 * len(kept(0).payload)
    store = LocalHistory(max_bytes=cap, clock=clock)
    for n in range(200):
        store.add(f"/s{n % 7}", [kept(n)], limits)
        assert store.bytes <= cap
    assert store.bytes == sum(
        len(entry.payload) for entries in store.sources.values() for _, entry in entries
    )


def test_the_least_recently_published_source_loses_its_events_first(clock):
    limits = Limits(size=1000, seconds=60)
    one = len(kept(0).payload)
    store = LocalHistory(max_bytes=4 * one, clock=clock)
    store.add("/quiet", [kept(0), kept(1)], limits)
    store.add("/busy", [kept(2), kept(3)], limits)
    store.add("/busy", [kept(4)], limits)
    assert ids(e for _, e in store.sources["/quiet"]) == ["e1"]
    assert ids(e for _, e in store.sources["/busy"]) == ["e2", "e3", "e4"]


def test_a_source_gone_quiet_past_the_age_is_dropped_whole(clock):
    limits = Limits(size=10, seconds=60)
    store = store_with(clock, 5, limits, source="/quiet")
    clock.now += 61
    store.add("/busy", [kept(9)], limits)
    assert list(store.sources) == ["/busy"]
    assert store.bytes == len(kept(9).payload)


# The join (sockets.session) and the overlap rule (sockets.catch_up).

LIMITS = SocketLimits(max_frame_bytes=64 * 1024, max_channels=100, idle_timeout=60)


def join(session: Session, payload, ref: str = "1") -> list:
    frame = json.dumps([ref, ref, f"source:{SOURCE}", "phx_join", payload])
    return session.receive(frame, 0.0, LIMITS)


def replies(actions) -> list:
    return [json.loads(action.frame)[4] for action in actions if isinstance(action, Send)]


def test_a_join_naming_its_last_event_subscribes_then_catches_up_before_replying():
    session = Session(V2Serializer, 0.0)
    [action] = join(session, {"last_event_id": "e2"})
    assert action == Subscribe(SOURCE, CatchUp("e2", action.catch_up.join))
    events = [{"id": "e3"}, {"id": "e4"}]
    assert replies(session.caught_up(action.catch_up.join, events)) == [
        {"status": "ok", "response": {"messages": events, "recovered": True}}
    ]
    assert replies(session.caught_up(action.catch_up.join, None)) == [
        {"status": "ok", "response": {"messages": [], "recovered": False}}
    ]


@pytest.mark.parametrize("payload", [{}, {"last_event_id": None}, {"other": 1}])
def test_a_join_without_last_event_id_replies_as_before(payload):
    actions = join(Session(V2Serializer, 0.0), payload)
    assert actions[0] == Subscribe(SOURCE)
    assert replies(actions) == [{"status": "ok", "response": {"messages": []}}]


@pytest.mark.parametrize("value", ["", 7, ["e1"], {"id": "e1"}, True])
def test_a_last_event_id_that_is_not_an_id_is_refused_naming_it(value):
    session = Session(V2Serializer, 0.0)
    actions = join(session, {"last_event_id": value})
    assert replies(actions) == [
        {
            "status": "error",
            "response": {
                "reason": "last_event_id must be the id (a non-empty string) of the last event seen"
            },
        }
    ]
    assert session.joined == {}


def test_a_duplicate_join_catching_up_has_missed_nothing():
    session = Session(V2Serializer, 0.0)
    join(session, {})
    actions = join(session, {"last_event_id": "e1"}, ref="2")
    assert replies(actions)[-1] == {"status": "ok", "response": {"messages": [], "recovered": True}}


def test_live_messages_already_in_the_reply_are_skipped_until_the_first_new_one():
    sent = AlreadySent()
    sent.replied(SOURCE, [kept(1), kept(2)])
    assert [sent.fresh(SOURCE, mark) for mark in ["m1", "m2", "m3", "m1"]] == [
        False,
        False,
        True,
        True,
    ]
    assert sent.marks == {}


def test_the_overlap_rule_leaves_other_sources_and_unmarked_messages_alone():
    sent = AlreadySent()
    sent.replied(SOURCE, [kept(1)])
    sent.replied("/empty", [])
    assert sent.fresh("/elsewhere", "m1") and sent.fresh(SOURCE, None)
    assert not sent.fresh(SOURCE, "m1")
    sent.forget(SOURCE)
    assert sent.marks == {}


# The settings, and publishing with history off and on.


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("HISTORY_SIZE", -1, "RELAYMAN_HISTORY_SIZE must be a whole number, 0 or more; got -1"),
        ("HISTORY_SIZE", 0, None),
        ("HISTORY_SECONDS", 0, "RELAYMAN_HISTORY_SECONDS must be a whole number, 1 or more"),
        ("HISTORY_SOURCES", [], "RELAYMAN_HISTORY_SOURCES must list at least one source prefix"),
        ("HISTORY_SOURCES", ["*", "/a"], "RELAYMAN_HISTORY_SOURCES must be '*' alone"),
        ("HISTORY_SOURCES", "/a", "RELAYMAN_HISTORY_SOURCES must be a list of source prefixes"),
        ("HISTORY_SOURCES", ["/a/", "/b"], None),
    ],
)
def test_history_settings_are_judged_by_the_system_check(settings, name, value, problem):
    setattr(settings, f"RELAYMAN_{name}", value)
    errors = config.check_settings()
    if problem is None:
        assert errors == []
    else:
        [error] = errors
        assert error.msg.startswith(problem), error.msg


async def published(layer, source: str, count: int) -> list[dict]:
    channel = await layer.new_channel()
    await layer.group_add(group_for(source), channel)
    await publish([{"id": f"e{n}", "source": source, "type": "t"} for n in range(count)], layer)
    return [await layer.receive(channel)]


async def test_with_history_off_messages_carry_no_mark_and_nothing_is_kept(settings):
    settings.RELAYMAN_HISTORY_SIZE = 0
    layer = EmbeddedChannelLayer()
    [message] = await published(layer, SOURCE, 2)
    assert "mark" not in message
    assert await history.after(layer, group_for(SOURCE), SOURCE, "e0") is None


async def test_with_history_on_for_a_prefix_its_sources_keep_events_under_the_messages_mark(
    settings,
):
    settings.RELAYMAN_HISTORY_SIZE = 10
    settings.RELAYMAN_HISTORY_SOURCES = ["/kept/"]
    layer = EmbeddedChannelLayer()
    [message] = await published(layer, "/kept/a", 3)
    kept = await history.after(layer, group_for("/kept/a"), "/kept/a", "e0")
    assert [(entry.mark, entry.event_id) for entry in kept] == [
        (message["mark"], "e1"),
        (message["mark"], "e2"),
    ]
    [other] = await published(layer, "/other", 1)
    assert "mark" not in other
