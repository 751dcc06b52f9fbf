"""The consumer shell under Channels' communicator: cleanup, close messages, no database hop."""

import asyncio
import json

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from events import config
from events.publishing import group_for, message_for
from sockets.consumer import PhoenixSocket

TUNABLES = {"IDLE_TIMEOUT": 60, "MAX_CHANNELS": 100, "MAX_FRAME_BYTES": 1024, "PRIVATE_SOURCES": ()}


@pytest.fixture(autouse=True)
def tunables(monkeypatch, settings):
    """Fixed tunables and Channels' in-memory layer, whatever the environment says."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    values = dict(TUNABLES, ALLOWED_ORIGINS=[])
    monkeypatch.setattr(config, "get", values.__getitem__)
    return values


@pytest.fixture
async def socket():
    communicator = WebsocketCommunicator(PhoenixSocket.as_asgi(), "/socket/websocket?vsn=2.0.0")
    connected, _ = await communicator.connect()
    assert connected
    yield communicator
    await communicator.disconnect()


async def join(socket, source: str, ref: str) -> None:
    await socket.send_to(text_data=json.dumps([ref, ref, f"source:{source}", "phx_join", {}]))
    reply = await socket.receive_json_from()
    assert reply[4]["status"] == "ok"


async def test_disconnect_leaves_every_group(socket):
    layer = get_channel_layer()
    await join(socket, "/a", "1")
    await join(socket, "/b", "2")
    assert set(layer.groups) == {group_for("/a"), group_for("/b")}
    await socket.disconnect(code=1001)
    await socket.wait()
    assert layer.groups == {}


async def test_a_cancelled_socket_leaves_every_group_too():
    """daphne cancels the application of each open socket when it shuts down."""
    layer = get_channel_layer()
    socket = WebsocketCommunicator(PhoenixSocket.as_asgi(), "/socket/websocket?vsn=2.0.0")
    await socket.connect()
    await join(socket, "/a", "1")
    socket.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await socket.future
    assert layer.groups == {}


async def test_relayed_event_is_pushed_around_the_encoded_payload(socket):
    await join(socket, "/a", "1")
    event = {"id": "1", "source": "/a", "type": "created", "data": None}
    payload = '{"id":"1","source":"/a","type":"created","data":null}'
    await get_channel_layer().group_send(group_for("/a"), message_for(event, payload))
    assert await socket.receive_from() == '[null,null,"source:/a","created",' + payload + "]"


async def test_close_messages_carry_code_and_reason(socket):
    await socket.send_to(text_data="nope")
    assert json.loads(await socket.receive_from())[3] == "phx_error"
    assert await socket.receive_output() == {
        "type": "websocket.close",
        "code": 4007,
        "reason": "frame is not valid JSON",
    }


async def test_frames_after_a_close_are_ignored(socket):
    await socket.send_to(bytes_data=b"\x00")
    await socket.receive_from()
    assert (await socket.receive_output())["code"] == 4003
    await socket.send_to(text_data=json.dumps([None, "1", "phoenix", "heartbeat", {}]))
    assert await socket.receive_nothing()


async def test_idle_timer_ends_with_the_socket(tunables):
    tunables["IDLE_TIMEOUT"] = 0.05
    socket = WebsocketCommunicator(PhoenixSocket.as_asgi(), "/socket/websocket")
    await socket.connect()
    await socket.disconnect()
    assert await socket.receive_nothing(timeout=0.2)


async def test_idle_timer_counts_from_the_last_frame(tunables):
    tunables["IDLE_TIMEOUT"] = 0.3
    socket = WebsocketCommunicator(PhoenixSocket.as_asgi(), "/socket/websocket")
    await socket.connect()
    heartbeat = json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "1"})
    for _ in range(3):
        assert await socket.receive_nothing(timeout=0.15)
        await socket.send_to(text_data=heartbeat)
        assert json.loads(await socket.receive_from())["event"] == "phx_reply"
    notice = json.loads(await socket.receive_from(timeout=1))
    assert notice["payload"] == {"reason": "no frame received for 0.3s (idle timeout)"}
    assert (await socket.receive_output())["code"] == 4000


async def test_no_database_hop_per_message(socket, monkeypatch):
    """Channels' dispatch would await aclose_old_connections() (a thread hop) per message."""
    hops = []

    async def hop():
        hops.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", hop)
    monkeypatch.setattr("channels.generic.websocket.aclose_old_connections", hop)
    await join(socket, "/a", "1")
    event = {"id": "1", "source": "/a", "type": "created"}
    await get_channel_layer().group_send(group_for("/a"), message_for(event, json.dumps(event)))
    await socket.receive_from()
    await socket.disconnect()
    await socket.wait()
    assert hops == []


async def test_a_run_of_events_is_pushed_in_order(socket):
    await join(socket, "/a", "1")
    events = [["created", '{"n":1}'], ["updated", '{"n":2}'], ["deleted", '{"n":3}']]
    await get_channel_layer().group_send(
        group_for("/a"), {"type": "relay.events", "source": "/a", "events": events}
    )
    for event, payload in events:
        assert await socket.receive_from() == f'[null,null,"source:/a","{event}",{payload}]'


async def test_a_layer_overflow_closes_the_socket_with_4008(socket):
    await join(socket, "/a", "1")
    await get_channel_layer().group_send(group_for("/a"), {"type": "relay.overflow"})
    reason = "events arrived faster than the socket took them"
    assert json.loads(await socket.receive_from()) == [
        None,
        None,
        "phoenix",
        "phx_error",
        {"reason": reason},
    ]
    assert await socket.receive_output() == {
        "type": "websocket.close",
        "code": 4008,
        "reason": reason,
    }


async def test_a_failing_handler_ends_the_socket_with_4011_and_one_line(socket, caplog):
    await join(socket, "/a", "1")
    # A relayed message without its payload: the handler fails.
    await get_channel_layer().group_send(
        group_for("/a"), {"type": "relay.event", "source": "/a", "event": "created"}
    )
    assert json.loads(await socket.receive_from())[4] == {"reason": "server error"}
    assert (await socket.receive_output())["code"] == 4011
    (line,) = [r for r in caplog.records if r.name == "sockets" and r.levelname == "ERROR"]
    assert "code=4011 reason=\"KeyError: 'payload'\"" in line.getMessage()
    assert "consumer.py:" in line.getMessage() and line.exc_info is None


async def test_a_failing_channel_layer_ends_the_socket_with_4011(monkeypatch):
    layer_class = type(get_channel_layer())
    read = layer_class.receive

    async def breaking(layer, channel):
        message = await read(layer, channel)
        if message["type"] == "test.break":
            raise ConnectionError("layer gone")
        return message

    monkeypatch.setattr(layer_class, "receive", breaking)
    socket = WebsocketCommunicator(PhoenixSocket.as_asgi(), "/socket/websocket?vsn=2.0.0")
    await socket.connect()
    await join(socket, "/a", "1")
    await get_channel_layer().group_send(group_for("/a"), {"type": "test.break"})
    assert json.loads(await socket.receive_from())[4] == {"reason": "server error"}
    assert (await socket.receive_output())["code"] == 4011
    await socket.disconnect()
