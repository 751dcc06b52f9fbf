"""A lean HTTP/1.1 keep-alive client for POSTing events, so the poster is never the bottleneck.

httpx costs more CPU per request than the floor server spends answering it; this writes the
request bytes and reads back status, headers and a Content-Length or chunked body, nothing more.
"""

import asyncio
import json
import time

BATCH = "application/cloudevents-batch+json"
STRUCTURED = "application/cloudevents+json"


class Poster:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        if "content-length" in headers:
            content = await self.reader.readexactly(int(headers["content-length"]))
        else:
            content = await self._chunked()
        if headers.get("connection") == "close":
            await self.close()
        return status, content

    async def _chunked(self) -> bytes:
        content = b""
        while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
            content += (await self.reader.readexactly(size + 2))[:-2]
        await self.reader.readuntil(b"\r\n")
        return content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def event(source: str, seq: int, data_bytes: int = 0) -> dict:
    """A CloudEvent stamped with its send time (the client's clock is the same monotonic one)."""
    data = {"seq": seq, "sent": time.monotonic()}
    if data_bytes:
        data["pad"] = "x" * data_bytes
    return {
        "specversion": "1.0",
        "id": f"bench-{seq}",
        "source": source,
        "type": "bench",
        "data": data,
    }


async def post_event(poster: Poster, path: str, value) -> None:
    content_type = BATCH if isinstance(value, list) else STRUCTURED
    status, content = await poster.post(path, json.dumps(value).encode(), content_type)
    if status != 201:
        raise RuntimeError(f"POST {path} answered {status}: {content[:200]!r}")


async def ingest_rate(
    host: str, port: int, path: str, source: str, seconds: float, batch: int = 0
) -> float:
    """Events accepted per second by a few keep-alive posters (one event or `batch` per POST)."""
    accepted, elapsed = await ingest(host, port, path, source, seconds, batch)
    return accepted / elapsed


async def ingest(
    host: str, port: int, path: str, source: str, seconds: float, batch: int = 0
) -> tuple[int, float]:
    """Events accepted by a few keep-alive posters in about `seconds`, and the seconds taken."""
    connections = 4
    posters = [Poster(host, port) for _ in range(connections)]
    accepted = 0
    deadline = time.monotonic() + seconds

    async def run(poster: Poster) -> None:
        nonlocal accepted
        seq = 0
        while time.monotonic() < deadline:
            seq += 1
            if batch:
                await post_event(
                    poster, path, [event(source, seq * batch + n) for n in range(batch)]
                )
                accepted += batch
            else:
                await post_event(poster, path, event(source, seq))
                accepted += 1

    started = time.monotonic()
    await asyncio.gather(*(run(poster) for poster in posters))
    elapsed = time.monotonic() - started
    for poster in posters:
        await poster.close()
    return accepted, elapsed
