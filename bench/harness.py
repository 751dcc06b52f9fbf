"""The benchmark's scenarios: fan-out bursts, paced latency, idle sockets, ingest, a stalled reader.

Every target is measured in the same run with the same load client, so each figure can be read
as a ratio to the floor's. Subscribers live in separate client processes (bench/client.py).
"""

import asyncio
import gc
import importlib.util
import json
import statistics
import sys
import time
from dataclasses import dataclass, field, replace

from . import poster, wrk
from .poster import Poster, event, ingest_rate, post_event
from .profile import Recording
from .servers import Process, Servers

CLIENT_PROCESSES = 2
PACE_SECONDS = 0.05
STALLED_PACE_SECONDS = 0.01
# What Relayman logs when it closes a socket whose client stopped reading (close code 4008).
SLOW_CLOSE_LOGGED = "code=4008"
SETTLE_SECONDS = 0.5
INGEST_SLICE_SECONDS = 0.5


@dataclass
class Plan:
    """How much load one run applies; `make bench`, `make bench-quick` and the test differ."""

    subscribers: list[int] = field(default_factory=lambda: [1000, 5000])
    events: int = 20
    rounds: int = 1  # bursts (and paced runs) per figure, measured together
    paced_subscribers: int = 1000
    ingest_seconds: float = 3.0
    # 16 MB to the stalled socket: more than the kernel buffers on both ends take (Linux grows a
    # send buffer up to 4 MiB) and the server's 4 MiB cap, so it is closed (4008).
    stalled_events: int = 500
    stalled_event_bytes: int = 32 * 1024
    stalled_peers: int = 20
    stalled_rounds: int = 2


FULL = Plan(rounds=3)
QUICK = Plan(subscribers=[1000], ingest_seconds=1.5)


@dataclass
class Target:
    """One way of serving the relay: its processes, where to POST and where to subscribe."""

    name: str
    processes: list[Process]
    nodes: list[Process]

    def cpu_seconds(self) -> float:
        return sum(p.cpu_seconds() for p in self.processes)

    def rss_kib(self) -> int:
        return sum(p.rss_kib() for p in self.nodes)

    def ws_urls(self) -> list[str]:
        """One client process per node, or several on a single node."""
        nodes = self.nodes if len(self.nodes) > 1 else self.nodes * CLIENT_PROCESSES
        return [f"ws://127.0.0.1:{n.port}/socket/websocket?vsn=2.0.0" for n in nodes]


class Clients:
    """The subscriber processes of one scenario, commanded together."""

    def __init__(self, processes: list[asyncio.subprocess.Process]):
        self.processes = processes

    @classmethod
    async def start(cls, urls: list[str], count: int, source: str, stalled: int = 0):
        shares = [count // len(urls) + (i < count % len(urls)) for i in range(len(urls))]
        processes = []
        for i, (url, share) in enumerate(zip(urls, shares, strict=True)):
            command = [sys.executable, "-m", "bench.client", url, str(share), source]
            command += ["--stalled", str(stalled if i == 0 else 0)]
            processes.append(
                await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=2**26,  # a report carries every latency
                )
            )
        clients = cls(processes)
        return clients, await clients.read()

    async def read(self) -> list[dict]:
        lines = [await asyncio.wait_for(p.stdout.readline(), 120) for p in self.processes]
        if not all(lines):
            raise RuntimeError("a load client exited early (see its stderr above)")
        return [json.loads(line) for line in lines]

    async def command(self, command: dict) -> None:
        for process in self.processes:
            process.stdin.write(json.dumps(command).encode() + b"\n")
            await process.stdin.drain()

    async def close(self) -> None:
        for process in self.processes:
            process.stdin.close()
        for process in self.processes:
            await asyncio.wait_for(process.wait(), 30)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def deliver(target: Target, clients: Clients, source: str, plan: Plan, pace: float) -> dict:
    """POST `plan.events` events (back to back, or `pace` seconds apart), `plan.rounds` times;
    measure the deliveries of all rounds together."""
    poster = Poster("127.0.0.1", target.nodes[0].port)
    await post_event(poster, "/events", event("/warm-up", 0))  # connection and code paths warm
    timeout = 30 + plan.events * pace
    cpu = elapsed = 0.0
    reports = []
    for _ in range(plan.rounds):
        await clients.command({"expect": plan.events, "timeout": timeout})
        await clients.read()  # armed
        cpu -= target.cpu_seconds()
        started = time.monotonic()
        for seq in range(plan.events):
            sent = time.monotonic()
            await post_event(poster, "/events", event(source, seq))
            if pace:
                await asyncio.sleep(max(0.0, sent + pace - time.monotonic()))
        round_reports = await clients.read()
        cpu += target.cpu_seconds()
        elapsed += max(r["last"] for r in round_reports) - started
        reports += round_reports
    await poster.close()
    deliveries = sum(r["deliveries"] for r in reports)
    latencies = [v for r in reports for v in r["latencies"]]
    return {
        "deliveries": deliveries,
        "expected": sum(r["expected"] for r in reports),
        "duplicates": sum(r["duplicates"] for r in reports),
        "deliveries_per_s": deliveries / elapsed if elapsed > 0 else 0.0,
        "cpu_us_per_delivery": cpu * 1e6 / deliveries if deliveries else None,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def fan_out(target: Target, count: int, plan: Plan, paced: bool, profile: bool) -> dict:
    """Join `count` subscribers, weigh them idle, then burst (and pace) events to them.

    With `profile`, one more burst runs under py-spy to show where the server's CPU goes.
    """
    source = f"/bench/{target.name}/{count}"
    rss = target.rss_kib()
    clients, joined = await Clients.start(target.ws_urls(), count, source)
    try:
        await asyncio.sleep(SETTLE_SECONDS)
        result = {
            "subscribers": count,
            "joins_per_s": count / max(r["seconds"] for r in joined),
            "rss_kib_per_idle_socket": (target.rss_kib() - rss) / count,
            "burst": await deliver(target, clients, source, plan, 0.0),
        }
        if paced:
            result["paced"] = await deliver(target, clients, source, plan, PACE_SECONDS)
        if profile:
            async with Recording(target.nodes[0].pid) as recording:
                await deliver(target, clients, source, plan, 0.0)
            result["profile"] = recording.shares
    finally:
        await clients.close()
    return result


async def stalled_reader(target: Target, plan: Plan) -> dict:
    """Large events to a few readers, without and with one more socket that stopped reading.

    The two runs alternate, `plan.stalled_rounds` times each, and each keeps its best p99: on a
    shared machine a busy moment would otherwise decide the comparison. Memory growth is the
    least over the rounds too: a run that first raises the heap's high-water mark leaves RSS
    there (the allocator keeps freed memory), while what a socket holds on to shows in every run.
    """
    runs = {False: [], True: []}
    for _ in range(plan.stalled_rounds):
        for stalled in runs:
            runs[stalled].append(await _stalled_run(target, plan, stalled))
    best = {
        stalled: min(rs, key=lambda run: run["p99_ms"])
        | {"rss_growth_kib": min(run["rss_growth_kib"] for run in rs)}
        for stalled, rs in runs.items()
    }
    return {
        "without": best[False],
        "with": best[True],
        "slow_closes_logged": sum(node.logs().count(SLOW_CLOSE_LOGGED) for node in target.nodes),
    }


async def _stalled_run(target: Target, plan: Plan, stalled: bool) -> dict:
    source = f"/bench/{target.name}/stalled-{stalled}-{time.monotonic()}"
    clients, _ = await Clients.start(target.ws_urls()[:1], plan.stalled_peers, source, int(stalled))
    rss = target.rss_kib()
    poster = Poster("127.0.0.1", target.nodes[0].port)
    await clients.command({"expect": plan.stalled_events, "timeout": 60})
    await clients.read()
    for seq in range(plan.stalled_events):
        sent = time.monotonic()
        await post_event(poster, "/events", event(source, seq, plan.stalled_event_bytes))
        await asyncio.sleep(max(0.0, sent + STALLED_PACE_SECONDS - time.monotonic()))
    (report,) = await clients.read()
    growth = target.rss_kib() - rss
    await clients.command({"stalled": True})
    (ended,) = await clients.read()
    await poster.close()
    await clients.close()
    return {
        "deliveries": report["deliveries"],
        "expected": report["expected"],
        "p99_ms": percentile(report["latencies"], 0.99) * 1000,
        "rss_growth_kib": growth,
        "stalled_socket": ended["stalled"][0] if stalled else None,
    }


async def ingest(target: Target, plan: Plan) -> dict:
    port = target.nodes[0].port
    seconds = plan.ingest_seconds
    return {
        "single_per_s": await ingest_rate("127.0.0.1", port, "/events", "/ingest", seconds),
        "batch100_events_per_s": await ingest_rate(
            "127.0.0.1", port, "/events", "/ingest", seconds, batch=100
        ),
    }


async def ingest_versus_bare(target: Target, plan: Plan) -> dict:
    """Single POSTs to /events and to the bare view on one server, in alternating slices.

    The pair alternates (ABBA) in short slices, so both paths meet the same moments of a noisy
    machine, and the ratio is the median of the slices' pairs: measured one after the other, a
    busy spell would decide it. The server's CPU per request, which a busy machine disturbs less
    than a rate, is measured alongside.
    """
    port = target.nodes[0].port
    seconds = min(INGEST_SLICE_SECONDS, plan.ingest_seconds)
    slices = {"/events": [], "/bare": []}  # (requests, seconds, server CPU seconds) per slice
    for pair in range(max(1, round(plan.ingest_seconds / seconds))):
        for path in ("/events", "/bare") if pair % 2 == 0 else ("/bare", "/events"):
            cpu = target.cpu_seconds()
            done, elapsed = await poster.ingest("127.0.0.1", port, path, "/ingest", seconds)
            slices[path].append((done, elapsed, target.cpu_seconds() - cpu))

    def totals(path):  # requests, seconds and server CPU seconds over a path's slices
        return [sum(column) for column in zip(*slices[path], strict=True)]

    (events, events_s, events_cpu), (bare, bare_s, bare_cpu) = totals("/events"), totals("/bare")
    return {
        "single_per_s": bare / bare_s,
        "events_single_per_s": events / events_s,
        "ratio": statistics.median(
            (e / e_s) / (b / b_s)
            for (e, e_s, _), (b, b_s, _) in zip(slices["/events"], slices["/bare"], strict=True)
        ),
        "cpu_us_per_request": bare_cpu * 1e6 / bare,
        "events_cpu_us_per_request": events_cpu * 1e6 / events,
    }


async def wrk_slice(process: Process, path: str, key: str = "", batch: int = 0) -> dict:
    """One second of wrk's POSTs to `path` of `process` (`wrk.post`), with the server's CPU per
    request (`cpu_us`)."""
    cpu = process.cpu_seconds()
    url = f"http://127.0.0.1:{process.port}{path}"
    run = await asyncio.to_thread(wrk.post, url, 1.0, key, batch)
    run["cpu_us"] = (process.cpu_seconds() - cpu) * 1e6 / max(1, run["requests"])
    return run


async def ingest_references(servers: Servers, server: str, plan: Plan, log=print) -> dict:
    """Single-event POSTs (wrk, 16 connections) to /events beside the raw ASGI app (/raw) and the
    bare Django view (/bare) in one process, and to /events of a second process that requires
    producer keys; and batches of 100 to /events beside the raw app, which parses them too. In
    one-second slices in turn, in a rotating order, so that all six meet the same moments of a
    noisy machine. Each ratio is the median over the rounds of one slice to another. The server's
    CPU per request, which a busy machine disturbs less than a rate, goes alongside.
    """
    if not wrk.available():
        log("wrk is not installed: the ingest references are not measured")
        return {}
    key = servers.producer_key()
    node = servers.relayman(server, settings="bench.settings", app="bench.raw_ingest:application")
    keyed = servers.relayman(
        server, env={"RELAYMAN_REQUIRE_PRODUCER_KEYS": "true"}, settings="bench.settings"
    )
    paths = {  # name: (process, path, producer key, events per batch or 0 for single POSTs)
        "raw": (node, "/raw", "", 0),
        "bare": (node, "/bare", "", 0),
        "events": (node, "/events", "", 0),
        "events_keyed": (keyed, "/events", key, 0),
        "raw_batch": (node, "/raw", "", wrk.BATCH_EVENTS),
        "events_batch": (node, "/events", "", wrk.BATCH_EVENTS),
    }
    rounds = max(2, round(2 * plan.ingest_seconds))
    runs: dict[str, list[dict]] = {name: [] for name in paths}
    try:
        for n in range(rounds):
            names = list(paths)
            for name in names[n % len(names) :] + names[: n % len(names)]:
                runs[name].append(await wrk_slice(*paths[name]))
    finally:
        servers.stop(node, keyed)

    def median(name, key="per_s"):
        return statistics.median(run[key] for run in runs[name])

    def ratio(a, b, key="per_s"):
        return statistics.median(x[key] / y[key] for x, y in zip(runs[a], runs[b], strict=True))

    rates = {name: "events_per_s" if paths[name][3] else "per_s" for name in paths}
    return {
        **{f"{name}_{rate}": median(name, rate) for name, rate in rates.items()},
        **{f"{name}_p99_ms": median(name, "p99_ms") for name in paths},
        **{f"{name}_cpu_us": median(name, "cpu_us") for name in paths},
        "events_to_raw": ratio("events", "raw"),
        "events_to_bare": ratio("events", "bare"),
        "p99_to_raw": ratio("events", "raw", "p99_ms"),
        "keyed_to_events": ratio("events_keyed", "events"),
        "events_batch_to_raw": ratio("events_batch", "raw_batch", "events_per_s"),
    }


async def measure(target: Target, plan: Plan, stalled: bool = False, profiled=True) -> dict:
    result = {"fan_out": []}
    for count in plan.subscribers:
        paced = count == plan.paced_subscribers
        profile = profiled and count == max(plan.subscribers) and len(target.nodes) == 1
        result["fan_out"].append(await fan_out(target, count, plan, paced, profile))
    if stalled:
        result["stalled_reader"] = await stalled_reader(target, plan)
    result["ingest"] = await ingest(target, plan)
    return result


async def layer_broadcast_seconds(members: int) -> float:
    """Wall time for the embedded layer to broadcast to `members` channels and each to receive."""
    from events.layers import EmbeddedChannelLayer

    layer = EmbeddedChannelLayer()
    names = [f"c{n}" for n in range(members)]
    for name in names:
        await layer.group_add("g", name)
    gc.disable()  # a collection landing in one run but not the other would swamp the figure
    try:
        started = time.perf_counter()
        await layer.group_send("g", {"type": "x"})
        for name in names:
            await layer.receive(name)
        return time.perf_counter() - started
    finally:
        gc.enable()


async def layer_scaling(sizes=(2_000, 20_000)) -> dict:
    """The embedded layer's cost per member of one broadcast, in µs, at two sizes."""
    best = dict.fromkeys(sizes, float("inf"))
    for _ in range(5):  # interleaved, so that a busy moment does not favour one size
        for size in sizes:
            best[size] = min(best[size], await layer_broadcast_seconds(size))
    return {str(size): seconds * 1e6 / size for size, seconds in best.items()}


# Catch-up's history (issue 14), on for every source, for the targets measured again with it.
HISTORY_ON = {"RELAYMAN_HISTORY_SIZE": "1000"}


async def history_on(servers: Servers, plan: Plan, results: dict, log=print) -> None:
    """The embedded and the Redis targets again with history on, at the first subscriber count
    only: what keeping history costs fan-out and ingest, beside the same figures with it off."""
    short = replace(plan, subscribers=plan.subscribers[:1])
    log("daphne-history: as daphne, with history on")
    node = servers.relayman("daphne", env=HISTORY_ON)
    target = Target("daphne-history", [node], [node])
    results["targets"]["daphne-history"] = await measure(target, short, profiled=False)
    servers.stop()

    log("redis-history: as redis, with history on (a Redis stream per source)")
    redis = servers.redis()
    url = f"redis://127.0.0.1:{redis.port}/0"
    nodes = [servers.relayman("daphne", url, env=HISTORY_ON) for _ in range(2)]
    target = Target("redis-history", [*nodes, redis], nodes)
    results["targets"]["redis-history"] = await measure(target, short)
    servers.stop()


async def run(plan: Plan, log=print) -> dict:
    """Measure every target, one after the other, on this machine."""
    servers = Servers()
    results = {"plan": plan.__dict__, "targets": {}, "layer_us_per_member": await layer_scaling()}
    try:
        log("floor: hand-written ASGI fan-out on uvicorn")
        floor = servers.floor()
        results["targets"]["floor"] = await measure(Target("floor", [floor], [floor]), plan)
        servers.stop()

        log("daphne: Relayman as `make run` serves it, embedded channel layer")
        node = servers.relayman("daphne")
        target = Target("daphne", [node], [node])
        results["targets"]["daphne"] = await measure(target, plan, stalled=True)
        servers.stop()

        log("uvicorn: Relayman under uvicorn, embedded channel layer")
        node = servers.relayman("uvicorn")
        results["targets"]["uvicorn"] = await measure(Target("uvicorn", [node], [node]), plan)
        servers.stop()

        log("redis: two daphne nodes through Redis, subscribers split between them")
        redis = servers.redis()
        url = f"redis://127.0.0.1:{redis.port}/0"
        nodes = [servers.relayman("daphne", url), servers.relayman("daphne", url)]
        target = Target("redis", [*nodes, redis], nodes)
        results["targets"]["redis"] = await measure(target, plan)
        servers.stop()

        await history_on(servers, plan, results, log)

        for server in ("daphne", "uvicorn-httptools"):
            if server == "uvicorn-httptools" and not importlib.util.find_spec("uvloop"):
                log("uvloop is not installed (bench/requirements.txt): no uvicorn-httptools run")
                continue
            log(f"ingest references: /events, single and batched, beside a raw ASGI app, {server}")
            references = await ingest_references(servers, server, plan, log)
            results["targets"].setdefault("references", {})[server] = references

        log("django: a bare async Django view beside POST /events, under daphne")
        node = servers.relayman("daphne", settings="bench.settings")
        target = Target("django", [node], [node])
        results["targets"]["django"] = {"ingest": await ingest_versus_bare(target, plan)}
    finally:
        servers.stop()
    results["logs"] = str(servers.logs)
    return results
