"""`publish`: each event once to the group of its source, its JSON encoded once for everyone."""

import hashlib
import json
from contextlib import AsyncExitStack

import pytest
from channels.layers import InMemoryChannelLayer

from events import publishing
from events.publishing import group_for, publish
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
