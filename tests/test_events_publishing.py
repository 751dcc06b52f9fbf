"""`publish`: each event once to the group of its source, its JSON encoded once for everyone."""

import asyncio
import hashlib
import json
import math
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest
from channels.layers import InMemoryChannelLayer
from rest_framework.exceptions import APIException

from events import publishing
from events.cloudevent import InvalidEvent
from events.layers import EmbeddedChannelLayer
from events.publishing import LayerUnavailable, encode, group_for, publish
from tests.support.groups import GroupListener

EVENT = {"specversion": "1.0", "id": "1", "source": "/outlets/1/orders", "type": "created"}


@pytest.fixture
def layer():
    return InMemoryChannelLayer()


@pytest.mark.parametrize(
    "source",
    [
        "/outlets/1/orders",
        "https://example.com/a b?c=d#e",
        "über/€/𝄞",
        "x" * 10_000,
        "",
    ],
)
def test_group_of_a_source_is_a_valid_group_name(layer, source):
    group = group_for(source)
    assert group == "source_" + hashlib.sha256(source.encode()).hexdigest()
    assert layer.require_valid_group_name(group)


def test_sources_have_distinct_groups():
    assert group_for("/a") != group_for("/b")
    assert group_for("/a") != group_for("/A")


async def test_an_event_reaches_its_group_encoded_as_compact_json(layer):
    event = {**EVENT, "data": {"k": ["ü", 1, None]}}
    async with GroupListener(EVENT["source"], layer) as listener:
        payloads = await publish([event], channel_layer=layer)
        message = await listener.receive()
    assert message == {
        "type": "relay.event",
        "source": "/outlets/1/orders",
        "event": "created",
        "payload": payloads[0],
    }
    assert json.loads(message["payload"]) == event
    assert payloads[0] == json.dumps(event, separators=(",", ":"))


async def test_each_event_is_published_once_and_encoded_once(layer, monkeypatch):
    encoded = []
    real_encode = publishing.encode

    def counting_encode(event):
        encoded.append(event["id"])
        return real_encode(event)

    monkeypatch.setattr(publishing, "encode", counting_encode)
    async with AsyncExitStack() as stack:
        subscribers = [
            await stack.enter_async_context(GroupListener(EVENT["source"], layer)) for _ in range(3)
        ]
        await publish([{**EVENT, "id": "1"}, {**EVENT, "id": "2"}], channel_layer=layer)
        await publish([{**EVENT, "id": "sentinel"}], channel_layer=layer)
        for subscriber in subscribers:
            received = [(await subscriber.receive_event())["id"] for _ in range(3)]
            assert received == ["1", "2", "sentinel"]  # each once, nothing in between
    assert encoded == ["1", "2", "sentinel"]  # once per event, not once per subscriber


async def test_a_batch_is_published_in_order_to_each_source(layer):
    events = [
        {**EVENT, "id": "1"},
        {**EVENT, "id": "2", "source": "/other"},
        {**EVENT, "id": "3"},
    ]
    async with (
        GroupListener(EVENT["source"], layer) as orders,
        GroupListener("/other", layer) as other,
    ):
        payloads = await publish(events, channel_layer=layer)
        assert [json.loads(p)["id"] for p in payloads] == ["1", "2", "3"]
        assert [(await orders.receive_event())["id"] for _ in range(2)] == ["1", "3"]
        assert (await other.receive_event())["id"] == "2"


async def test_publish_uses_the_configured_layer_by_default():
    async with GroupListener(EVENT["source"]) as listener:
        await publish([EVENT])
        assert await listener.receive_event() == EVENT


class RecordingLayer(InMemoryChannelLayer):
    """Channels' in-memory layer, keeping every `group_send` as (group, message)."""

    def __init__(self):
        super().__init__()
        self.sent = []

    async def group_send(self, group, message):
        self.sent.append((group, message))
        await super().group_send(group, message)


async def test_consecutive_events_of_one_source_travel_as_one_message_in_order():
    layer = RecordingLayer()
    a, b = "/a", "/b"
    events = [{**EVENT, "id": str(n), "source": f"/{s}"} for n, s in enumerate("aabaaa")]
    payloads = await publish(events, channel_layer=layer)
    assert layer.sent == [
        (
            group_for(a),
            {"type": "relay.events", "source": a, "events": [["created", p] for p in payloads[:2]]},
        ),
        (
            group_for(b),
            {"type": "relay.event", "source": b, "event": "created", "payload": payloads[2]},
        ),
        (
            group_for(a),
            {"type": "relay.events", "source": a, "events": [["created", p] for p in payloads[3:]]},
        ),
    ]


async def test_a_batch_of_ten_thousand_events_of_one_source_is_one_group_send():
    layer = RecordingLayer()
    await publish([{**EVENT, "id": str(n)} for n in range(10_000)], channel_layer=layer)
    assert len(layer.sent) == 1 and len(layer.sent[0][1]["events"]) == 10_000


async def test_a_reader_of_the_embedded_layer_gets_every_event_of_a_long_alternating_batch():
    # 150 runs of one event for one subscriber of both sources: more messages than its queue
    # holds (100), published without a pause; a subscriber that reads loses none.
    layer = EmbeddedChannelLayer()
    events = [{**EVENT, "id": str(n), "source": f"/{n % 2}"} for n in range(150)]
    channel = await layer.new_channel()
    for source in ("/0", "/1"):
        await layer.group_add(group_for(source), channel)

    async def read_all():
        return [await layer.receive(channel) for _ in range(150)]

    reader = asyncio.create_task(read_all())
    await publish(events, channel_layer=layer)
    received = await asyncio.wait_for(reader, 5)
    assert [json.loads(m["payload"])["id"] for m in received] == [str(n) for n in range(150)]


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_encode_refuses_what_is_not_json(number):
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode({**EVENT, "data": {"deep": [number]}})


@pytest.mark.parametrize(
    ("data", "payload"),
    [
        ({"n": 1, "s": "x", "l": [True, False, 0.5]}, '{"n":1,"s":"x","l":[true,false,0.5]}'),
        ("caf\u00e9 \U0001f600", '"caf\\u00e9 \\ud83d\\ude00"'),  # ASCII, as ever
        ({"null": None}, '{"null":null}'),
        (2**64, "18446744073709551616"),  # beyond 64 bits
        ("\ud800", '"\\ud800"'),  # a lone surrogate
        ({1: "int key"}, '{"1":"int key"}'),
    ],
)
def test_encode_writes_every_event_as_the_standard_json_encoder_does(data, payload):
    assert encode({**EVENT, "data": data}) == json.dumps(
        {**EVENT, "data": data}, separators=(",", ":")
    )
    assert encode({**EVENT, "data": data}).endswith(f'"data":{payload}}}')


def test_encode_refuses_types_json_has_not_as_the_standard_encoder_does():
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode({**EVENT, "data": datetime.now(UTC)})


async def test_an_event_that_cannot_be_encoded_publishes_nothing_of_its_batch():
    layer = RecordingLayer()
    events = [{**EVENT, "id": "fine"}, {**EVENT, "id": "bad", "data": math.inf}]
    with pytest.raises(ValueError):
        await publish(events, channel_layer=layer)
    assert layer.sent == []


async def test_data_nested_deeper_than_the_encoder_goes_is_refused_by_index_before_publishing():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    layer = RecordingLayer()
    events = [{**EVENT, "id": "fine"}, {**EVENT, "id": "deep", "data": deep}]
    with pytest.raises(InvalidEvent) as refused:
        await publish(events, channel_layer=layer)
    assert refused.value.errors == {
        "1": {
            "data": "'data' is nested too deeply to relay: send fewer levels of arrays and objects"
        }
    }
    assert layer.sent == []


class FailingLayer(RecordingLayer):
    """A layer whose Redis goes away after `ok` group_sends."""

    def __init__(self, ok: int):
        super().__init__()
        self.ok = ok

    async def group_send(self, group, message):
        if len(self.sent) == self.ok:
            raise ConnectionError("Connection refused")
        await super().group_send(group, message)


async def test_layer_unavailable_is_a_plain_exception_saying_what_was_published():
    events = [{**EVENT, "id": "1"}, {**EVENT, "id": "2"}, {**EVENT, "id": "3", "source": "/b"}]
    with pytest.raises(LayerUnavailable) as raised:
        await publish(events, channel_layer=FailingLayer(ok=1))
    assert not isinstance(raised.value, APIException)  # callers need no web framework
    assert (raised.value.published, raised.value.total) == (2, 3)
    assert str(raised.value) == (
        "Redis is unreachable: 2 of the 3 events were published, the rest were not. Retry later."
    )


async def test_an_embedded_layer_that_may_wait_longer_than_the_timeout_is_still_timed(monkeypatch):
    """The embedded layer publishes without a timer only while its overflow grace is within the
    publish timeout; a layer configured to wait longer gets the timeout's 503 as before."""
    monkeypatch.setattr(publishing, "PUBLISH_TIMEOUT", 0.2)
    patient = EmbeddedChannelLayer(capacity=1, overflow_grace=30)
    channel = await patient.new_channel()
    await patient.group_add(group_for(EVENT["source"]), channel)
    await patient.send(channel, {"type": "filler"})  # the member's mailbox is full
    with pytest.raises(LayerUnavailable):
        await asyncio.wait_for(publish([EVENT], channel_layer=patient), 5)

    brief = EmbeddedChannelLayer(capacity=1, overflow_grace=0.1)
    channel = await brief.new_channel()
    await brief.group_add(group_for(EVENT["source"]), channel)
    await brief.send(channel, {"type": "filler"})
    assert await asyncio.wait_for(publish([EVENT], channel_layer=brief), 5)  # it overflowed
