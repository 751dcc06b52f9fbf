"""The embedded channel layer honours the channel-layer contract, at O(subscribers) a broadcast."""

import asyncio

import pytest
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from bench.harness import layer_scaling
from events import layers
from events.layers import EmbeddedChannelLayer

TIMEOUT = 2


class Clock:
    """A settable wall clock for expiry tests: time passes only when the test says so."""

    def __init__(self):
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(layers, "time", fake)
    return fake


@pytest.fixture
def layer():
    return EmbeddedChannelLayer(capacity=3, channel_capacity={"tiny.*": 1})


async def receive(layer, channel):
    return await asyncio.wait_for(layer.receive(channel), TIMEOUT)


async def receive_all(layer, channel, count: int) -> list:
    return [await receive(layer, channel) for _ in range(count)]


def queued(layer) -> list:
    return [m for mailbox in layer.mailboxes.values() for m in mailbox.messages]


def test_is_the_default_without_redis(settings):
    assert "REDIS_URL" not in settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    assert isinstance(get_channel_layer(), EmbeddedChannelLayer)


async def test_send_then_receive_in_order(layer):
    await layer.send("work", {"type": "a"})
    await layer.send("work", {"type": "b"})
    assert await receive(layer, "work") == {"type": "a"}
    assert await receive(layer, "work") == {"type": "b"}


async def test_receive_waits_for_a_send(layer):
    waiting = asyncio.create_task(receive(layer, "work"))
    await asyncio.sleep(0)
    assert not waiting.done()
    await layer.send("work", {"type": "late"})
    assert await waiting == {"type": "late"}


async def test_a_sent_message_is_a_copy(layer):
    message = {"type": "a", "nested": {"n": 1}}
    await layer.send("work", message)
    message["nested"]["n"] = 2
    assert await receive(layer, "work") == {"type": "a", "nested": {"n": 1}}


async def test_new_channels_are_unique_and_usable(layer):
    names = {await layer.new_channel() for _ in range(100)}
    assert len(names) == 100
    name = names.pop()
    assert "!" in name
    await layer.send(name, {"type": "x"})
    assert await receive(layer, name) == {"type": "x"}


@pytest.mark.parametrize("name", ["", "spaces are bad", "x" * 100, "über", 7])
async def test_invalid_names_are_refused(layer, name):
    with pytest.raises(TypeError, match="name must be a valid unicode string"):
        await layer.send(name, {"type": "x"})
    with pytest.raises(TypeError, match="name must be a valid unicode string"):
        await layer.group_add(name, "work")
    with pytest.raises(TypeError, match="name must be a valid unicode string"):
        await layer.group_send(name, {"type": "x"})


async def test_a_full_channel_refuses_sends(layer):
    for n in range(3):
        await layer.send("work", {"type": "x", "n": n})
    with pytest.raises(ChannelFull):
        await layer.send("work", {"type": "x", "n": 3})
    await layer.send("tiny.one", {"type": "x"})  # channel_capacity pattern: capacity 1
    with pytest.raises(ChannelFull):
        await layer.send("tiny.one", {"type": "x"})
    assert (await receive(layer, "work"))["n"] == 0


async def test_messages_expire(clock):
    layer = EmbeddedChannelLayer(expiry=60)
    await layer.send("work", {"type": "old"})
    clock.now += 30
    await layer.send("work", {"type": "new"})
    clock.now += 31
    assert await receive(layer, "work") == {"type": "new"}


async def test_a_channel_with_an_expired_message_leaves_its_groups(clock):
    layer = EmbeddedChannelLayer(expiry=60)
    await layer.group_add("g", "stuck")
    await layer.group_add("g", "live")
    await layer.group_send("g", {"type": "one"})
    assert await receive(layer, "live") == {"type": "one"}
    clock.now += 61
    await layer.group_send("g", {"type": "two"})
    assert await receive(layer, "live") == {"type": "two"}
    assert layer.groups == {"g": {"live": clock.now - 61}}


async def test_group_membership_lapses_after_group_expiry(clock):
    layer = EmbeddedChannelLayer(group_expiry=100)
    await layer.group_add("g", "old")
    clock.now += 50
    await layer.group_add("g", "young")
    clock.now += 51
    await layer.group_send("g", {"type": "x"})
    assert await receive(layer, "young") == {"type": "x"}
    assert "old" not in layer.groups["g"]
    assert "old" not in layer.mailboxes


async def test_group_membership_lasts_by_default(clock):
    # Heartbeats keep a socket open for days; its memberships must not lapse under it.
    layer = EmbeddedChannelLayer()
    await layer.group_add("g", "long-lived")
    clock.now += 10 * 86400
    await layer.group_send("g", {"type": "x"})
    assert await receive(layer, "long-lived") == {"type": "x"}


async def test_group_send_reaches_every_member_once(layer):
    for name in ("a", "b", "c"):
        await layer.group_add("g", name)
    await layer.group_add("g", "a")  # adding twice is one membership
    await layer.group_add("other", "d")
    await layer.group_send("g", {"type": "hello"})
    for name in ("a", "b", "c"):
        assert await receive(layer, name) == {"type": "hello"}
    assert not queued(layer) and "d" not in layer.mailboxes  # nothing else queued


async def test_group_discard_stops_delivery(layer):
    await layer.group_add("g", "a")
    await layer.group_add("g", "b")
    await layer.group_discard("g", "a")
    await layer.group_discard("g", "never-joined")
    await layer.group_send("g", {"type": "x"})
    assert await receive(layer, "b") == {"type": "x"}
    assert "a" not in layer.mailboxes
    await layer.group_discard("g", "b")
    assert layer.groups == {} and layer.memberships == {}


async def test_group_send_to_an_empty_group_is_a_no_op(layer):
    await layer.group_send("nobody", {"type": "x"})
    assert layer.mailboxes == {}


@pytest.fixture
def impatient():
    """A layer that overflows a member whose mailbox of 3 stays full for 50 ms."""
    return EmbeddedChannelLayer(capacity=3, overflow_grace=0.05)


async def test_a_member_that_stays_full_gets_the_overflow_marker_once(impatient):
    await impatient.group_add("g", "stuck")
    await impatient.group_add("g", "reading")
    reader = asyncio.create_task(receive_all(impatient, "reading", 6))
    for n in range(6):
        await impatient.group_send("g", {"type": "x", "n": n})
    assert [m["n"] for m in await reader] == [0, 1, 2, 3, 4, 5]  # nothing lost for a reader
    # The stuck member keeps what it took, then the marker, and nothing more.
    assert [await receive(impatient, "stuck") for _ in range(4)] == [
        {"type": "x", "n": 0},
        {"type": "x", "n": 1},
        {"type": "x", "n": 2},
        layers.OVERFLOW,
    ]
    assert not queued(impatient)


async def test_a_full_member_delays_a_broadcast_by_the_grace_at_most_once(impatient):
    await impatient.group_add("g", "stuck")
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(10):
        await impatient.group_send("g", {"type": "x", "n": n})
    assert loop.time() - started < 0.3  # one wait for room (0.05 s), not one per message


async def test_a_group_send_waits_for_a_reading_member_to_make_room(impatient):
    await impatient.group_add("g", "reading")
    reader = asyncio.create_task(receive_all(impatient, "reading", 100))
    for n in range(100):  # far more than the capacity, without yielding between sends
        await impatient.group_send("g", {"type": "x", "n": n})
    assert [m["n"] for m in await reader] == list(range(100))
    assert not queued(impatient)


async def test_a_member_that_leaves_while_awaited_is_not_sent_to(impatient):
    await impatient.group_add("g", "leaving")
    for n in range(3):
        await impatient.group_send("g", {"type": "x", "n": n})
    waiting = asyncio.create_task(impatient.group_send("g", {"type": "x", "n": 3}))
    await asyncio.sleep(0)
    await impatient.group_discard("g", "leaving")
    await asyncio.wait_for(waiting, TIMEOUT)
    assert impatient.mailboxes == {}


async def test_a_direct_send_to_a_full_channel_raises_rather_than_overflows(impatient):
    for n in range(3):
        await impatient.send("work", {"type": "x", "n": n})
    with pytest.raises(ChannelFull):
        await impatient.send("work", {"type": "x", "n": 3})


async def test_a_channel_that_left_every_group_takes_its_queue_with_it(layer):
    # A socket that went away with messages queued for it must not leave them behind.
    await layer.group_add("g", "gone")
    await layer.group_add("h", "gone")
    await layer.group_send("g", {"type": "x"})
    await layer.group_discard("g", "gone")
    assert "gone" in layer.mailboxes  # still in "h": it may yet read
    await layer.group_discard("h", "gone")
    assert layer.mailboxes == {}


async def test_members_get_their_own_dict_from_one_deep_copy(layer, monkeypatch):
    copies = []
    real = layers.deepcopy
    monkeypatch.setattr(layers, "deepcopy", lambda value: copies.append(value) or real(value))
    for name in ("a", "b"):
        await layer.group_add("g", name)
    original = {"type": "x", "payload": "{}"}
    await layer.group_send("g", original)
    a, b = await receive(layer, "a"), await receive(layer, "b")
    assert len(copies) == 1
    a["type"] = "changed"
    assert b == original == {"type": "x", "payload": "{}"}


async def test_flush_forgets_messages_and_groups_but_not_waiting_receivers(layer):
    await layer.send("queued", {"type": "x"})
    await layer.group_add("g", "a")
    waiting = asyncio.create_task(receive(layer, "waiting"))
    await asyncio.sleep(0)
    await layer.flush()
    await layer.group_send("g", {"type": "x"})
    assert "queued" not in layer.mailboxes and layer.groups == {}
    await layer.send("waiting", {"type": "after flush"})
    assert await waiting == {"type": "after flush"}


async def test_a_cancelled_receive_loses_no_message(layer):
    first = asyncio.create_task(layer.receive("work"))
    second = asyncio.create_task(receive(layer, "work"))
    await asyncio.sleep(0)
    await layer.send("work", {"type": "x"})  # wakes `first`...
    first.cancel()  # ...which is cancelled before it takes the message
    assert await second == {"type": "x"}
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not queued(layer)


async def test_a_receiver_that_goes_away_leaves_no_mailbox(layer):
    await layer.send("work", {"type": "x"})
    assert await receive(layer, "work") == {"type": "x"}
    waiting = asyncio.create_task(layer.receive("work"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert layer.mailboxes == {}


async def test_many_receivers_on_one_channel_share_its_messages(layer):
    receivers = [asyncio.create_task(receive(layer, "work")) for _ in range(3)]
    await asyncio.sleep(0)
    for n in range(3):
        await layer.send("work", {"type": "x", "n": n})
    assert sorted(m["n"] for m in await asyncio.gather(*receivers)) == [0, 1, 2]


async def test_a_broadcast_costs_o_of_subscribers():
    # Per member, linear cost is flat across sizes; O(N²) would make it 10x at 10x the members.
    cost = await layer_scaling()
    assert cost["20000"] < 3 * cost["2000"], cost
