"""The daphne-level pieces (`daphne_connection`, `daphne_protocol`) on their own, fallbacks too:
each leans on internals only with the versions it was tested on."""

import asyncio
from unittest import mock

import pytest
import txaio
from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol
from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocketProtocol

from events import config
from sockets import daphne_connection, daphne_protocol
from sockets.daphne_connection import Connection
from sockets.daphne_protocol import WebSocketProtocol
from sockets.websocket_frames import pong_frame, text_frame


class FakeTransport:
    """The parts of twisted's TCP transport that `Connection` reads."""

    TLS = False
    disconnecting = False

    def __init__(self, kernel_takes: int = 1 << 30, paused: bool = False):
        self.kernel_takes = kernel_takes
        self.producerPaused = paused
        self._tempDataLen = 0
        self.dataBuffer = b""
        self.offset = 0
        self.sent = b""  # what reached the kernel at once
        self.written = b""  # what went into twisted's buffer

    def writeSomeData(self, data: bytes) -> int:
        taken = data[: self.kernel_takes]
        self.sent += taken
        return len(taken)

    def write(self, data: bytes) -> None:
        self.written += data
        self._tempDataLen += len(data)


class FakeProtocol:
    STATE_OPEN = 3

    def __init__(self, transport):
        self.transport = transport
        self.state = self.STATE_OPEN


def test_the_immediate_send_is_only_for_the_tested_twisted():
    assert daphne_connection.buffer_internals_known()
    assert not daphne_connection.buffer_internals_known("99.0.0")


def test_an_immediate_write_goes_to_the_kernel_and_the_rest_to_twisted():
    transport = FakeTransport(kernel_takes=10)
    connection = Connection(FakeProtocol(transport), immediate=True)
    frame = text_frame(b"x" * 100)
    assert connection.write(frame) == 0
    assert (transport.sent, transport.written) == (frame[:10], frame[10:])
    connection.write(text_frame(b"after"))  # behind what twisted holds: keeps the order
    assert transport.written == frame[10:] + text_frame(b"after")


def test_the_fallback_writes_through_the_public_transport_write():
    transport = FakeTransport()
    connection = Connection(FakeProtocol(transport), immediate=False)
    connection.send_text("é")
    connection.pong(b"hi")
    assert transport.sent == b""
    assert transport.written == text_frame("é".encode()) + pong_frame(b"hi")


def test_while_the_client_is_behind_what_waits_in_twisted_is_reported():
    transport = FakeTransport(kernel_takes=0, paused=True)
    transport.dataBuffer, transport.offset = b"y" * 100, 40  # 60 bytes still wait there
    connection = Connection(FakeProtocol(transport), immediate=True)
    frame = text_frame(b"x" * 10)
    assert connection.write(frame) == 60 + len(frame)
    transport.offset = 100  # the client read what waited
    assert connection.write(frame) == 2 * len(frame)
    transport.producerPaused = False
    assert connection.send_text("x") == 0


def test_without_twisteds_internals_what_waits_is_what_was_written_since_it_fell_behind():
    transport = FakeTransport(paused=True)
    connection = Connection(FakeProtocol(transport), immediate=False)
    size = len(text_frame(b"x" * 10))
    assert connection.send_text("x" * 10) == size
    assert connection.send_text("x" * 10) == 2 * size
    transport.producerPaused = False
    assert connection.send_text("x") == 0
    transport.producerPaused = True
    assert connection.send_text("x" * 10) == size


def test_writes_once_the_peer_is_gone_are_dropped_quietly():
    transport = FakeTransport()
    protocol = FakeProtocol(transport)
    protocol.state = 4  # closed
    assert Connection(protocol, immediate=True).send_text("late reply") == 0
    assert transport.sent == transport.written == b""


def test_connections_only_for_daphnes_protocol():
    assert daphne_connection.of(lambda message: None) is None


@pytest.fixture
def protocol(monkeypatch):
    """Relayman's protocol, open, with its application's queue and a recorded pong."""
    instance = WebSocketProtocol()
    instance.state = instance.STATE_OPEN
    instance.application_queue = asyncio.Queue()
    instance.pongs = []
    monkeypatch.setattr(instance, "sendPong", instance.pongs.append, raising=False)
    return instance


def test_pings_go_to_the_application(protocol):
    protocol.onPing(b"hello")
    assert protocol.application_queue.get_nowait() == {
        "type": "websocket.ping",
        "payload": b"hello",
    }
    assert protocol.pongs == []


def test_with_another_daphne_autobahn_answers_pings_itself(protocol):
    assert daphne_protocol.internals_known()
    assert not daphne_protocol.internals_known(daphne_version="4.0.0")
    assert not daphne_protocol.internals_known(autobahn_version="25.0.0")
    protocol.internals_known = False
    protocol.onPing(b"hello")
    assert protocol.pongs == [b"hello"] and protocol.application_queue.empty()


def test_each_message_is_held_to_the_frame_limit_in_force(protocol, monkeypatch):
    monkeypatch.setattr(config, "get", {"MAX_FRAME_BYTES": 3 * 1024 * 1024}.__getitem__)
    protocol.onMessageBegin(False)
    assert protocol.maxMessagePayloadSize == protocol.maxFramePayloadSize == 3 * 1024 * 1024


@pytest.mark.parametrize(
    ("clean", "code", "reported"), [(True, None, 1005), (True, 4000, 4000), (False, 1006, 1006)]
)
def test_a_clean_close_without_a_code_is_reported_as_1005(
    protocol, monkeypatch, clean, code, reported
):
    seen = []
    monkeypatch.setattr(
        DaphneWebSocketProtocol, "onClose", lambda self, clean, code, reason: seen.append(code)
    )
    protocol.onClose(clean, code, None)
    assert seen == [reported]


def test_factory_options_close_with_rfc_codes_and_echo_the_clients_close():
    assert daphne_protocol.factory_options() == {"failByDrop": False, "echoCloseCodeReason": True}


class ClosingTransport:
    connected = True

    def __init__(self):
        self.calls = []

    def unregisterProducer(self):
        pass

    def loseWriteConnection(self):
        self.calls.append("FIN after the buffer")

    def loseConnection(self):
        self.calls.append("close after the buffer")

    def abortConnection(self):
        self.calls.append("reset")


class Timers:
    def __init__(self):
        self.pending = []

    def callLater(self, delay, function):
        timer = mock.Mock(delay=delay, function=function)
        self.pending.append(timer)
        return timer


def test_after_a_clean_close_handshake_the_close_frame_is_flushed_then_reset_if_unread(
    protocol, monkeypatch
):
    timers = Timers()
    monkeypatch.setattr(daphne_protocol, "reactor", timers)
    protocol.transport = ClosingTransport()
    protocol.wasClean, protocol.closeHandshakeTimeout, protocol.peer = True, 1, "tcp:peer"
    protocol.is_closed = txaio.create_future()
    protocol.dropConnection(abort=True)  # autobahn's call once both close frames crossed
    assert protocol.transport.calls == ["FIN after the buffer"]
    (timer,) = timers.pending
    assert timer.delay == 1
    timer.function()  # the client did not take it in time
    assert protocol.transport.calls == ["FIN after the buffer", "reset"]


def test_what_the_client_sends_after_the_close_handshake_is_dropped(protocol):
    protocol.state, protocol.data = protocol.STATE_CLOSED, b""
    protocol.dataReceived(b"frames a broken client sends after its close")
    assert protocol.data == b""


def test_an_unclean_drop_stays_a_reset(protocol, monkeypatch):
    monkeypatch.setattr(daphne_protocol, "reactor", Timers())
    protocol.transport = ClosingTransport()
    protocol.wasClean, protocol.wasNotCleanReason, protocol.peer = False, "timeout", "tcp:peer"
    protocol.is_closed = txaio.create_future()
    protocol.dropConnection(abort=True)
    assert protocol.transport.calls == ["reset"]


def test_a_second_violation_mid_handshake_waits_for_the_clients_close(protocol):
    protocol.transport = ClosingTransport()
    protocol.state, protocol.wasClean = protocol.STATE_CLOSING, False
    protocol.dropConnection(abort=False)  # autobahn's call for a second violation while closing
    assert protocol.transport.calls == [] and protocol.state == protocol.STATE_CLOSING


def test_with_other_versions_drops_are_autobahns_own(protocol):
    protocol.internals_known = False
    protocol.transport = ClosingTransport()
    protocol.wasClean, protocol.peer = True, "tcp:peer"
    protocol.is_closed = txaio.create_future()
    protocol.dropConnection(abort=True)
    assert protocol.transport.calls == ["reset"]


@pytest.mark.parametrize(
    ("query", "notice"),
    [
        (b"vsn=2.0.0", b'[null,null,"phoenix","phx_error",{"reason":"bad opcode"}]'),
        (
            b"",
            b'{"join_ref":null,"ref":null,"topic":"phoenix","event":"phx_error",'
            b'"payload":{"reason":"bad opcode"}}',
        ),
    ],
)
def test_a_close_for_a_violation_is_preceded_by_phx_error(protocol, monkeypatch, query, notice):
    sent = []
    monkeypatch.setattr(protocol, "sendMessage", sent.append, raising=False)
    monkeypatch.setattr(
        AutobahnProtocol, "sendCloseFrame", lambda self, code, reason, is_reply: sent.append(code)
    )
    protocol._raw_query_string, protocol.failedByMe = query, True
    protocol.sendCloseFrame(1002, b"bad opcode")
    assert sent == [notice, 1002]


def test_closes_of_the_application_get_no_extra_notice(protocol, monkeypatch):
    sent = []
    monkeypatch.setattr(protocol, "sendMessage", sent.append, raising=False)
    monkeypatch.setattr(
        AutobahnProtocol, "sendCloseFrame", lambda self, code, reason, is_reply: sent.append(code)
    )
    protocol._raw_query_string, protocol.failedByMe = b"vsn=2.0.0", False
    protocol.sendCloseFrame(4000)
    assert sent == [4000]


# A refusal before the handshake, as any HTTP response (ASGI's denial-response extension)

DENIAL_START = {
    "type": "websocket.http.response.start",
    "status": 404,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"99")],
}


@pytest.fixture
def connecting(protocol, monkeypatch):
    """The protocol mid-handshake; `sent` records the bytes it writes and `rejected` daphne's
    refusals, each answered as autobahn answers one (`sendHttpErrorResponse`, 403)."""
    protocol.state = protocol.STATE_CONNECTING
    protocol.sent, protocol.rejected = [], []
    monkeypatch.setattr(protocol, "sendData", protocol.sent.append, raising=False)

    def reject():
        protocol.rejected.append(True)
        protocol.sendHttpErrorResponse(403, "Access denied")

    monkeypatch.setattr(protocol, "serverReject", reject)
    return protocol


def test_the_scope_offers_the_denial_response_with_the_tested_versions_only(protocol):
    assert protocol.scope_extensions == {"websocket.http.response": {}}
    protocol.internals_known = False
    assert protocol.scope_extensions == {}


def test_the_applications_response_replaces_daphnes_403(connecting):
    connecting.handle_reply(DENIAL_START)
    connecting.handle_reply(
        {"type": "websocket.http.response.body", "body": b'{"detail":', "more_body": True}
    )
    assert connecting.rejected == []  # until the body is complete
    connecting.handle_reply({"type": "websocket.http.response.body", "body": b' "gone"}'})

    assert connecting.rejected == [True]
    assert connecting.sent == [
        b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\nContent-Length: 18\r\n"
        b'Connection: close\r\n\r\n{"detail": "gone"}'
    ]


def test_without_a_denial_a_refusal_stays_daphnes_403(connecting):
    connecting.serverReject()
    assert connecting.sent == [b"HTTP/1.1 403 Access denied\r\n\r\n"]


def test_a_denial_once_the_handshake_is_over_is_an_error(connecting):
    connecting.state = connecting.STATE_OPEN
    with pytest.raises(ValueError, match="once the handshake is over"):
        connecting.handle_reply(DENIAL_START)


def test_with_other_versions_a_denial_goes_to_daphne_which_ignores_it(connecting):
    connecting.internals_known = False
    connecting.handle_reply(DENIAL_START)
    connecting.handle_reply({"type": "websocket.http.response.body", "body": b"{}"})
    assert connecting.rejected == [] and connecting.sent == []


def test_a_status_without_a_standard_phrase_is_sent_without_one(connecting):
    connecting.handle_reply({**DENIAL_START, "status": 499, "headers": []})
    connecting.handle_reply({"type": "websocket.http.response.body"})
    assert connecting.sent == [b"HTTP/1.1 499 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n"]
