"""A raw Phoenix Channels client over the `websockets` library, for the sockets' end-to-end tests.

It speaks V1 or V2 frames on the wire and hands every frame back as a V2-shaped list
`[join_ref, ref, topic, event, payload]`, so one test body can check both serializers.
Every wait has a timeout.
"""

import asyncio
import json
import uuid
from contextlib import asynccontextmanager

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.server import Server

TIMEOUT = 5
FIELDS = ("join_ref", "ref", "topic", "event", "payload")


def new_source() -> str:
    """A source no other test publishes to."""
    return f"/tests/{uuid.uuid4().hex}"


class PhoenixClient:
    def __init__(self, ws: ClientConnection, vsn: str | None):
        self.ws = ws
        self.v2 = vsn is not None and vsn.startswith("2.")
        self.refs = 0

    @property
    def local_port(self) -> int:
        return self.ws.local_address[1]

    def next_ref(self) -> str:
        self.refs += 1
        return str(self.refs)

    async def send(self, join_ref, ref, topic, event, payload=None) -> None:
        fields = (join_ref, ref, topic, event, {} if payload is None else payload)
        frame = list(fields) if self.v2 else dict(zip(FIELDS, fields, strict=True))
        await self.ws.send(json.dumps(frame))

    async def recv_raw(self, timeout: float | None = TIMEOUT) -> str:
        """The next frame; `timeout=None` leaves the wait to the caller's own deadline."""
        async with asyncio.timeout(timeout):
            return await self.ws.recv()

    async def recv(self, timeout: float | None = TIMEOUT) -> list:
        data = json.loads(await self.recv_raw(timeout))
        if self.v2:
            return data
        assert set(data) == set(FIELDS), data
        return [data[field] for field in FIELDS]

    async def request(self, topic, event, payload=None, join_ref=None) -> list:
        """Send a message and return the server's reply to it."""
        ref = self.next_ref()
        await self.send(join_ref, ref, topic, event, payload)
        reply = await self.recv()
        assert reply[1] == ref and reply[3] == "phx_reply", reply
        return reply

    async def join(self, topic: str) -> str:
        """Join `topic` and return the join_ref; fails unless the reply is ok."""
        join_ref = self.next_ref()
        await self.send(join_ref, join_ref, topic, "phx_join")
        assert await self.recv() == [
            join_ref,
            join_ref,
            topic,
            "phx_reply",
            {"status": "ok", "response": {"messages": []}},
        ]
        return join_ref

    async def closed(self) -> tuple[int, str]:
        """Wait for the server to close the socket; its close code and reason."""
        try:
            async with asyncio.timeout(TIMEOUT):
                frame = await self.ws.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code, closed.rcvd.reason
        raise AssertionError(f"expected the socket to close, got {frame}")


@asynccontextmanager
async def phoenix(server: Server, vsn: str | None = "2.0.0", **connect_kwargs):
    """A connected PhoenixClient at the server's /socket/websocket."""
    query = f"?vsn={vsn}" if vsn is not None else ""
    url = f"{server.ws_url}/socket/websocket{query}"
    options = {"open_timeout": TIMEOUT, "close_timeout": TIMEOUT, "proxy": None, **connect_kwargs}
    async with connect(url, **options) as ws:
        yield PhoenixClient(ws, vsn)


async def post_event(server: Server, source: str, type_: str = "created", **attributes) -> dict:
    """POST one structured CloudEvent; the normalized event subscribers will receive."""
    event = {"id": uuid.uuid4().hex, "source": source, "type": type_, **attributes}
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.post(f"{server.url}/events", json=event)
    assert response.status_code == 201, response.text
    return response.json()
