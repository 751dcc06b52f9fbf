"""Thousands of generated POST /events requests, sent concurrently through one real server.

Every answer must be documented: no 5xx, JSON from Relayman's routes, 201 for every untouched
event and 4xx for every one a rule refuses. Every accepted event from a watched source must reach
the subscriber watching it, as RFC 8259 JSON. The server must log no traceback, never hold its
event loop (a /healthz probe runs all along) and answer /healthz promptly at the end.

`make test` sends FUZZ_REQUESTS=300 requests; `make fuzz` sends 10,000. A failure prints the
seed (FUZZ_SEED replays the run) and, for each kind of finding, the first requests that caused it.
"""

import asyncio
import shutil
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.fuzz import (
    Findings,
    StallWatch,
    check_server_afterwards,
    clip,
    count,
    only_cases,
    prompt_healthz,
    rng_for,
    rss_mib,
    seed,
    server_summary,
    strict_json,
)
from tests.support.fuzz_http import (
    ACCEPT,
    REFUSE,
    WATCHED_SOURCES,
    Answer,
    FuzzRequest,
    NoAnswer,
    exchange,
    request_for,
)
from tests.support.server import Server
from tests.support.sockets_client import phoenix
from tests.support.wait import await_until

REQUESTS = count("FUZZ_REQUESTS", 300)
CONCURRENCY = 24
DELIVERY_TIMEOUT = 30
HEARTBEAT_SECONDS = 20  # well inside the server's idle timeout


@pytest.fixture(scope="module")
def fuzz_server():
    """A server of its own, so that its log holds only what the fuzz caused, warmed up by one
    event so that a first request's imports do not pass for a stall."""
    with Server() as running:
        event = {"id": "warm-up", "source": "/fuzz/warm-up", "type": "warm-up"}
        assert httpx.post(f"{running.url}/events", json=event).status_code == 201
        yield running


def judge(request: FuzzRequest, answer: Answer, findings: Findings, accepted: Counter) -> None:
    """Record what is wrong with one answer; count the accepted events by watched source."""
    case = f"→ {answer.status} {clip(answer.body, 200)} for {request.describe()}"
    variant = f"{answer.status} for {request.kind}:"
    if answer.status >= 500:
        findings.add("5xx answer", case, variant)
    if request.expect == ACCEPT and answer.status != 201:
        findings.add("valid event refused", case, variant)
    if request.expect == REFUSE and not 400 <= answer.status < 500:
        findings.add("invalid event not refused", case, variant)
    try:
        body = strict_json(answer.body)
    except ValueError:
        if request.wire_ok:
            findings.add("answer not JSON", case, variant)
        return
    if request.wire_ok and not answer.headers.get("content-type", "").startswith(
        "application/json"
    ):
        findings.add("answer without a JSON Content-Type", case, variant)
    if answer.status == 201:
        for event in body if isinstance(body, list) else [body]:
            if event.get("source") in WATCHED_SOURCES:
                accepted[f"source:{event['source']}"] += 1


class Subscriber:
    """A socket joined to every watched source for the whole run, counting pushes per topic."""

    def __init__(self, server: Server, findings: Findings):
        self.server, self.findings = server, findings
        self.received = Counter()

    async def __aenter__(self) -> "Subscriber":
        self._connection = phoenix(self.server, max_size=None)  # events come up to 1 MiB
        self.client = await self._connection.__aenter__()
        for source in WATCHED_SOURCES:
            await self.client.join(f"source:{source}")
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._beat())]
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.client.ws.close_code is not None:
            self.findings.add(
                "the subscriber was closed", f"close code {self.client.ws.close_code}"
            )
        await self._connection.__aexit__(*exc)

    async def _listen(self) -> None:
        """Each push must be RFC 8259 JSON."""
        async for text in self.client.ws:
            try:
                frame = strict_json(text)
            except ValueError as exc:
                self.findings.add("push not RFC 8259 JSON", f"{exc}: {clip(text)}")
                continue
            if frame[3] != "phx_reply":
                self.received[frame[2]] += 1

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self.client.send(None, self.client.next_ref(), "phoenix", "heartbeat")

    async def check_delivered(self, accepted: Counter) -> None:
        """Every accepted event from a watched source pushed once: wait, then tell apart."""
        try:
            await await_until(
                lambda: all(self.received[topic] >= n for topic, n in accepted.items()),
                "every accepted event delivered",
                timeout=DELIVERY_TIMEOUT,
            )
        except AssertionError:
            pass
        for topic, n in accepted.items():
            if self.received[topic] != n:
                self.findings.add(
                    "accepted events not delivered exactly once",
                    f"{topic}: 201 for {n} events, {self.received[topic]} pushed",
                )


async def test_generated_requests_get_documented_answers(fuzz_server, tmp_path):
    run_seed, findings = seed(), Findings()
    accepted, statuses = Counter(), Counter()
    cases = only_cases() or range(REQUESTS)
    started, rss_start = time.monotonic(), rss_mib(fuzz_server.process.pid)
    async with Subscriber(fuzz_server, findings) as subscriber:
        async with StallWatch(fuzz_server.port, findings) as watch:
            pending = iter(cases)

            async def worker() -> None:
                """Send cases one at a time, each made only when its turn comes."""
                for index in pending:
                    request = request_for(rng_for(run_seed, "http", index), index)
                    watch.in_flight.add(index)
                    try:
                        answer = await exchange(request, fuzz_server.port)
                    except NoAnswer as exc:
                        findings.add(
                            "no HTTP answer",
                            request.describe(),
                            variant=f"{exc} for {request.kind}:",
                        )
                        continue
                    finally:
                        watch.in_flight.discard(index)
                    statuses[answer.status] += 1
                    judge(request, answer, findings, accepted)

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        sent_in = time.monotonic() - started
        await subscriber.check_delivered(accepted)
    probes = await prompt_healthz(fuzz_server.port)
    log = Path(shutil.copy(fuzz_server.log_path, tmp_path / "server.log"))
    check_server_afterwards(log, probes, findings)
    print(
        f"\n{len(cases)} requests in {sent_in:.1f} s (seed {run_seed});"
        f" statuses {dict(sorted(statuses.items()))};"
        f" {sum(accepted.values())} watched events accepted;"
        f" {server_summary(watch, probes, (rss_start, rss_mib(fuzz_server.process.pid)))}"
    )
    rerun = f"FUZZ_REQUESTS={REQUESTS} pytest {__file__}"
    assert not findings, findings.report(run_seed, rerun, log)
