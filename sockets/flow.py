"""Noticing a client that stopped reading, before what waits for it costs unbounded memory.

ASGI gives an application no signal for a client that reads slower than events arrive, and
daphne (twisted) buffers whatever it is sent, without bound. Twisted does flag the connection
itself, for the producer that feeds it: `producerPaused` is true while more than 64 KiB wait for
the client beyond the kernel's buffers. `Backlog` counts what is sent while that flag is up.

Under uvicorn, the ASGI `send` itself waits while the client is backed up, so the socket stops
taking messages and the channel layer's capacity bounds what is held for it.
"""


class Backlog:
    """What was sent to a client while its server already held more than it could write."""

    __slots__ = ("transport", "size")

    def __init__(self, transport):
        self.transport = transport
        self.size = 0

    def add(self, size: int) -> int:
        """Count `size` more characters about to be sent; the total held beyond the buffer."""
        if getattr(self.transport, "producerPaused", False):
            self.size += size
        else:
            self.size = 0
        return self.size


def watch(send) -> Backlog:
    """The `Backlog` of the connection behind an ASGI `send`; it stays 0 unless daphne's."""
    # daphne's `send` is functools.partial(Server.handle_reply, protocol).
    protocol = getattr(send, "args", (None,))[0]
    return Backlog(getattr(protocol, "transport", None))
