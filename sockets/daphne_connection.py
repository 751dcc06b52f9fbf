"""Pushes written straight to daphne's connection, and a client that stopped reading noticed.

An ASGI `websocket.send` under daphne passes through daphne, autobahn and twisted; twisted parks
every frame in its buffer, registers the socket with epoll for writability, and sends it on the
next turn of the loop, then unregisters it. For a push, the one message written to thousands of
sockets at once, that detour cost more than half the server's CPU per delivery (the README's
"Performance" section has the profile). `Connection.push` frames the text itself and sends it at
once when nothing waits before it in twisted's buffer; whatever the kernel does not take goes
into that buffer, as twisted would have done, so frames keep their order whichever way they went.

ASGI gives an application no signal for a client that reads slower than events arrive, and
twisted buffers whatever it is sent, without bound. It does flag the connection itself, for the
producer that feeds it: `producerPaused` is up while more than 64 KiB wait for the client beyond
the kernel's buffers. `Connection.backlog` counts what is pushed while that flag is up.

Any other server (uvicorn, or daphne behind TLS) gets no `Connection`: the consumer sends through
ASGI. Under uvicorn the ASGI `send` itself waits while the client is backed up, so the socket
stops taking messages and the channel layer's capacity bounds what is held for it.
"""

from .websocket_frames import text_frame


class Connection:
    """daphne's protocol (autobahn) and transport (twisted TCP) of one open WebSocket."""

    __slots__ = ("protocol", "transport", "backlog")

    def __init__(self, protocol):
        self.protocol = protocol
        self.transport = protocol.transport
        self.backlog = 0  # characters pushed while twisted already held 64 KiB for the client

    def push(self, text: str) -> None:
        """Send `text` as one text frame, now if the kernel takes it; dropped once closing."""
        protocol, transport = self.protocol, self.transport
        if protocol.state != protocol.STATE_OPEN or transport.disconnecting:
            return  # the close handshake has begun: at-most-once, nothing more is owed
        self.backlog = self.backlog + len(text) if transport.producerPaused else 0
        frame = text_frame(text.encode("utf-8"))
        if transport._tempDataLen or transport.offset < len(transport.dataBuffer):
            transport.write(frame)  # behind what twisted already holds
            return
        sent = transport.writeSomeData(frame)
        if not isinstance(sent, int):  # the connection is lost: twisted will notice and report
            return
        if sent < len(frame):
            transport.write(frame[sent:])


def of(send) -> Connection | None:
    """The `Connection` behind an accepted socket's ASGI `send`, if daphne serves plain TCP."""
    # daphne's `send` is functools.partial(Server.handle_reply, protocol).
    protocol = getattr(send, "args", (None,))[0]
    transport = getattr(protocol, "transport", None)
    if getattr(transport, "TLS", True) or not hasattr(transport, "writeSomeData"):
        return None  # not twisted's plain TCP (or Unix) transport: TLS wraps it in another
    if getattr(protocol, "_perMessageCompress", None) is not None:
        return None  # compressed frames are autobahn's to build (daphne never negotiates it)
    return Connection(protocol)
