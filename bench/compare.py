"""Server CPU per delivery of two checkouts side by side: `python -m bench.compare <checkout>`.

With `--ingest`, server CPU per POST /events instead: one event per request, or `--batch 100`;
wrk (16 connections) in one-second slices, each checkout's server in turn, under `--server`
(daphne, or uvicorn-httptools).

Whether a change costs fan-out anything is a difference of a few percent, which runs minutes apart
on a shared machine cannot show. Here both checkouts' servers (daphne, as `make run` serves them)
hold the same number of subscribers at once and take bursts in turn, in alternating order, and
the figure is the median over the rounds of this checkout's CPU per delivery over the other's.
Make the other checkout with e.g. `git worktree add /tmp/before <commit>`.
"""

import argparse
import asyncio
import statistics
from pathlib import Path

from . import servers as bench_servers
from .harness import SETTLE_SECONDS, Clients, Plan, Target, deliver, wrk_slice


async def compare(other: Path, subscribers: int, rounds: int) -> dict:
    servers = bench_servers.Servers()
    clients = {}
    try:
        nodes = serve_both(servers, other, "daphne")
        targets = {name: Target(name, [node], [node]) for name, node in nodes.items()}
        for name, target in targets.items():
            clients[name], _ = await Clients.start(target.ws_urls(), subscribers, f"/c/{name}")
        await asyncio.sleep(SETTLE_SECONDS)
        plan = Plan(events=20, rounds=1)
        cpu = {name: [] for name in targets}
        for name in in_turn(targets, rounds):
            run = await deliver(targets[name], clients[name], f"/c/{name}", plan, 0.0)
            if run["deliveries"] != run["expected"]:
                raise RuntimeError(f"{name}: {run['deliveries']} of {run['expected']} arrived")
            cpu[name].append(run["cpu_us_per_delivery"])
    finally:
        for client in clients.values():
            await client.close()
        servers.stop()
    return side_by_side(cpu)


async def compare_ingest(other: Path, server: str, batch: int, rounds: int) -> dict:
    servers = bench_servers.Servers()
    try:
        nodes = serve_both(servers, other, server)
        cpu = {name: [] for name in nodes}
        rate = {name: [] for name in nodes}
        for name in in_turn(nodes, rounds):
            run = await wrk_slice(nodes[name], "/events", batch=batch)
            cpu[name].append(run["cpu_us"])
            rate[name].append(run["events_per_s"])
    finally:
        servers.stop()
    return {
        **side_by_side(cpu),
        "this_rate": statistics.median(rate["this"]),
        "other_rate": statistics.median(rate["other"]),
    }


def serve_both(servers: bench_servers.Servers, other: Path, server: str) -> dict:
    """Relayman under `server` from the other checkout and from this one, as "other" and "this"."""
    here = bench_servers.ROOT
    nodes = {}
    try:
        for name, root in (("other", other), ("this", here)):
            bench_servers.ROOT = root  # the server process runs from that checkout
            nodes[name] = servers.relayman(server)
    finally:
        bench_servers.ROOT = here
    return nodes


def in_turn(names, rounds: int):
    """Each name once per round, the order reversed every other round."""
    for n in range(rounds):
        yield from list(names)[:: 1 if n % 2 == 0 else -1]


def side_by_side(cpu: dict[str, list[float]]) -> dict:
    """Both checkouts' medians, and the median of this one's over the other's, round by round."""
    ratios = [this / other for this, other in zip(cpu["this"], cpu["other"], strict=True)]
    return {
        "this_us": statistics.median(cpu["this"]),
        "other_us": statistics.median(cpu["other"]),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--ingest", action="store_true", help="CPU per POST /events instead")
    parser.add_argument("--batch", type=int, default=0, help="events per POST (0: one, unbatched)")
    parser.add_argument("--server", default="daphne", help="daphne or uvicorn-httptools")
    args = parser.parse_args()
    if args.ingest:
        result = asyncio.run(
            compare_ingest(args.other.resolve(), args.server, args.batch, args.rounds)
        )
        what = f"batch of {args.batch}" if args.batch else "POST of one event"
        print(
            f"server CPU per {what}, {args.server}, {args.rounds} rounds: this checkout "
            f"{result['this_us']:.0f} µs ({result['this_rate']:,.0f} events/s), the other "
            f"{result['other_us']:.0f} µs ({result['other_rate']:,.0f} events/s); this ÷ other, "
            f"median of the rounds: {result['ratio']:.3f}"
        )
        return
    result = asyncio.run(compare(args.other.resolve(), args.subscribers, args.rounds))
    print(
        f"server CPU per delivery, {args.subscribers:,} subscribers, {args.rounds} rounds: "
        f"this checkout {result['this_us']:.1f} µs, the other {result['other_us']:.1f} µs; "
        f"this ÷ other, median of the rounds: {result['ratio']:.3f} "
        f"({', '.join(f'{r:.2f}' for r in result['ratios'])})"
    )


if __name__ == "__main__":
    main()
