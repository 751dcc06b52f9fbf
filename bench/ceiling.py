"""How fast POST /events could be inside Django's handler: `python -m bench.ceiling`.

Issue 12 asks single POSTs for half the raw ASGI app's rate under daphne (a quarter under
uvicorn with httptools). Here one run serves the raw app, the bare async Django view and POST
/events in two processes: one with the standalone server's middleware, one with none at all
(`bench.settings_no_middleware`), which no deployment may run. The second also serves POST
/direct: the same DRF view with none of Django's handler around it (`bench.direct_view`), the
path the issue rules out. wrk (16 connections) takes one-second slices of every path in turn;
each ratio is the median over the rounds of a path's rate over the raw app's in the same
process. Where even the second process's /events stays under the target, no saving in the
middleware can reach it; /direct says whether leaving Django's handler would.
"""

import argparse
import asyncio
import statistics

from . import servers as bench_servers
from .compare import in_turn
from .harness import wrk_slice

# stack: (settings, application, paths)
STACKS = {
    "middleware": ("bench.settings", "bench.raw_ingest:application", ("/raw", "/bare", "/events")),
    "no_middleware": (
        "bench.settings_no_middleware",
        "bench.direct_view:application",
        ("/raw", "/bare", "/events", "/direct"),
    ),
}


async def measure(server: str, rounds: int) -> dict:
    """Per stack and path: the median rate, CPU per request, and rate ÷ the raw app's."""
    servers = bench_servers.Servers()
    try:
        nodes = {
            stack: servers.relayman(server, settings=settings, app=app)
            for stack, (settings, app, _) in STACKS.items()
        }
        slices = [(stack, path) for stack, (_, _, paths) in STACKS.items() for path in paths]
        runs = {name: [] for name in slices}
        for stack, path in in_turn(slices, rounds):
            runs[stack, path].append(await wrk_slice(nodes[stack], path))
    finally:
        servers.stop()
    result = {}
    for (stack, path), measured in runs.items():
        raw = runs[stack, "/raw"]
        result.setdefault(stack, {})[path] = {
            "per_s": statistics.median(run["per_s"] for run in measured),
            "cpu_us": statistics.median(run["cpu_us"] for run in measured),
            "to_raw": statistics.median(
                run["per_s"] / reference["per_s"]
                for run, reference in zip(measured, raw, strict=True)
            ),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="daphne", help="daphne or uvicorn-httptools")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    result = asyncio.run(measure(args.server, args.rounds))
    print(f"{args.server}, {args.rounds} rounds (wrk, 16 connections, one event per POST)")
    print("| middleware | path | requests/s | CPU µs per request | ÷ the raw app |")
    print("|---|---|---|---|---|")
    for stack, paths in result.items():
        for path, figures in paths.items():
            print(
                f"| {stack.replace('_', ' ')} | {path} | {figures['per_s']:,.0f} | "
                f"{figures['cpu_us']:,.0f} | {figures['to_raw']:.2f}× |"
            )


if __name__ == "__main__":
    main()
