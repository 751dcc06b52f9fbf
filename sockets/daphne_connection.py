"""Frames written straight to daphne's connection, and how far behind the client is.

An ASGI `websocket.send` under daphne passes through daphne, autobahn and twisted; twisted parks
every frame in its buffer, registers the socket with epoll for writability, and sends it on the
next turn of the loop, then unregisters it. For a push, the one message written to thousands of
sockets at once, that detour cost more than half the server's CPU per delivery (the README's
"Performance" section has the profile). `Connection.write` sends a frame at once when nothing
waits before it in twisted's buffer; whatever the kernel does not take goes into that buffer, as
twisted would have done, so frames keep their order whichever way they went. Every frame the
consumer sends (pushes, replies, errors, pongs) goes this way, so every one is counted.

ASGI gives an application no signal for a client that reads slower than frames are written,
and twisted buffers whatever it is sent, without bound. It does flag the connection itself, for
the producer that feeds it: `producerPaused` is up while more than 64 KiB wait for the client
beyond the kernel's buffers. While it is up, `write` reports how many bytes twisted holds for
the client, and the session decides when that is too much. A client that reads, only slower than
a burst arrives, is credited with what it read meanwhile: what counts is what waits, not what
was written while it lagged.

The immediate send reads twisted's buffer internals, so it is used only with the twisted
versions it was tested on (checked at import); with any other, frames go through the public
`transport.write`, which is slower but keeps every rule. A server other than daphne gets no
`Connection`: the consumer sends through ASGI, and under uvicorn the ASGI `send` itself waits
while the client is backed up, so the channel layer's capacity bounds what is held for it.
"""

import logging

from .websocket_frames import pong_frame, text_frame

try:  # a host project served by uvicorn may have no twisted at all
    import twisted
    from twisted.internet.abstract import FileDescriptor
except ImportError:  # pragma: no cover - then no socket is daphne's, and `of` finds none
    twisted = None

logger = logging.getLogger("sockets")

TESTED_TWISTED = ("26.10.0",)
_BUFFER_INTERNALS = ("_tempDataLen", "dataBuffer", "offset", "writeSomeData")


def buffer_internals_known(version: str | None = None) -> bool:
    """Whether twisted's write buffer is the one the immediate send was tested against."""
    if twisted is None:
        return False
    probe = FileDescriptor()
    version = version or twisted.__version__
    return version in TESTED_TWISTED and all(hasattr(probe, name) for name in _BUFFER_INTERNALS)


IMMEDIATE = buffer_internals_known()
if twisted is not None and not IMMEDIATE:
    logger.warning(
        "event=fallback twisted=%s tested=%s: frames go through transport.write",
        twisted.__version__,
        ",".join(TESTED_TWISTED),
    )


class Connection:
    """daphne's protocol (autobahn) and transport (twisted) of one open WebSocket."""

    __slots__ = ("protocol", "transport", "immediate", "written_while_behind")

    def __init__(self, protocol, immediate: bool):
        self.protocol = protocol
        self.transport = protocol.transport
        self.immediate = immediate
        # Without twisted's buffer internals, what waits is estimated: what was written since the
        # client fell behind.
        self.written_while_behind = 0

    def send_text(self, text: str) -> int:
        """Send `text` as one text frame; see `write`."""
        return self.write(text_frame(text.encode("utf-8")))

    def pong(self, payload: bytes) -> int:
        """Answer a ping; see `write`."""
        return self.write(pong_frame(payload))

    def write(self, frame: bytes) -> int:
        """Write a whole frame, now if the kernel takes it; dropped once the socket is closing.

        Returns the bytes that wait for the client beyond the kernel's buffers while it is
        behind (its producer paused), else 0.
        """
        protocol, transport = self.protocol, self.transport
        if protocol.state != protocol.STATE_OPEN or transport.disconnecting:
            return 0  # the close handshake has begun or the peer is gone: nothing more is owed
        if not self.immediate:
            transport.write(frame)
            return self._estimate(len(frame))
        if transport._tempDataLen or transport.offset < len(transport.dataBuffer):
            transport.write(frame)  # behind what twisted already holds
        else:
            sent = transport.writeSomeData(frame)
            if not isinstance(sent, int):  # the connection is lost: twisted will notice, report
                return 0
            if sent < len(frame):
                transport.write(frame[sent:])
        if not transport.producerPaused:
            return 0
        return transport._tempDataLen + len(transport.dataBuffer) - transport.offset

    def _estimate(self, size: int) -> int:
        if self.transport.producerPaused:  # TLS's wrapper forwards it
            self.written_while_behind += size
        else:
            self.written_while_behind = 0
        return self.written_while_behind

    def failure(self) -> tuple[int, str] | None:
        """The close code and reason autobahn failed the connection with, if it did.

        With `failByDrop` off, autobahn answers a protocol violation (1002), invalid UTF-8
        (1007) or a frame over the limit (1009) with a close frame of its own.
        """
        protocol = self.protocol
        if not getattr(protocol, "failedByMe", False):
            return None
        reason = getattr(protocol, "localCloseReason", None) or b""
        return getattr(protocol, "localCloseCode", None), reason.decode("utf-8", "replace")


def of(send) -> Connection | None:
    """The `Connection` behind an accepted socket's ASGI `send`, if daphne serves it."""
    # daphne's `send` is functools.partial(Server.handle_reply, protocol).
    protocol = getattr(send, "args", (None,))[0]
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(protocol, "STATE_OPEN"):
        return None  # not daphne's autobahn protocol
    if getattr(protocol, "_perMessageCompress", None) is not None:
        return None  # compressed frames are autobahn's to build (daphne never negotiates it)
    # TLS wraps twisted's TCP transport in another, whose buffer is not the one read here.
    plain_tcp = not getattr(transport, "TLS", True) and hasattr(transport, "writeSomeData")
    return Connection(protocol, IMMEDIATE and plain_tcp)
