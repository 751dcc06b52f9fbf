"""Two Relayman nodes sharing one Redis behave as one server, to producers and to subscribers.

A real redis-server (with a password, on a non-zero database) and real daphne processes; the
clients are raw Phoenix V1 and V2 sockets.
"""

import asyncio
import json
import time
import uuid
from contextlib import AsyncExitStack

import httpx
import pytest

from tests.support.redis import RedisServer
from tests.support.server import Server
from tests.support.sockets_client import new_source, phoenix, post_event

BURST_EVENTS = 1000
BURST_SUBSCRIBERS = 200
BURST_BATCH = 100
# A shared 2-core machine may be busy with other tests: one generous deadline for the whole burst.
BURST_TIMEOUT = 90


@pytest.fixture(scope="module")
def redis():
    with RedisServer(password="s3cret/with:odd@chars") as running:
        yield running


@pytest.fixture(scope="module")
def nodes(redis):
    """Node A and node B: the same REDIS_URL (password and database 3), different ports."""
    env = {"REDIS_URL": redis.url(db=3)}
    with Server(env=env) as a, Server(env=env) as b:
        yield a, b


def until_marker(client, marker_type: str):
    """The frames a client receives up to (not including) the push named `marker_type`."""

    async def collect():
        frames = []
        while (frame := await client.recv())[3] != marker_type:
            frames.append(frame)
        return frames

    return collect()


async def test_events_cross_nodes_both_ways_once_in_order_v1_and_v2(nodes):
    a, b = nodes
    orders, payments, refunds, end = (new_source() for _ in range(4))
    async with (
        phoenix(a) as a_v2,
        phoenix(a, "1.0.0") as a_v1,
        phoenix(b) as b_v2,
        phoenix(b, "1.0.0") as b_v1,
    ):
        joined = {
            a_v2: [orders, payments],
            a_v1: [refunds],
            b_v2: [orders],
            b_v1: [payments, refunds],
        }
        for client, sources in joined.items():
            for source in [*sources, end]:
                await client.join(f"source:{source}")

        posted = []
        for n in range(12):
            node = (a, b)[n % 2]
            source = (orders, payments, refunds)[n % 3]
            posted.append((source, await post_event(node, source, f"type-{n}", data={"n": n})))
        await post_event(b, end, "end")

        for client, sources in joined.items():
            expected = [
                [None, None, f"source:{s}", event["type"], event]
                for s, event in posted
                if s in sources
            ]
            assert await until_marker(client, "end") == expected


async def test_a_subscriber_that_leaves_on_one_node_gets_nothing_more(nodes):
    a, b = nodes
    source, end = new_source(), new_source()
    topic = f"source:{source}"
    async with phoenix(b) as leaver, phoenix(b, "1.0.0") as stayer, phoenix(a) as watcher:
        for client in (leaver, stayer, watcher):
            await client.join(topic)
            await client.join(f"source:{end}")
        first = await post_event(a, source)
        for client in (leaver, stayer, watcher):
            assert (await client.recv())[4] == first

        reply = await leaver.request(topic, "phx_leave", join_ref="1")
        assert reply[4] == {"status": "ok", "response": {}}
        assert (await leaver.recv())[3] == "phx_close"

        later = [await post_event(node, source) for node in (a, b)]
        await post_event(a, end, "end")
        assert await until_marker(leaver, "end") == []
        for client in (stayer, watcher):
            assert [frame[4] for frame in await until_marker(client, "end")] == later

        # The last subscriber on node B leaves, then one joins again: B subscribes anew.
        await stayer.request(topic, "phx_leave", join_ref="1")
        await leaver.join(topic)
        again = await post_event(a, source)
        assert (await leaver.recv())[4] == again
        assert (await watcher.recv())[4] == again


async def test_clusters_sharing_a_redis_are_kept_apart_by_their_prefix(redis, nodes):
    a, _ = nodes
    source = new_source()
    env = {"REDIS_URL": redis.url(db=3), "REDIS_PREFIX": "other-cluster"}
    with Server(env=env) as other:
        async with phoenix(a) as ours, phoenix(other) as theirs:
            await ours.join(f"source:{source}")
            await theirs.join(f"source:{source}")
            mine = await post_event(a, source, "ours")
            foreign = await post_event(other, source, "theirs")
            assert await ours.recv() == [None, None, f"source:{source}", "ours", mine]
            assert await theirs.recv() == [None, None, f"source:{source}", "theirs", foreign]
            # Each would have seen the other's event before its own second one.
            second = await post_event(a, source, "ours")
            assert (await ours.recv())[4] == second


async def test_readiness_with_redis_reachable(nodes):
    async with httpx.AsyncClient(timeout=5) as http:
        for node in nodes:
            response = await http.get(f"{node.url}/readyz")
            assert (response.status_code, response.json()) == (
                200,
                {"status": 200, "message": "OK"},
            )


async def test_a_burst_reaches_every_subscriber_on_both_nodes(nodes, capsys):
    """1,000 events, posted in batches to both nodes, to 200 subscribers spread over both."""
    a, b = nodes
    source = new_source()
    async with AsyncExitStack() as stack:
        subscribers = [
            await stack.enter_async_context(phoenix((a, b)[n % 2]))
            for n in range(BURST_SUBSCRIBERS)
        ]
        await asyncio.gather(*(client.join(f"source:{source}") for client in subscribers))

        ids = [uuid.uuid4().hex for _ in range(BURST_EVENTS)]

        async def receive_all(client):
            return [json.loads(await client.ws.recv())[4]["id"] for _ in ids]

        started = time.monotonic()
        async with asyncio.timeout(BURST_TIMEOUT):
            receiving = asyncio.gather(*(receive_all(client) for client in subscribers))
            async with httpx.AsyncClient(timeout=BURST_TIMEOUT) as http:
                for start in range(0, BURST_EVENTS, BURST_BATCH):
                    batch = [
                        {"id": id_, "source": source, "type": "burst"}
                        for id_ in ids[start : start + BURST_BATCH]
                    ]
                    node = (a, b)[start // BURST_BATCH % 2]
                    response = await http.post(
                        f"{node.url}/events",
                        json=batch,
                        headers={"Content-Type": "application/cloudevents-batch+json"},
                    )
                    assert response.status_code == 201, response.text
            posted = time.monotonic() - started
            received = await receiving
        elapsed = time.monotonic() - started
    assert all(ids_ == ids for ids_ in received)
    deliveries = BURST_EVENTS * BURST_SUBSCRIBERS
    with capsys.disabled():  # shown on every run, not only when the test fails
        print(
            f"\nburst: {BURST_EVENTS} events to {BURST_SUBSCRIBERS} subscribers on 2 nodes: "
            f"posted in {posted:.2f}s, all {deliveries} deliveries in {elapsed:.2f}s "
            f"({deliveries / elapsed:,.0f}/s)"
        )
