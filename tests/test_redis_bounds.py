"""The Redis layer's local queues are bounded, and a full one says so: nothing dropped silently.

Against a real redis-server: a channel whose receiver does not read gets `capacity` messages,
then the overflow marker once, then nothing; a receiver that reads gets everything of a burst
larger than its queue, because the receive task lets it take each message as it comes.
"""

import asyncio

import pytest
from channels_redis.pubsub import RedisPubSubLoopLayer

from events import redis_layer
from events.layers import OVERFLOW
from events.redis_layer import ResilientRedisPubSubChannelLayer

TIMEOUT = 5


@pytest.fixture
async def layer(redis_server):
    layer = ResilientRedisPubSubChannelLayer(
        hosts=[{"address": redis_server.url()}], prefix="bounds", capacity=3, overflow_grace=0.1
    )
    yield layer
    await layer.flush()


async def receive(layer, channel):
    return await asyncio.wait_for(layer.receive(channel), TIMEOUT)


async def test_a_queue_that_is_not_read_holds_its_capacity_then_the_overflow_marker(layer):
    stuck, reading = await layer.new_channel(), await layer.new_channel()
    for channel in (stuck, reading):
        await layer.group_add("g", channel)
    reader = asyncio.create_task(receive_all(layer, reading, 6))
    for n in range(6):
        await layer.group_send("g", {"type": "x", "n": n})
    assert [m["n"] for m in await reader] == [0, 1, 2, 3, 4, 5]
    assert [await receive(layer, stuck) for _ in range(4)] == [
        {"type": "x", "n": 0},
        {"type": "x", "n": 1},
        {"type": "x", "n": 2},
        OVERFLOW,
    ]
    await layer.group_send("g", {"type": "x", "n": "after"})  # taken by the reader only
    assert (await receive(layer, reading))["n"] == "after"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(stuck), 0.3)


async def test_a_reader_gets_every_message_of_a_burst_larger_than_its_queue(layer):
    reading = await layer.new_channel()
    await layer.group_add("g", reading)
    reader = asyncio.create_task(receive_all(layer, reading, 200))
    await asyncio.gather(*(layer.group_send("g", {"type": "x", "n": n}) for n in range(200)))
    assert sorted(m["n"] for m in await reader) == list(range(200))


async def receive_all(layer, channel, count: int) -> list:
    return [await receive(layer, channel) for _ in range(count)]


def test_the_internals_are_used_only_with_the_tested_channels_redis():
    assert redis_layer.internals_known("4.3.0")
    assert not redis_layer.internals_known("4.4.0")


async def test_with_another_channels_redis_the_stock_layer_serves(redis_server, monkeypatch):
    monkeypatch.setattr(redis_layer, "INTERNALS_KNOWN", False)
    layer = ResilientRedisPubSubChannelLayer(hosts=[{"address": redis_server.url()}], capacity=3)
    try:
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        assert type(layer._get_layer()) is RedisPubSubLoopLayer
        for n in range(5):  # unbounded, as stock
            await layer.group_send("g", {"type": "x", "n": n})
        assert [(await receive(layer, channel))["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
    finally:
        await layer.flush()
