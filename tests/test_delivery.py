"""201 means delivered: every accepted event reaches every subscriber that stays and reads.

Real daphne processes, real WebSockets (Phoenix V2), and for the Redis layer a real redis-server
shared by two nodes. Each case sends more messages at once than a subscriber's queue in the
channel layer holds (100): batches of 101, 150 and 10,000 events, a batch at the 1 MiB body
limit whose events alternate between two sources (one queued message per event), and 300
concurrent POSTs. Every subscriber must receive every event exactly once, in order per source.
"""

import asyncio
import json
from contextlib import AsyncExitStack

import httpx
import pytest

from tests.support.redis import RedisServer
from tests.support.server import Server
from tests.support.sockets_client import new_source, phoenix

BODY_LIMIT = 1024 * 1024  # RELAYMAN_MAX_EVENT_BYTES by default
CONCURRENT_POSTS = 300
# A shared 2-core machine may be busy with other tests: one generous deadline per case.
CASE_TIMEOUT = 120


@pytest.fixture(scope="module")
def embedded():
    """One node with the embedded layer: its subscribers are all on it."""
    with Server() as node:
        yield [node]


@pytest.fixture(scope="module")
def redis_nodes():
    """Two nodes sharing a redis-server: events posted to one reach subscribers on both."""
    with RedisServer() as redis:
        env = {"REDIS_URL": redis.url()}
        with Server(env=env) as a, Server(env=env) as b:
            yield [a, b]


@pytest.fixture(params=["embedded", "redis"])
def nodes(request):
    return request.getfixturevalue({"embedded": "embedded", "redis": "redis_nodes"}[request.param])


def batch_of(count: int, sources: list[str]) -> list[dict]:
    """`count` small events, cycling through `sources`, numbered in their `id`."""
    return [{"id": str(n), "source": sources[n % len(sources)], "type": "t"} for n in range(count)]


def batch_at_the_limit(sources: list[str]) -> bytes:
    """A batch body of exactly BODY_LIMIT bytes: as many small alternating events as fit, the
    last one padded (sizes are added up as the events are taken: encoding the whole body again
    for each one took half a minute)."""
    events, size = [], len("[]")
    for event in batch_of(BODY_LIMIT // 60, sources):
        grown = size + len(json.dumps(event)) + (len(", ") if events else 0)
        if grown + len(', "data": ""') > BODY_LIMIT:
            break
        events.append(event)
        size = grown
    events[-1]["data"] = ""
    events[-1]["data"] = "x" * (BODY_LIMIT - len(json.dumps(events).encode()))
    body = json.dumps(events).encode()
    assert len(body) == BODY_LIMIT
    return body


async def subscribe(stack: AsyncExitStack, nodes: list[Server], sources: list[str], each: int):
    """`each` subscribers on every node, each joined to every one of `sources`."""
    clients = []
    for node in nodes:
        for _ in range(each):
            client = await stack.enter_async_context(phoenix(node))
            for source in sources:
                await client.join(f"source:{source}")
            clients.append(client)
    return clients


async def received_ids(client, count: int) -> dict[str, list[str]]:
    """The ids of the next `count` pushes, by source; fails on anything but a push.

    Only the case's deadline bounds the wait: the pushes may pause longer than a frame's
    timeout while the server, or this process with 300 requests in its loop, is short of CPU.
    """
    by_source: dict[str, list[str]] = {}
    for _ in range(count):
        join_ref, ref, topic, event, payload = await client.recv(timeout=None)
        assert (join_ref, ref, event) == (None, None, "t"), (topic, event, payload)
        by_source.setdefault(topic.removeprefix("source:"), []).append(payload["id"])
    return by_source


def expected_ids(events: list[dict]) -> dict[str, list[str]]:
    by_source: dict[str, list[str]] = {}
    for event in events:
        by_source.setdefault(event["source"], []).append(event["id"])
    return by_source


async def post_batch(node: Server, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=CASE_TIMEOUT) as http:
        return await http.post(
            f"{node.url}/events",
            content=body,
            headers={"content-type": "application/cloudevents-batch+json"},
        )


async def assert_every_subscriber_gets(clients, events: list[dict], posting) -> None:
    """Post (while every subscriber reads) and check each got exactly `events`, in order."""
    async with asyncio.timeout(CASE_TIMEOUT):
        readers = [asyncio.create_task(received_ids(c, len(events))) for c in clients]
        response = await posting
        assert response.status_code == 201, response.text
        expected = expected_ids(events)
        for got in await asyncio.gather(*readers):
            assert got == expected
    # Exactly once: nothing more comes (a heartbeat's reply is the very next frame).
    for client in clients:
        assert (await client.request("phoenix", "heartbeat"))[4]["status"] == "ok"


@pytest.mark.parametrize("count", [101, 150, 10_000])
async def test_every_event_of_a_batch_of_one_source_reaches_every_subscriber(nodes, count):
    source = new_source()
    events = batch_of(count, [source])
    async with AsyncExitStack() as stack:
        clients = await subscribe(stack, nodes, [source], each=2)
        posting = post_batch(nodes[0], json.dumps(events).encode())
        await assert_every_subscriber_gets(clients, events, posting)


async def test_a_batch_at_the_body_limit_alternating_sources_reaches_every_subscriber(nodes):
    # Every event is its own run: one queued message per event, thousands of them at once.
    sources = [new_source(), new_source()]
    body = batch_at_the_limit(sources)
    events = json.loads(body)
    assert len(events) > 10_000
    async with AsyncExitStack() as stack:
        clients = await subscribe(stack, nodes, sources, each=1)
        await assert_every_subscriber_gets(clients, events, post_batch(nodes[0], body))


async def test_every_one_of_300_concurrent_posts_reaches_every_subscriber(nodes):
    source = new_source()
    events = batch_of(CONCURRENT_POSTS, [source])
    async with AsyncExitStack() as stack:
        clients = await subscribe(stack, nodes, [source], each=2)
        limits = httpx.Limits(max_connections=CONCURRENT_POSTS)
        async with httpx.AsyncClient(timeout=CASE_TIMEOUT, limits=limits) as http:
            async with asyncio.timeout(CASE_TIMEOUT):
                readers = [asyncio.create_task(received_ids(c, len(events))) for c in clients]
                responses = await asyncio.gather(
                    *(
                        http.post(f"{nodes[n % len(nodes)].url}/events", json=event)
                        for n, event in enumerate(events)
                    )
                )
                assert [r.status_code for r in responses] == [201] * CONCURRENT_POSTS
                for got in await asyncio.gather(*readers):
                    # Concurrent POSTs have no order among themselves: each arrives once.
                    assert sorted(got[source], key=int) == [e["id"] for e in events]
        for client in clients:
            assert (await client.request("phoenix", "heartbeat"))[4]["status"] == "ok"
