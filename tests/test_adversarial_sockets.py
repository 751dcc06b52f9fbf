"""Hostile and clumsy WebSocket clients against a real server: what each one gets, and what the
server keeps doing meanwhile (issue #10's socket findings).

Each case asserts what a user or an operator would see: the close code on the wire, the log
lines, and the server's resident memory read from /proc.
"""

import asyncio
import json
import re
import socket
import subprocess
import sys

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, CloseCode, Frame, Opcode

from sockets.session import MAX_UNREAD_BYTES
from tests.support.server import ROOT, Server
from tests.support.sockets_client import TIMEOUT, new_source, phoenix, post_event
from tests.support.wait import await_until

MiB = 1024 * 1024


def rss_bytes(server: Server) -> int:
    """The server process's resident memory (VmRSS)."""
    status = open(f"/proc/{server.process.pid}/status").read()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def lines_about(server: Server, port: int) -> list[str]:
    """The server's log lines naming the client at `port`."""
    return [line for line in server.logs().splitlines() if f":{port} " in line]


def assert_no_traceback(server: Server) -> None:
    logs = server.logs()
    assert "Traceback" not in logs and "code=None" not in logs, logs[-3000:]


@pytest.fixture(scope="module")
def hardened():
    """A server with frames allowed up to 2 MiB (above daphne's own 1 MiB) and a 1 s idle time."""
    env = {"RELAYMAN_MAX_FRAME_BYTES": str(2 * MiB), "RELAYMAN_IDLE_TIMEOUT": "1"}
    with Server(env=env) as running:
        yield running


async def never_reading(server: Server, frames, *, budget: int):
    """Connect a client that never reads, feed it `frames` until `budget` bytes are sent or the
    server ends the connection; the bytes it sent and its local port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sent = 0
    async with phoenix(server, sock=sock, ping_interval=None) as client:
        port = client.local_port
        client.ws.transport.pause_reading()
        try:
            async with asyncio.timeout(60):
                while sent < budget:
                    frame = next(frames)
                    if isinstance(frame, bytes):
                        await client.ws.ping(frame)
                    else:
                        await client.ws.send(frame)
                    sent += len(frame)
        except (ConnectionClosed, ConnectionError):
            pass
    return sent, port


def heartbeats():
    ref = "r" * 128  # the longest ref allowed: each reply echoes it
    while True:
        yield json.dumps([ref, ref, "phoenix", "heartbeat", {}])


def unmatched_joins():
    topic = "room:" + "t" * 2000  # each error reply echoes the topic
    n = 0
    while True:
        n += 1
        yield json.dumps([str(n), str(n), topic, "phx_join", {}])


def pings():
    n = 0
    while True:  # each ping's payload unique, as the client library wants
        n += 1
        yield str(n).encode().rjust(125, b"p")


@pytest.mark.parametrize("frames", [heartbeats, unmatched_joins, pings])
async def test_a_client_that_never_reads_is_closed_with_4008_and_memory_stays_bounded(
    make_server, frames
):
    server = make_server()
    async with phoenix(server) as warm:  # the first socket's imports and caches
        await warm.request("phoenix", "heartbeat")
    before = rss_bytes(server)
    sent, port = await never_reading(server, frames(), budget=200 * MiB)
    (closing,) = await await_until(
        lambda: [line for line in lines_about(server, port) if "event=closing" in line],
        "the 4008 line",
        timeout=30,  # a busy machine's server may still be working through the frames it took
    )
    assert "level=WARNING" in closing and "code=4008" in closing
    assert f"the client is not reading: more than {MAX_UNREAD_BYTES} bytes wait for it" in closing
    assert sent < 200 * MiB, "the connection outlived the attack"
    assert rss_bytes(server) - before < 40 * MiB
    async with phoenix(server) as other:  # everyone else is served all along
        assert (await other.request("phoenix", "heartbeat"))[4]["status"] == "ok"
    assert_no_traceback(server)


async def test_a_topic_with_a_lone_surrogate_gets_an_error_reply(server):
    async with phoenix(server) as client:
        await client.ws.send('["1","1","source:/\\ud800","phx_join",{}]')
        assert await client.recv() == [
            "1",
            "1",
            "source:/\ud800",
            "phx_reply",
            {
                "status": "error",
                "response": {"reason": "topic is not valid Unicode text (it has a lone surrogate)"},
            },
        ]
        assert (await client.request("phoenix", "heartbeat"))[4]["status"] == "ok"
    assert_no_traceback(server)


@pytest.mark.parametrize(
    ("payload", "echoed"),
    [
        (b"", Close(CloseCode.NO_STATUS_RCVD, "")),  # no code: an empty close frame back
        (Close(CloseCode.GOING_AWAY, "tab hidden").serialize(), Close(1001, "tab hidden")),
        (Close(4321, "custom").serialize(), Close(4321, "custom")),
    ],
    ids=["no-code", "1001", "4321"],
)
async def test_a_clients_close_is_echoed_with_its_code_or_none(server, payload, echoed):
    """phoenix.js 1.6/1.7 never reconnect after a 1000 they did not ask for."""
    async with phoenix(server) as client:
        client.ws.transport.write(Frame(Opcode.CLOSE, payload).serialize(mask=True, extensions=[]))
        async with asyncio.timeout(TIMEOUT):
            await client.ws.wait_closed()
        assert client.ws.protocol.close_rcvd == echoed


async def test_frames_above_1_mib_are_accepted_when_the_setting_allows_them(hardened):
    async with phoenix(hardened) as client:
        padding = "x" * int(1.5 * MiB)
        reply = await client.request("phoenix", "heartbeat", {"pad": padding})
        assert reply[4] == {"status": "ok", "response": {}}


async def test_frames_above_the_setting_are_refused_with_1009_not_a_reset(hardened):
    async with phoenix(hardened, max_size=None) as client:
        await client.send(None, "1", "phoenix", "heartbeat", {"pad": "x" * (2 * MiB)})
        notice = await client.recv()
        code, reason = await client.closed()
    assert code == 1009
    assert reason.endswith(f"exceeds payload limit of {2 * MiB} octets")
    assert notice == [None, None, "phoenix", "phx_error", {"reason": reason}]


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        (Frame(Opcode.TEXT, b'["\xff"]').serialize(mask=True, extensions=[]), 1007, "UTF-8"),
        (Frame(Opcode.TEXT, b"[]").serialize(mask=False, extensions=[]), 1002, "unmasked"),
        (bytes((0x83, 0x80, 1, 2, 3, 4)), 1002, "reserved opcode"),
        (bytes((0xF1, 0x80, 1, 2, 3, 4)), 1002, "RSV"),
        (Frame(Opcode.CLOSE, b"\x03\xe8\xff").serialize(mask=True, extensions=[]), 1007, "UTF8"),
        (Frame(Opcode.CLOSE, b"\x03\xe7").serialize(mask=True, extensions=[]), 1002, "999"),
    ],
    ids=["invalid-utf8", "unmasked", "bad-opcode", "reserved-bits", "close-reason", "close-999"],
)
async def test_protocol_violations_get_the_rfc_close_codes(server, raw, code, reason):
    async with phoenix(server) as client:
        port = client.local_port
        client.ws.transport.write(raw)
        notice = await client.recv()
        received_code, received_reason = await client.closed()
    assert received_code == code and reason in received_reason
    assert notice == [None, None, "phoenix", "phx_error", {"reason": received_reason}]
    (closing,) = await await_until(
        lambda: [line for line in lines_about(server, port) if "event=closing" in line],
        "the closing line",
    )
    assert f"code={code}" in closing and "level=WARNING" in closing
    assert_no_traceback(server)


async def test_pings_count_as_activity_for_the_idle_timeout(hardened):
    source = new_source()
    async with phoenix(hardened, ping_interval=None) as client:
        await client.join(f"source:{source}")
        for _ in range(6):  # 2.4 s in all, each gap under the 1 s timeout, no Phoenix frame
            await asyncio.sleep(0.4)
            async with asyncio.timeout(TIMEOUT):
                await (await client.ws.ping(b"still here"))
        event = await post_event(hardened, source)
        assert (await client.recv())[4] == event


async def test_clients_gone_right_after_a_heartbeat_leave_no_traceback(make_server):
    """Heartbeat replies owed to clients that already closed are dropped quietly."""
    server = make_server(env={"RELAYMAN_LOG_LEVEL": "DEBUG"})  # each socket's close line

    async def heartbeat_then_close():
        async with phoenix(server) as client:
            await client.send(None, "1", "phoenix", "heartbeat")
            await client.ws.close()
            return client.local_port

    ports = await asyncio.gather(*(heartbeat_then_close() for _ in range(100)))
    closes = await await_until(
        lambda: (
            [
                line
                for line in server.logs().splitlines()
                if "event=close " in line and "code=1000" in line
            ]
            if server.logs().count("event=close ") >= len(ports)
            else None
        ),
        "every socket's close line",
        timeout=15,
    )
    assert len(closes) == len(ports)
    assert_no_traceback(server)


@pytest.mark.parametrize(
    "violation",
    [
        Frame(Opcode.TEXT, b'["\xff"]').serialize(mask=True, extensions=[]),
        Frame(Opcode.CLOSE, b"\x03\xe8\xff").serialize(mask=True, extensions=[]),
    ],
    ids=["invalid-utf8-text", "close-reason-not-utf8"],
)
async def test_a_client_still_sending_after_its_violation_gets_the_close_frame(server, violation):
    """Its later frames must not turn the server's close into a reset that swallows the code."""
    for _ in range(20):
        async with phoenix(server) as client:
            client.ws.transport.write(violation)
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(TIMEOUT):
                    for ref in range(200):
                        await client.send(None, str(ref), "phoenix", "heartbeat")
                    while True:
                        await client.ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007


def save_frame_limit(server: Server, limit: int) -> None:
    """Save the admin's "maximum frame size" in the server's database, as the admin form does."""
    code = (
        "from events.models import RelaySettings; s = RelaySettings.load(); "
        f"s.max_frame_bytes = {limit}; s.save()"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=server.env, check=True
    )


async def test_the_admins_frame_limit_holds_on_sockets_already_open(make_server):
    server = make_server()
    big = {"pad": "x" * int(1.5 * MiB)}  # over daphne's 1 MiB and the 64 KiB default

    async def answered(payload: dict) -> bool:
        """Whether a fresh socket gets a frame of `payload` answered (the limit in force)."""
        async with phoenix(server, max_size=None) as probe:
            await probe.send(None, "probe", "phoenix", "heartbeat", payload)
            return (await probe.recv())[3] == "phx_reply"

    async with phoenix(server, max_size=None) as client:  # open before either change
        save_frame_limit(server, 2 * MiB)
        await await_until(lambda: answered(big), "the 2 MiB limit in force", timeout=10)
        assert (await client.request("phoenix", "heartbeat", big))[4]["status"] == "ok"

        save_frame_limit(server, 1000)
        small = {"pad": "x" * 2000}

        async def refused() -> bool:
            return not await answered(small)

        await await_until(refused, "the 1000-byte limit in force", timeout=10)
        await client.send(None, "small", "phoenix", "heartbeat", small)
        assert (await client.recv())[3] == "phx_error"
        code, reason = await client.closed()
    assert code == 1009 and reason.endswith("exceeds payload limit of 1000 octets")
