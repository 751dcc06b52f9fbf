"""`/metrics` on a real server, scraped while stock phoenix.js clients join and events flow.

Each test starts its own server, so every count starts at zero and is asserted exactly.
"""

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.server import ROOT
from tests.support.sockets_client import TIMEOUT, new_source
from tests.support.wait import await_until
from tests.test_host_project import HOST, read_line, require_phoenix_js

SUBSCRIBERS = ROOT / "tests" / "support" / "metrics_subscribers.mjs"
SOCKETS = 5


async def scrape(server, **headers) -> dict:
    """Every sample of a scrape, parsed as Prometheus would: {(name, (label, ...)): value}."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.get(f"{server.url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0)


async def test_scrapes_count_what_phoenix_js_clients_and_producers_did(make_server):
    node = require_phoenix_js()
    server = make_server()
    source = new_source()
    clients = await asyncio.create_subprocess_exec(
        node,
        str(SUBSCRIBERS),
        f"{server.ws_url}/socket",
        f"source:{source}",
        str(SOCKETS),
        "4",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert await read_line(clients) == "joined"
        joined = await scrape(server)
        assert value(joined, "relayman_sockets_open") == SOCKETS
        assert value(joined, "relayman_channels_joined") == SOCKETS
        assert value(joined, "relayman_joins_total", result="ok") == SOCKETS
        assert value(joined, "relayman_joins_total", result="unmatched_topic") == 1

        event = {"id": "1", "source": source, "type": "created"}
        binary = {"ce-specversion": "1.0", "ce-id": "2", "ce-source": source, "ce-type": "paid"}
        batch = [{**event, "id": "3"}, {**event, "id": "4"}]
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
            answers = [
                await http.post("/events", json=event),
                await http.post("/events", content=b"{}", headers=binary),
                await http.post(
                    "/events",
                    json=batch,
                    headers={"Content-Type": "application/cloudevents-batch+json"},
                ),
                await http.post("/events", json={"source": source}),  # no id, no type
                await http.post("/events", content=b"x", headers={"Content-Type": "text/plain"}),
            ]
        assert [answer.status_code for answer in answers] == [201, 201, 201, 400, 415]
        assert await read_line(clients) == "received"

        flowed = await scrape(server)
        assert value(flowed, "relayman_pushes_written_total") == 4 * SOCKETS
        assert value(flowed, "relayman_events_published_total") == 4
        for mode, status in [
            ("structured", "201"),
            ("binary", "201"),
            ("batch", "201"),
            ("structured", "400"),
            ("none", "415"),
        ]:
            requests = value(flowed, "relayman_ingest_requests_total", mode=mode, status=status)
            assert requests == 1, (mode, status)
        assert value(flowed, "relayman_ingest_request_duration_seconds_count", mode="batch") == 1
        assert value(flowed, "relayman_publish_duration_seconds_count") == 3
        assert value(flowed, "relayman_pushes_dropped_total", reason="closing") == 0

        assert await read_line(clients) == "closed"
        closed = await await_until(
            lambda: _when_closed(server), "every socket counted as closed", timeout=TIMEOUT
        )
        assert value(closed, "relayman_sockets_closed_total", reason="client", code="1000") == (
            SOCKETS
        )
        assert value(closed, "relayman_channels_joined") == 0
        assert value(closed, "relayman_sockets_opened_total") == SOCKETS
    finally:
        if clients.returncode is None:
            clients.kill()
        await clients.wait()


async def _when_closed(server) -> dict | None:
    samples = await scrape(server)
    return samples if value(samples, "relayman_sockets_open") == 0 else None


async def test_server_closes_and_refused_handshakes_are_counted_by_reason_and_code(make_server):
    server = make_server()
    with pytest.raises(InvalidStatus):
        await connect(f"{server.ws_url}/socket/websocket?vsn=9.0.0", proxy=None)
    ws = await connect(f"{server.ws_url}/socket/websocket?vsn=2.0.0", proxy=None)
    await ws.send(b"\x00")  # a binary frame: the Phoenix serializers never send one
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert ws.close_code == 4003

    samples = await await_until(lambda: _when_closed(server), "the socket counted as closed")
    closes = value(samples, "relayman_sockets_closed_total", reason="unsupported_data", code="4003")
    assert closes == 1
    assert value(samples, "relayman_handshakes_refused_total", reason="unsupported_vsn") == 1


async def test_a_token_guards_the_scrape_and_is_never_logged(make_server):
    server = make_server(env={"RELAYMAN_METRICS_TOKEN": "s3cret-token"})
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert wrong.json() == {
        "detail": "The metrics token is wrong: send the one RELAYMAN_METRICS_TOKEN sets"
    }
    samples = await scrape(server, Authorization="Bearer s3cret-token")
    assert value(samples, "relayman_sockets_open") == 0
    assert "s3cret-token" not in server.logs()
    assert "Unauthorized" not in server.logs()  # Django's WARNING per refused request


async def test_redis_up_follows_the_channel_layers_redis(make_server, redis_server):
    server = make_server(env={"REDIS_URL": redis_server.url()})
    assert value(await scrape(server), "relayman_redis_up") == 1
    redis_server.kill()
    assert value(await scrape(server), "relayman_redis_up") == 0


async def test_the_embedded_layer_has_no_redis_up(make_server):
    samples = await scrape(make_server())
    assert not any(name == "relayman_redis_up" for name, _ in samples)
    build = next(labels for name, labels in samples if name == "relayman_build_info")
    assert {"version", "python", "django", "daphne", "channels"} <= dict(build).keys()


async def test_a_host_project_serves_metrics_where_it_includes_them(make_server):
    host = make_server(**HOST)
    async with httpx.AsyncClient(base_url=host.url, timeout=TIMEOUT) as http:
        response = await http.get("/relay/metrics")
        assert response.status_code == 200
        assert "relayman_sockets_open 0.0" in response.text.splitlines()
        assert (await http.get("/metrics")).status_code == 404


async def test_posts_the_server_refuses_before_the_view_are_counted_too(make_server):
    """A missing producer key, a declared or a streamed body over the limit, a body too slow:
    answered by the server before Django, each counted as the view counts its own answers."""
    limit = 1000
    keyed = make_server(env={"RELAYMAN_REQUIRE_PRODUCER_KEYS": "true"})
    limited = make_server(
        env={"RELAYMAN_MAX_EVENT_BYTES": str(limit), "RELAYMAN_BODY_TIMEOUT": "1"}
    )
    event = {"id": "1", "source": new_source(), "type": "t"}
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        assert (await http.post(f"{keyed.url}/events", json=event)).status_code == 401
        batch = {"content-type": "application/cloudevents-batch+json"}
        declared = await http.post(f"{limited.url}/events", content=b"[" * 2000, headers=batch)
        assert declared.status_code == 413

        async def chunks():
            for _ in range(4):
                yield b"[" * 600

        streamed = await http.post(f"{limited.url}/events", content=chunks(), headers=batch)
        assert streamed.status_code == 413
    reader, writer = await asyncio.open_connection("127.0.0.1", limited.port)
    head = b"POST /events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    writer.write(head + b"Content-Length: 100\r\n\r\n{")  # the rest never comes
    answer = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")

    assert value(await scrape(keyed), "relayman_ingest_requests_total", **STRUCTURED_401) == 1
    samples = await scrape(limited)
    assert value(samples, "relayman_ingest_requests_total", mode="batch", status="413") == 2
    assert value(samples, "relayman_ingest_requests_total", mode="structured", status="408") == 1


STRUCTURED_401 = {"mode": "structured", "status": "401"}
