"""A real server judges hostile producer input without stalling, and relays only JSON.

While requests built to be as slow to judge as possible stream in (a structured event of 1 MiB
whose `datacontenttype` would backtrack a careless pattern; binary-mode events whose
Content-Type does the same within the server's limit on media-type headers), `/healthz` keeps
answering within 50 ms.
No request can hold the event loop longer than the CPU time it costs, so that is bounded too:
unlike wall-clock latency, it does not grow when other processes load the machine.
And a subscriber sees none of the events the rules refuse, and sees `"data": null` kept.
"""

import asyncio
import json
import os
import statistics
import time

import httpx
import pytest

from events.cloudevent import MAX_SOURCE_LENGTH
from relayman_project.server_requests import MAX_MEDIA_TYPE_BYTES
from tests.support.sockets_client import new_source, phoenix, post_event

PROMPT = 0.05  # seconds: /healthz answers within this, and no request costs more CPU
LIMIT = 1024 * 1024  # the default RELAYMAN_MAX_EVENT_BYTES
ROUNDS = 10  # worst-case requests, one after another
TIMEOUT = 10  # seconds for any one request: the unbounded cases never answer


def structured_worst(source: str) -> tuple[dict, bytes]:
    event = {"id": "1", "source": source, "type": "t", "datacontenttype": "a/a"}
    padding = LIMIT - len(json.dumps(event)) - 1
    event["datacontenttype"] = "a/a" + " " * padding + "x"
    body = json.dumps(event).encode()
    assert len(body) == LIMIT
    return {"Content-Type": "application/json"}, body


def binary_worst(source: str) -> tuple[dict, bytes]:
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": source, "ce-type": "t"}
    content_type = "a/a" + " " * (MAX_MEDIA_TYPE_BYTES - 4) + "x"  # a longer one is refused early
    return {**headers, "Content-Type": content_type}, b"{}"


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (/proc/<pid>/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def probe_while(work, url: str) -> list[float]:
    """Latencies of /healthz, asked one after another on a connection of its own, until `work`
    is done."""
    latencies = []
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        while not work.done():
            start = time.perf_counter()
            response = await client.get(url)
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 200
            await asyncio.sleep(0.01)
    return latencies


@pytest.mark.parametrize("worst", [structured_worst, binary_worst], ids=["structured", "binary"])
async def test_healthz_answers_promptly_while_the_worst_events_stream_in(make_server, worst):
    server = make_server()
    headers, body = worst(new_source())
    url = f"{server.url}/events"

    async def send_worst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            return [await client.post(url, content=body, headers=headers) for _ in range(ROUNDS)]

    cpu_before = cpu_seconds(server.process.pid)
    work = asyncio.ensure_future(send_worst())
    latencies = await probe_while(work, f"{server.url}/healthz")
    responses = await work
    cpu_per_request = (cpu_seconds(server.process.pid) - cpu_before) / ROUNDS

    for response in responses:
        assert response.status_code == 400, response.text
        assert "must be a media type" in response.json()["datacontenttype"]
    assert statistics.median(latencies) < PROMPT, latencies
    assert cpu_per_request < PROMPT  # the probes' own cost included
    assert "Traceback" not in server.logs()


async def test_subscribers_receive_only_events_the_rules_accept(server):
    source = new_source()
    url = f"{server.url}/events"
    event = {"id": "1", "source": source, "type": "refused"}
    refused = [
        # (what the producer sent, the key of the error, what the error must say)
        ({"content": f'{{"id": "1", "source": "{source}", "type": "t", "data": {{"x": 1e400}}}}',
          "headers": {"Content-Type": "application/json"}}, "data", "holds 1e400 at /x"),
        ({"content": f'[{{"id": "1", "source": "{source}", "type": "t"}}, {{"id": "2", '
          f'"source": "{source}", "type": "t", "data": [-1e999]}}]',
          "headers": {"Content-Type": "application/cloudevents-batch+json"}}, "1", "-1e999"),
        ({"content": json.dumps(event).encode("utf-16"),
          "headers": {"Content-Type": "application/json"}}, "detail", "must be UTF-8"),
        ({"content": json.dumps({**event, "subject": "a\u0085b"}),
          "headers": {"Content-Type": "application/json"}}, "subject", "U+0085, at index 1"),
        ({"content": b"{}", "headers": {"ce-specversion": "1.0", "ce-id": "1",
          "ce-source": source, "ce-type": "t", "ce-subject": "a%00b"}}, "subject", "U+0000"),
        ({"content": b"{}", "headers": {"ce-specversion": "1.0", "ce-id": "1",
          "ce-source": source, "ce-type": "t", "ce-subject": "50%"}}, "subject",
         "header 'ce-subject' has a '%' not followed by two hex digits"),
    ]  # fmt: skip
    async with phoenix(server) as subscriber, httpx.AsyncClient(timeout=5) as producer:
        await subscriber.join(f"source:{source}")
        for request, key, text in refused:
            response = await producer.post(url, **request)
            assert response.status_code == 400, response.text
            assert text in json.dumps(response.json()[key]), response.json()

        accepted = await post_event(server, source, "with-null-data", data=None)
        assert accepted["data"] is None
        raw = await subscriber.recv_raw()  # the first push: nothing refused came before it

    push = json.loads(raw, parse_constant=pytest.fail)
    assert push[2:4] == [f"source:{source}", "with-null-data"]
    assert push[4] == accepted and '"data":null' in raw


async def test_the_longest_source_a_producer_may_send_is_one_a_subscriber_can_join(server):
    longest = (new_source() + "/" + "s" * MAX_SOURCE_LENGTH)[:MAX_SOURCE_LENGTH]
    async with phoenix(server) as subscriber, httpx.AsyncClient(timeout=5) as producer:
        await subscriber.join(f"source:{longest}")
        too_long = await producer.post(
            f"{server.url}/events", json={"id": "1", "source": longest + "s", "type": "t"}
        )
        accepted = await post_event(server, longest)
        push = await subscriber.recv()

    assert too_long.status_code == 400
    assert too_long.json() == {
        "source": f"'source' is {MAX_SOURCE_LENGTH + 1} characters long; the limit is "
        f"{MAX_SOURCE_LENGTH} characters, so that subscribers can join it as the topic "
        "'source:<source>' (2048 at most)"
    }
    assert push == [None, None, f"source:{longest}", "created", accepted]
