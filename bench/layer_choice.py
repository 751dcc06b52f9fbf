"""`python -m bench.layer_choice`: channels-redis's pub/sub layer against its core layer.

The question behind Relayman's choice of Redis layer: what does fanning one event out to 1,000
subscribers, spread over 2 daphne nodes, cost in server CPU per delivery with each layer? Both
clusters run side by side (each with its own Redis), their subscribers live in separate load-client
processes (bench/client.py), and bursts alternate between the two so that a busy moment on this
shared machine hits both. Nodes and Redis report their CPU time from /proc.
"""

import argparse
import asyncio
import statistics
import sys

from .harness import SETTLE_SECONDS, Clients, Plan, Target, deliver
from .servers import Servers

LAYERS = {
    "pubsub": "relayman_project.settings",  # what REDIS_URL switches on
    "core": "bench.core_layer_settings",
}


async def measure(subscribers: int, events: int, rounds: int) -> dict:
    servers = Servers()
    clusters, results = {}, {}
    try:
        for name, settings in LAYERS.items():
            redis = servers.redis()
            url = f"redis://127.0.0.1:{redis.port}/0"
            nodes = [servers.relayman("daphne", url, settings) for _ in range(2)]
            source = f"/layer-choice/{name}"
            clients, _ = await Clients.start(
                Target(name, nodes, nodes).ws_urls(), subscribers, source
            )
            clusters[name] = (Target(name, nodes, nodes), redis, clients, source)
            results[name] = []
        await asyncio.sleep(SETTLE_SECONDS)
        plan = Plan(events=events)
        for _ in range(rounds):
            for name, (target, redis, clients, source) in clusters.items():
                redis_cpu = redis.cpu_seconds()
                burst = await deliver(target, clients, source, plan, 0.0)
                burst["redis_cpu_us_per_delivery"] = (
                    (redis.cpu_seconds() - redis_cpu) * 1e6 / burst["deliveries"]
                )
                results[name].append(burst)
        for _, _, clients, _ in clusters.values():
            await clients.close()
    finally:
        servers.stop()
        print(f"[layer_choice] server logs: {servers.logs}", file=sys.stderr)
    return results


def summary(results: dict, subscribers: int, events: int) -> str:
    lines = [
        f"{subscribers} subscribers on 2 daphne nodes, bursts of {events} events posted to one "
        f"node; median of {len(next(iter(results.values())))} bursts per layer",
        "",
        "| layer | nodes' CPU µs/delivery | Redis CPU µs/delivery | deliveries/s | lost | dup |",
        "|---|---|---|---|---|---|",
    ]
    medians = {}
    for name, bursts in results.items():
        node_cpu = statistics.median(b["cpu_us_per_delivery"] for b in bursts)
        redis_cpu = statistics.median(b["redis_cpu_us_per_delivery"] for b in bursts)
        rate = statistics.median(b["deliveries_per_s"] for b in bursts)
        lost = sum(b["expected"] - b["deliveries"] for b in bursts)
        duplicates = sum(b["duplicates"] for b in bursts)
        medians[name] = node_cpu + redis_cpu
        lines.append(
            f"| {name} | {node_cpu:.1f} | {redis_cpu:.1f} | {rate:,.0f} | {lost} | {duplicates} |"
        )
    ratio = medians["core"] / medians["pubsub"]
    lines += ["", f"core layer / pub/sub layer, total CPU per delivery: {ratio:.2f}×"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20, help="events per burst")
    parser.add_argument("--rounds", type=int, default=5, help="bursts per layer")
    args = parser.parse_args()
    print("[layer_choice] starting 2 × (Redis + 2 nodes + load clients)", file=sys.stderr)
    results = asyncio.run(measure(args.subscribers, args.events, args.rounds))
    print(summary(results, args.subscribers, args.events))


if __name__ == "__main__":
    main()
