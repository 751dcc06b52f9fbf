"""Thousands of generated WebSocket frames through one real server, on many concurrent sockets.

Each socket follows a generated plan (tests/support/fuzz_frames.py) while events are published
to the topics it may join. Every frame the server sends must be RFC 8259 JSON in the socket's
serializer; a heartbeat at the end of each plan must be answered unless the server closed the
socket; the server may close only with a documented code (1002, 1007, 1009, 4000–4999), never
1011 nor without a close frame; it echoes the client's close code, or sends none when the client
sent none. No traceback in the log, no stalled event loop, /healthz prompt at the end.

`make test` sends FUZZ_FRAMES=300 frames; `make fuzz` sends 10,000. A failure prints the seed
(FUZZ_SEED replays the run) and, for each kind of finding, the plans that caused it.
"""

import asyncio
import itertools
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

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
from tests.support.fuzz_frames import FIELDS, TOPICS, Plan, Step, plan_for
from tests.support.server import Server

FRAMES = count("FUZZ_FRAMES", 300)
CONCURRENCY = 16
TIMEOUT = 10
PUBLISH_INTERVAL = 0.02
SERVER_CLOSE_CODES = {1002, 1007, 1009, *range(4000, 5000)}
NO_CODE = 1005  # what websockets reports for a close frame without a status code


@pytest.fixture(scope="module")
def fuzz_server():
    """A server of its own, so that its log holds only what the fuzz caused."""
    with Server() as running:
        yield running


class Run:
    """One fuzzing run: its findings and tallies, shared by every socket."""

    def __init__(self, server: Server):
        self.server = server
        self.findings = Findings()
        self.frames = 0
        self.tally = Counter()

    async def socket(self, plan: Plan) -> None:
        self.tally["sockets"] += 1
        try:
            ws = await connect(
                self.server.ws_url + plan.url_path,
                open_timeout=TIMEOUT,
                close_timeout=TIMEOUT,
                ping_interval=None,
                max_size=None,
                proxy=None,
            )
        except InvalidStatus as refused:
            self.refused(plan, refused.response.status_code)
            return
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            self.findings.add("handshake failed", f"{exc!r} for {plan.describe()}")
            return
        if plan.handshake == "refuse":
            self.findings.add("handshake accepted", plan.describe())
        replies = asyncio.Queue()  # the refs of sync heartbeats' replies; None once closed
        reader = asyncio.create_task(self.read(ws, plan, replies))
        last = await self.send(ws, plan, replies)
        await self.end(ws, plan, last)
        await reader

    def refused(self, plan: Plan, status: int) -> None:
        self.tally[f"handshake {status}"] += 1
        if status >= 500:
            self.findings.add("handshake answered 5xx", f"{status} for {plan.describe()}")
        elif plan.handshake == "accept":
            self.findings.add("handshake refused", f"{status} for {plan.describe()}")

    async def send(self, ws: ClientConnection, plan: Plan, replies: asyncio.Queue) -> int:
        """Send the plan's steps until the server closes; the index of the last one sent.
        Frames count toward the run once a sync heartbeat after them is answered."""
        last, unconfirmed = -1, 0
        for index, step in enumerate(plan.steps):
            if ws.state is not State.OPEN:
                break
            try:
                unconfirmed += await send_step(ws, step, index)
            except ConnectionClosed:
                break
            last = index
            if step.sync:
                if not await self.answered(replies, step.sync, describe(ws, plan, last)):
                    break
                self.frames, unconfirmed = self.frames + unconfirmed, 0
        return last

    async def answered(self, replies: asyncio.Queue, ref: str, case: str) -> bool:
        """Whether the heartbeat `ref` was answered (False when the socket closed first)."""
        try:
            async with asyncio.timeout(TIMEOUT):
                while (reply := await replies.get()) is not None:
                    if reply == ref:
                        return True
        except TimeoutError:
            self.findings.add(f"heartbeat not answered in {TIMEOUT} s", case)
        return False

    async def read(self, ws: ClientConnection, plan: Plan, replies: asyncio.Queue) -> None:
        try:
            async for message in ws:
                frame = self.check_frame(message, plan)
                if (
                    frame is not None
                    and frame[3] == "phx_reply"
                    and str(frame[1]).startswith("sync")
                ):
                    replies.put_nowait(frame[1])
        except ConnectionClosed:
            pass
        finally:
            replies.put_nowait(None)

    def check_frame(self, message: str | bytes, plan: Plan) -> list | None:
        """The frame as a V2-shaped list, or None after recording what is wrong with it."""
        self.tally["frames received"] += 1
        try:
            data = strict_json(message)
        except ValueError as exc:
            self.findings.add("frame not RFC 8259 JSON", f"{exc}: {clip(message)}")
            return None
        if plan.v2:
            fields = data if isinstance(data, list) and len(data) == 5 else None
        elif isinstance(data, dict) and set(data) == set(FIELDS):
            fields = [data[name] for name in FIELDS]
        else:
            fields = None
        if fields is None:
            self.findings.add(
                "frame not in the socket's serializer", f"{clip(data)} on {plan.url_path}"
            )
            return None
        if fields[3] == "phx_reply" and not (
            isinstance(fields[4], dict)
            and fields[4].get("status") in ("ok", "error")
            and isinstance(fields[4].get("response"), dict)
        ):
            self.findings.add("malformed reply", clip(fields))
        return fields

    async def end(self, ws: ClientConnection, plan: Plan, last: int) -> None:
        """Close as the plan says (unless the server did), then judge how the socket ended."""
        if ws.state is State.OPEN:
            if plan.drop:
                ws.transport.abort()
                self.tally["dropped by the client"] += 1
                return
            await close(ws, plan.close_code)
        try:
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        except TimeoutError:
            self.findings.add("socket not closed", describe(ws, plan, last))
            ws.transport.abort()
            return
        self.judge_close(ws, plan, last)

    def judge_close(self, ws: ClientConnection, plan: Plan, last: int) -> None:
        received, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
        case = describe(ws, plan, last)
        if received is None:
            self.findings.add("closed without a close frame (1006)", case, plan.suspect(last))
            return
        self.tally[f"close {received.code}"] += 1
        if received.code == 1011:
            self.findings.add("closed with 1011", f"{received} after {case}", plan.suspect(last))
        elif sent is not None and not ws.protocol.close_rcvd_then_sent:
            expected = NO_CODE if plan.close_code is None else plan.close_code
            if received.code != expected:
                self.findings.add(
                    "client's close not echoed",
                    case,
                    variant=f"sent {sent.code}, got {received.code}:",
                )
        elif received.code not in SERVER_CLOSE_CODES:
            self.findings.add("undocumented close code", case, variant=f"{received}:")


def describe(ws: ClientConnection, plan: Plan, last: int) -> str:
    """The plan up to its last step sent, and the client's port: the server logs it as peer."""
    return f"{plan.describe(last)} [peer port {ws.local_address[1]}]"


async def send_step(ws: ClientConnection, step: Step, index: int) -> int:
    """Put one step on the wire; how many frames that took."""
    if step.kind == "text" or step.kind == "binary":
        await ws.send(step.data)
    elif step.kind == "utf8":
        await ws.send(step.data, text=True)
    elif step.kind == "ping":
        await ws.ping(index.to_bytes(2, "big") + step.data[2:])  # ping data must be unique
    elif step.kind == "fragments":
        await ws.send(step.data)
        return len(step.data)
    elif step.kind == "raw":
        ws.transport.write(step.data)
    return 1


async def close(ws: ClientConnection, code: int | None) -> None:
    """Start the closing handshake with `code`, or with a close frame that has no code."""
    if code is not None:
        await ws.close(code)
        return
    try:
        async with ws.send_context():
            ws.protocol.send_close()
    except ConnectionClosed:
        pass


async def publish(server: Server, tally: Counter) -> None:
    """Events to the topics the plans join, all through the run, so pushes interleave."""
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        for n in itertools.count():
            source = TOPICS[n % len(TOPICS)].removeprefix("source:")
            event = {"id": uuid.uuid4().hex, "source": source, "type": "fuzzed", "data": n}
            response = await http.post("/events", json=event)
            tally[f"published {response.status_code}"] += 1
            await asyncio.sleep(PUBLISH_INTERVAL)


async def test_generated_frames_get_documented_answers(fuzz_server, tmp_path):
    run_seed, run = seed(), Run(fuzz_server)
    started, rss_start = time.monotonic(), rss_mib(fuzz_server.process.pid)
    plans = iter(only_cases() or itertools.count())
    async with StallWatch(fuzz_server.port, run.findings) as watch:
        publisher = asyncio.create_task(publish(fuzz_server, run.tally))

        async def worker() -> None:
            while run.frames < FRAMES and (index := next(plans, None)) is not None:
                plan = plan_for(rng_for(run_seed, "ws", index), index)
                watch.in_flight.add(index)
                try:
                    await run.socket(plan)
                finally:
                    watch.in_flight.discard(index)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        publisher.cancel()
    seconds = time.monotonic() - started
    probes = await prompt_healthz(fuzz_server.port)
    log = Path(shutil.copy(fuzz_server.log_path, tmp_path / "server.log"))
    check_server_afterwards(log, probes, run.findings)
    print(
        f"\n{run.frames} frames in {seconds:.1f} s (seed {run_seed});"
        f" {dict(sorted(run.tally.items()))};"
        f" {server_summary(watch, probes, (rss_start, rss_mib(fuzz_server.process.pid)))}"
    )
    rerun = f"FUZZ_FRAMES={FRAMES} pytest {__file__}"
    assert not run.findings, run.findings.report(run_seed, rerun, log)
