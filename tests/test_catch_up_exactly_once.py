"""Exactly once, under concurrent POSTs during joins: whatever the timing, a client joining with
the id of its last event receives every later event once, in `messages` or as a push after the
reply, never both and never neither, each producer's events in the order it published them.

A property test over real servers (embedded history, and Redis history across two nodes):
hypothesis chooses how many events precede the join, how two producers batch theirs, and how
many clients join while they publish.
"""

import asyncio
import json
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzz import count
from tests.support.redis import RedisServer
from tests.support.server import Server
from tests.support.sockets_client import TIMEOUT, new_source, phoenix

HISTORY = {"RELAYMAN_HISTORY_SIZE": "1000"}
BATCH = "application/cloudevents-batch+json"

examples = settings(
    max_examples=count("CATCH_UP_EXAMPLES", 12),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def embedded():
    with Server(env=HISTORY) as node:
        yield (node, node)


@pytest.fixture(scope="module")
def two_nodes():
    with RedisServer() as redis:
        env = {"REDIS_URL": redis.url(), **HISTORY}
        with Server(env=env) as a, Server(env=env) as b:
            yield (a, b)


def events(source: str, count: int, producer: str) -> list[dict]:
    return [
        {"id": f"{producer}-{uuid.uuid4().hex}", "source": source, "type": "created"}
        for _ in range(count)
    ]


async def post(http: httpx.AsyncClient, node: Server, batch: list[dict]) -> None:
    if len(batch) == 1:
        response = await http.post(f"{node.url}/events", json=batch[0])
    else:
        body = json.dumps(batch)
        headers = {"Content-Type": BATCH}
        response = await http.post(f"{node.url}/events", content=body, headers=headers)
    assert response.status_code in (201, 202), response.text


async def produce(http, node: Server, source: str, producer: str, sizes: list[int]) -> list[str]:
    """POST batches of these sizes one after another; the ids, in publish order."""
    ids = []
    for size in sizes:
        batch = events(source, size, producer)
        await post(http, node, batch)
        ids += [event["id"] for event in batch]
    return ids


async def catch_up(node: Server, source: str, after: str, end: str) -> list[str]:
    """Join with `after` as the last event seen; every event id received until `end`'s."""
    async with phoenix(node) as client:
        reply = await client.request(f"source:{source}", "phx_join", {"last_event_id": after}, "1")
        response = reply[4]["response"]
        assert response["recovered"] is True, response
        received = [event["id"] for event in response["messages"]]
        async with asyncio.timeout(TIMEOUT * 2):
            while end not in received:
                frame = await client.recv()
                assert frame[3] == "created", frame
                received.append(frame[4]["id"])
        return received


async def scenario(nodes, before: int, sizes: tuple[list[int], list[int]], joiners: int):
    source = new_source()
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        earlier = await produce(http, nodes[0], source, "early", [1] * before)
        cursor = earlier[-1]
        producing = [
            produce(http, nodes[n % 2], source, f"p{n}", batches) for n, batches in enumerate(sizes)
        ]
        joining = [catch_up(nodes[n % 2], source, cursor, "end") for n in range(joiners)]
        joins = asyncio.gather(*joining)
        produced = await asyncio.gather(*producing)
        end = {"id": "end", "source": source, "type": "created"}
        await post(http, nodes[0], [end])
        received_by = await joins
    for received in received_by:
        assert received[-1] == "end"
        assert len(received) == len(set(received)), "an event arrived twice"
        assert sorted(received[:-1]) == sorted(produced[0] + produced[1]), "an event was lost"
        for ids in produced:
            assert [i for i in received if i in set(ids)] == ids, "out of publish order"


batches = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=6)


@examples
@given(
    before=st.integers(min_value=1, max_value=5),
    sizes=st.tuples(batches, batches),
    joiners=st.integers(min_value=1, max_value=3),
)
@pytest.mark.parametrize("layer", ["embedded", "two_nodes"])
def test_every_event_arrives_once_in_order_whatever_the_timing(
    request, layer, before, sizes, joiners
):
    nodes = request.getfixturevalue(layer)
    asyncio.run(scenario(nodes, before, sizes, joiners))
