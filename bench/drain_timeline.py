"""A drain's timeline, measured: SIGTERM a server holding N joined sockets and print when each
thing happened, as the clients and the server's log saw it.

    .venv/bin/python -m bench.drain_timeline [--sockets 200] [--drain-seconds 10]

Times are seconds after the SIGTERM: /readyz's first 503, each batch of closes (1012, as the
clients received them, grouped by the server's batches), and the process's exit.
"""

import argparse
import asyncio
import json
import re
import signal
import time

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.server import Server


async def open_socket(server: Server, source: str):
    ws = await connect(f"{server.ws_url}/socket/websocket?vsn=2.0.0", proxy=None, open_timeout=30)
    await ws.send(json.dumps(["1", "1", f"source:{source}", "phx_join", {}]))
    await ws.recv()
    return ws


async def closed_at(ws) -> tuple[float, int | None]:
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        return time.monotonic(), closed.rcvd.code if closed.rcvd else None


async def main(sockets: int, drain_seconds: int) -> None:
    env = {"RELAYMAN_DRAIN_SECONDS": str(drain_seconds), "RELAYMAN_LOG_LEVEL": "DEBUG"}
    with Server(env=env) as server:
        clients = []
        for start in range(0, sockets, 50):
            batch = range(start, min(start + 50, sockets))
            clients += await asyncio.gather(*(open_socket(server, f"/b/{i}") for i in batch))
        closes = [asyncio.ensure_future(closed_at(ws)) for ws in clients]
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
            while (await http.get("/readyz")).status_code != 503:
                pass
        ready_503 = time.monotonic() - signalled
        done = await asyncio.gather(*closes)
        while server.process.poll() is None:
            await asyncio.sleep(0.01)
        exited = time.monotonic() - signalled
        logs = server.logs()

    print(f"sockets={sockets} drain_seconds={drain_seconds}")
    print(f"{0:8.3f}s  SIGTERM")
    print(f"{ready_503:8.3f}s  /readyz answers 503")
    codes = sorted({code for _, code in done}, key=str)
    times = sorted(when - signalled for when, _ in done)
    batch_line = r"event=drain_batch batch=\d+ of=\d+ sockets=(\d+)"
    batches = [int(n) for n in re.findall(batch_line, logs)]
    index = 0
    for number, size in enumerate(batches, 1):
        if size == 0:
            continue
        group = times[index : index + size]
        index += size
        print(f"{group[0]:8.3f}s  batch {number}: {size} sockets closed by {group[-1]:.3f}s")
    print(f"{exited:8.3f}s  process exited (close codes seen: {codes})")
    for line in logs.splitlines():
        if "event=drain_started" in line or "event=drain_ended" in line:
            print("   log:", line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--drain-seconds", type=int, default=10)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.sockets, arguments.drain_seconds))
