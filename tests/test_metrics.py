"""`/metrics` in process: the token, the methods, the text format, and what each collector says.

tests/test_metrics_e2e.py scrapes a real server while phoenix.js clients join and events flow.
"""

import pytest
from django.core import checks
from prometheus_client.parser import text_string_to_metric_families

from events import metrics
from sockets.metrics import SocketsCollector
from sockets.serializers import V2Serializer
from sockets.session import Limits, Session
from sockets.tallies import Tallies, client_close_code, tallies

TOKEN = "s3cret-token"
NEEDED = "Metrics need 'Authorization: Bearer <token>', the token RELAYMAN_METRICS_TOKEN sets"
WRONG = "The metrics token is wrong: send the one RELAYMAN_METRICS_TOKEN sets"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(collector) -> dict:
    """{(sample name, labels as a sorted tuple): value} of what a collector yields."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in collector.collect()
        for sample in family.samples
    }


async def test_open_without_a_token_and_parses_as_prometheus_text(async_client):
    response = await async_client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == PROMETHEUS_TEXT
    found = families(response.content.decode())
    for name in (
        "relayman_sockets_open",
        "relayman_channels_joined",
        "relayman_joins",
        "relayman_pushes_written",
        "relayman_pushes_dropped",
        "relayman_sockets_closed",
        "relayman_ingest_requests",
        "relayman_ingest_request_duration_seconds",
        "relayman_publish_duration_seconds",
        "relayman_events_published",
        "relayman_build_info",
    ):
        assert name in found, name
    assert "relayman_redis_up" not in found  # the embedded layer has no Redis


async def test_head_answers_like_get(async_client):
    assert (await async_client.head("/metrics")).status_code == 200


async def test_openmetrics_when_asked_for(async_client):
    response = await async_client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text"}
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
async def test_other_methods_are_a_json_405(async_client, method):
    response = await getattr(async_client, method)("/metrics")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json() == {
        "detail": f"Method {method.upper()} not allowed: /metrics answers GET and HEAD"
    }


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (
            None,
            "Metrics need 'Authorization: Bearer <token>', the token RELAYMAN_METRICS_TOKEN sets",
        ),
        (
            "Basic czNjcmV0",
            "Metrics need 'Authorization: Bearer <token>', the token RELAYMAN_METRICS_TOKEN sets",
        ),
        (
            "Bearer ",
            "Metrics need 'Authorization: Bearer <token>', the token RELAYMAN_METRICS_TOKEN sets",
        ),
        ("Bearer wrong", "The metrics token is wrong: send the one RELAYMAN_METRICS_TOKEN sets"),
        (
            f"Bearer {TOKEN}x",
            "The metrics token is wrong: send the one RELAYMAN_METRICS_TOKEN sets",
        ),
        ("Bearer sécret", "The metrics token is wrong: send the one RELAYMAN_METRICS_TOKEN sets"),
    ],
)
async def test_with_a_token_a_scrape_without_it_is_a_json_401(
    async_client, settings, authorization, detail
):
    settings.RELAYMAN_METRICS_TOKEN = TOKEN
    headers = {"Authorization": authorization} if authorization else {}
    response = await async_client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response["WWW-Authenticate"] == 'Bearer realm="relayman-metrics"'
    assert TOKEN not in response.content.decode()


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
async def test_with_a_token_the_right_one_scrapes(async_client, settings, scheme):
    settings.RELAYMAN_METRICS_TOKEN = TOKEN
    response = await async_client.get("/metrics", headers={"Authorization": f"{scheme} {TOKEN}"})
    assert response.status_code == 200


@pytest.mark.parametrize("token", ["", "  ", 5])
def test_a_token_that_is_no_string_fails_the_checks(settings, token):
    settings.RELAYMAN_METRICS_TOKEN = token
    errors = checks.run_checks(tags=["relayman"])
    assert [error.msg for error in errors] == [
        "RELAYMAN_METRICS_TOKEN must be a non-empty string, or None (no token)"
    ]


def ingest_count(mode: str, status: str) -> float:
    return metrics.INGEST_REQUESTS.labels(mode, status)._value.get()


async def test_post_events_is_counted_by_mode_and_status_and_timed(async_client):
    before = ingest_count("structured", "201"), ingest_count("none", "415")
    published = metrics.EVENTS_PUBLISHED._value.get()
    event = {"id": "1", "source": "/metrics/unit", "type": "created"}
    assert (
        await async_client.post("/events", event, content_type="application/json")
    ).status_code == 201
    refused = await async_client.post("/events", "x", content_type="text/plain")
    assert refused.status_code == 415
    assert (ingest_count("structured", "201"), ingest_count("none", "415")) == (
        before[0] + 1,
        before[1] + 1,
    )
    assert metrics.EVENTS_PUBLISHED._value.get() == published + 1


def test_the_sockets_collector_reads_its_tallies():
    counts = Tallies()
    counts.opened, counts.closed, counts.channels_joined, counts.pushes_written = 7, 3, 9, 120
    counts.closes["too_slow", "4008"] += 2
    counts.closes["client", "1000"] += 1
    counts.dropped["closing"] += 5
    counts.joins["ok"] += 9
    counts.refused["origin_not_allowed"] += 1
    found = samples(SocketsCollector(counts))
    assert found[("relayman_sockets_open", ())] == 4
    assert found[("relayman_sockets_opened_total", ())] == 7
    assert found[("relayman_channels_joined", ())] == 9
    assert found[("relayman_pushes_written_total", ())] == 120
    assert found[("relayman_sockets_closed_total", (("code", "4008"), ("reason", "too_slow")))] == 2
    assert found[("relayman_sockets_closed_total", (("code", "1000"), ("reason", "client")))] == 1
    assert found[("relayman_pushes_dropped_total", (("reason", "closing"),))] == 5
    assert found[("relayman_joins_total", (("result", "ok"),))] == 9
    assert found[("relayman_handshakes_refused_total", (("reason", "origin_not_allowed"),))] == 1


@pytest.mark.parametrize(
    ("code", "label"),
    [
        (None, "1006"),
        (1000, "1000"),
        (1001, "1001"),
        (1015, "1015"),
        (3000, "other"),
        (4999, "other"),
    ],
)
def test_a_clients_close_code_label_is_from_a_bounded_set(code, label):
    assert client_close_code(code) == label


def test_the_session_counts_each_joins_result():
    session = Session(V2Serializer, 0.0)
    limits = Limits(max_frame_bytes=65536, max_channels=1, idle_timeout=60)
    before = dict(tallies.joins)

    def join(topic: str, payload=None):
        frame = f'["1", "1", "{topic}", "phx_join", {payload or "{}"}]'
        session.receive(frame, 0.0, limits)

    join("source:/a")
    join("source:/a")  # a rejoin is answered ok
    join("source:/b")  # over max_channels
    join("room:lobby")
    join("source:/c", '{"token": "' + "x" * 9000 + '"}')
    counted = {result: tallies.joins[result] - before.get(result, 0) for result in tallies.joins}
    assert {result: n for result, n in counted.items() if n} == {
        "ok": 2,
        "too_many_channels": 1,
        "unmatched_topic": 1,
        "invalid": 1,
    }
