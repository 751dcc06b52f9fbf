"""A subscriber that stops reading is closed (4008) before it costs the server unbounded memory,
and the others get every event meanwhile. End to end against a real daphne."""

import asyncio
import socket

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from sockets.session import MAX_UNREAD_BYTES
from tests.support.sockets_client import TIMEOUT, new_source, phoenix
from tests.support.wait import await_until

# ~19 MB: more than the kernel buffers hold and the server's cap
BATCHES, PER_BATCH, DATA_BYTES = 30, 20, 32 * 1024


async def test_a_client_that_stops_reading_is_closed_and_the_others_get_everything(server):
    source = new_source()
    stalled_sock = socket.socket()
    stalled_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled_sock.connect(("127.0.0.1", server.port))
    async with phoenix(server) as reader, phoenix(server, sock=stalled_sock) as stalled:
        await reader.join(f"source:{source}")
        await stalled.join(f"source:{source}")
        stalled.ws.transport.pause_reading()
        received = asyncio.create_task(_read_pushes(reader, BATCHES * PER_BATCH))

        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            for batch in range(BATCHES):
                events = [
                    {
                        "id": f"{batch}-{n}",
                        "source": source,
                        "type": "big",
                        "data": "x" * DATA_BYTES,
                    }
                    for n in range(PER_BATCH)
                ]
                response = await http.post(
                    f"{server.url}/events",
                    json=events,
                    headers={"Content-Type": "application/cloudevents-batch+json"},
                )
                assert response.status_code == 201, response.text

        assert await received == [f"{b}-{n}" for b in range(BATCHES) for n in range(PER_BATCH)]
        line = (await await_until(lambda: logged(server, "code=4008"), "the 4008 close"))[0]
        assert f"the client is not reading: more than {MAX_UNREAD_BYTES} bytes wait for it" in line
        stalled.ws.transport.resume_reading()
        with pytest.raises(ConnectionClosed):  # whatever it had received, then the end
            async with asyncio.timeout(TIMEOUT):
                while True:
                    await stalled.ws.recv()


async def _read_pushes(client, count: int) -> list[str]:
    ids = []
    while len(ids) < count:
        _, _, _, event, payload = await client.recv()
        if event == "big":
            ids.append(payload["id"])
    return ids


def logged(server, text: str) -> list[str]:
    return [line for line in server.logs().splitlines() if text in line]
