"""End to end against a real daphne: bad frames and limits harm only the socket at fault."""

import json

import pytest

from tests.support.server import Server
from tests.support.sockets_client import new_source, phoenix, post_event
from tests.support.wait import await_until

FRAME_LIMIT = 256


@pytest.fixture(scope="module")
def limited():
    """A server with a small frame limit and room for two channels per socket."""
    env = {"RELAYMAN_MAX_FRAME_BYTES": str(FRAME_LIMIT), "RELAYMAN_MAX_CHANNELS": "2"}
    with Server(env=env) as running:
        yield running


def warnings_about(server: Server, port: int) -> list[str]:
    return [
        line
        for line in server.logs().splitlines()
        if "level=WARNING logger=sockets" in line and f":{port} " in line
    ]


async def assert_closed_for(server, client, code: int, reason: str) -> None:
    """The client is told why in a frame, then closed with `code`, and one warning is logged."""
    port = client.local_port
    assert await client.recv() == [None, None, "phoenix", "phx_error", {"reason": reason}]
    assert (await client.closed())[0] == code
    (warning,) = warnings_about(server, port)
    assert f"code={code}" in warning and reason in warning


@pytest.mark.parametrize(
    ("vsn", "frame", "reason"),
    [
        ("2.0.0", "hello", "frame is not valid JSON"),
        ("2.0.0", "[null, ", "frame is not valid JSON"),
        (
            "2.0.0",
            '{"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "1"}',
            "a V2 frame is a JSON array [join_ref, ref, topic, event, payload]",
        ),
        ("2.0.0", '[null, "1", "phoenix", "heartbeat"]', "a V2 frame is a JSON array"),
        ("2.0.0", '[null, "1", 42, "phx_join", {}]', "topic must be a string"),
        ("2.0.0", '[null, 1, "phoenix", "heartbeat", {}]', "ref must be a string or null"),
        ("1.0.0", '[null, "1", "phoenix", "heartbeat", {}]', "a V1 frame is a JSON object"),
        ("1.0.0", '{"topic": "phoenix", "event": "heartbeat"}', "V1 frame lacks payload, ref"),
    ],
)
async def test_a_frame_that_is_no_phoenix_message_closes_only_its_socket(
    limited, vsn, frame, reason
):
    source = new_source()
    async with phoenix(limited) as bystander, phoenix(limited, vsn) as client:
        await bystander.join(f"source:{source}")
        await client.join(f"source:{source}")
        await client.ws.send(frame)
        closed = await client.recv()
        assert closed[2:4] == ["phoenix", "phx_error"] and closed[4]["reason"].startswith(reason)
        assert (await client.closed())[0] == 4007
        assert len(warnings_about(limited, client.local_port)) == 1
        event = await post_event(limited, source)
        assert (await bystander.recv())[4] == event


async def test_binary_frames_are_refused(limited):
    async with phoenix(limited) as client:
        await client.ws.send(json.dumps([None, "1", "phoenix", "heartbeat", {}]).encode())
        await assert_closed_for(limited, client, 4003, "binary frames are not supported")


async def test_frames_up_to_the_limit_are_accepted(limited):
    async with phoenix(limited) as client:
        frame = json.dumps([None, "1", "phoenix", "heartbeat", {"pad": ""}])
        frame = frame.replace('""', '"' + "x" * (FRAME_LIMIT - len(frame)) + '"')
        assert len(frame.encode()) == FRAME_LIMIT
        await client.ws.send(frame)
        assert (await client.recv())[4] == {"status": "ok", "response": {}}


@pytest.mark.parametrize("padding", ["x" * FRAME_LIMIT, "é" * (FRAME_LIMIT // 2)])
async def test_oversized_frames_are_refused_counting_bytes(limited, padding):
    """The limit holds at the WebSocket level: RFC 6455's 1009, with a reason naming it."""
    source = new_source()
    async with phoenix(limited) as bystander, phoenix(limited) as client:
        await bystander.join(f"source:{source}")
        await client.send(None, "1", "phoenix", "heartbeat", {"pad": padding})
        notice = await client.recv()
        code, reason = await client.closed()
        assert code == 1009 and reason.endswith(f"exceeds payload limit of {FRAME_LIMIT} octets")
        assert notice == [None, None, "phoenix", "phx_error", {"reason": reason}]
        (warning,) = await await_until(
            lambda: warnings_about(limited, client.local_port), "the closing line"
        )
        assert "code=1009" in warning and f"payload limit of {FRAME_LIMIT} octets" in warning
        event = await post_event(limited, source)
        assert (await bystander.recv())[4] == event


async def test_too_many_channels(limited):
    a, b, c = (f"source:{new_source()}" for _ in range(3))
    async with phoenix(limited) as client:
        await client.join(a)
        b_ref = await client.join(b)
        reply = await client.request(c, "phx_join", join_ref="x")
        assert reply[4] == {"status": "error", "response": {"reason": "too many channels joined"}}
        await client.send("y", "y", a, "phx_join")  # a rejoin takes no extra room
        assert (await client.recv())[3] == "phx_close"
        assert (await client.recv())[4]["status"] == "ok"
        await client.request(b, "phx_leave", join_ref=b_ref)
        assert (await client.recv())[3] == "phx_close"
        await client.join(c)
