"""The load client: many Phoenix V2 subscribers in one process, driven over stdin/stdout.

`python -m bench.client URL COUNT SOURCE [--stalled K]` opens COUNT sockets (plus K that stop
reading once joined) and joins `source:SOURCE` on each, then prints one JSON line with how long
that took. Each command read from stdin (one JSON object a line) is answered by one JSON line:

- `{"expect": M, "timeout": S}` answers `{"armed": true}`, counts pushes until every socket has
  M new ones (or S seconds pass), then reports deliveries, duplicates, the last arrival time and
  every latency.
- `{"stalled": true}` resumes reading the stalled sockets and reports how the server closed them.

It is built on the websockets library's sans-I/O protocol under plain asyncio transports, with no
task per socket, so that one process can keep up with thousands of subscribers.
"""

import argparse
import asyncio
import json
import resource
import socket
import sys
import time

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

CONNECTS_IN_FLIGHT = 64
HEARTBEAT_SECONDS = 20


class Subscriber(asyncio.Protocol):
    """One socket: handshake, join, then count the pushes it receives."""

    def __init__(self, uri, topic: str, client: "Client", stalled: bool):
        self.ws = ClientProtocol(uri, max_size=None)
        self.topic = topic
        self.client = client
        self.stalled = stalled
        self.joined = asyncio.get_running_loop().create_future()
        self.transport = None
        self.seen: set[int] = set()
        self.closed_with: str | None = None
        self.ref = 0

    def connection_made(self, transport):
        self.transport = transport
        if self.stalled:  # a tiny receive window: the server's buffers fill, not ours
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.ws.send_request(self.ws.connect())
        self.flush()

    def send(self, event: str, topic: str, payload: dict) -> None:
        self.ref += 1
        self.ws.send_text(json.dumps(["1", str(self.ref), topic, event, payload]).encode())
        self.flush()

    def flush(self) -> None:
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)

    def data_received(self, data):
        self.ws.receive_data(data)
        now = time.monotonic()
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if event.status_code == 101:
                    self.send("phx_join", self.topic, {})
                else:
                    self.fail(f"handshake answered {event.status_code}")
            elif event.opcode is Opcode.TEXT:
                self.frame(json.loads(event.data), now)
        self.flush()

    def frame(self, message: list, now: float) -> None:
        join_ref, ref, topic, event, payload = message
        if event == "phx_reply" and ref == "1":
            if payload["status"] == "ok":
                self.joined.done() or self.joined.set_result(None)
                if self.stalled:
                    self.transport.pause_reading()
            else:
                self.fail(f"join refused: {payload}")
        elif join_ref is None and topic == self.topic:
            data = payload["data"]
            self.client.delivered(self, data["seq"], now - data["sent"])

    def fail(self, reason: str) -> None:
        if not self.joined.done():
            self.joined.set_exception(RuntimeError(reason))
        self.transport.close()

    def connection_lost(self, exc):
        close = self.ws.close_rcvd
        self.closed_with = f"close {close.code} {close.reason}" if close else "connection lost"
        self.fail(self.closed_with)
        self.client.lost(self)


class Client:
    def __init__(self, url: str, count: int, source: str, stalled: int):
        self.uri = parse_uri(url)
        self.count = count
        self.topic = "source:" + source
        self.stalled_count = stalled
        self.subscribers: list[Subscriber] = []
        self.stalled: list[Subscriber] = []
        self.closing = False
        self.reset(0)

    def reset(self, expect: int) -> None:
        self.target = expect * len(self.subscribers)
        self.deliveries = 0
        self.duplicates = 0
        self.latencies: list[float] = []
        self.last = 0.0
        self.done = asyncio.get_running_loop().create_future()
        for subscriber in self.subscribers:
            subscriber.seen.clear()

    def delivered(self, subscriber: Subscriber, seq: int, latency: float) -> None:
        if seq in subscriber.seen:
            self.duplicates += 1
            return
        subscriber.seen.add(seq)
        self.deliveries += 1
        self.latencies.append(latency)
        self.last = time.monotonic()
        if self.deliveries >= self.target and not self.done.done():
            self.done.set_result(None)

    def lost(self, subscriber: Subscriber) -> None:
        if not (self.closing or subscriber.stalled):
            print(f"socket closed: {subscriber.closed_with}", file=sys.stderr)

    async def open(self, stalled: bool) -> Subscriber:
        loop = asyncio.get_running_loop()
        subscriber = Subscriber(self.uri, self.topic, self, stalled)
        await loop.create_connection(lambda: subscriber, self.uri.host, self.uri.port)
        await subscriber.joined
        return subscriber

    async def connect_all(self) -> dict:
        started = time.monotonic()
        limit = asyncio.Semaphore(CONNECTS_IN_FLIGHT)

        async def one(stalled):
            async with limit:
                return await asyncio.wait_for(self.open(stalled), 30)

        self.subscribers = await asyncio.gather(*(one(False) for _ in range(self.count)))
        seconds = time.monotonic() - started
        self.stalled = await asyncio.gather(*(one(True) for _ in range(self.stalled_count)))
        return {"joined": len(self.subscribers), "seconds": seconds}

    async def expect(self, events: int, timeout: float) -> dict:
        self.reset(events)
        say({"armed": True})  # the harness posts only once every client counts
        if self.target:
            try:
                await asyncio.wait_for(asyncio.shield(self.done), timeout)
            except TimeoutError:
                pass
        return {
            "deliveries": self.deliveries,
            "expected": self.target,
            "duplicates": self.duplicates,
            "last": self.last,
            "latencies": [round(v, 6) for v in self.latencies],
        }

    async def stalled_report(self) -> dict:
        """Read what the server left for the stalled sockets, then say how each one ended."""
        for subscriber in self.stalled:
            if subscriber.closed_with is None:
                subscriber.transport.resume_reading()
        deadline = time.monotonic() + 2  # a closed socket shows it as soon as it is read
        while time.monotonic() < deadline and any(s.closed_with is None for s in self.stalled):
            await asyncio.sleep(0.05)
        return {"stalled": [s.closed_with or "still open" for s in self.stalled]}

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            for subscriber in self.subscribers + self.stalled:
                if subscriber.closed_with is None:
                    subscriber.send("heartbeat", "phoenix", {})


async def main(args) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    client = Client(args.url, args.count, args.source, args.stalled)
    say(await client.connect_all())
    heartbeats = asyncio.create_task(client.heartbeats())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        if "expect" in command:
            say(await client.expect(command["expect"], command["timeout"]))
        elif "stalled" in command:
            say(await client.stalled_report())
    heartbeats.cancel()
    client.closing = True
    for subscriber in client.subscribers + client.stalled:
        subscriber.transport.close()


def say(report: dict) -> None:
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("source")
    parser.add_argument("--stalled", type=int, default=0)
    asyncio.run(main(parser.parse_args()))
