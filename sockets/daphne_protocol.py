"""daphne's WebSocket protocol (autobahn), with the rules that only that level can keep.

`relayman_project.server` builds every WebSocket with `WebSocketProtocol` and the factory options
of `factory_options()`. Under any other server this module is unused.

- The frame limit: autobahn buffers a whole message before anyone sees it, and daphne caps it at
  1 MiB by resetting the connection. Here each message is held to `MAX_FRAME_BYTES` as it is
  when the message begins (an admin may change it live), and a larger one is refused with the
  RFC's close code 1009 instead of a reset.
- Protocol violations (bad opcodes, unmasked frames, invalid UTF-8 text) get the RFC's close
  codes 1002 and 1007 with a reason, instead of a reset (`failByDrop` off).
- A client's close is answered with its own status code, or with none when it sent none (RFC
  6455 §5.5.1, as Phoenix's Cowboy does); phoenix.js does not reconnect after a 1000.
- The server's close frame reaches the client. Once both close frames have crossed, autobahn
  resets the connection, discarding twisted's buffer: often that very frame, when the client
  closed at the same moment or its close frame broke a rule. And a second violation while the
  close handshake is under way (an invalid UTF-8 frame is reported twice) closes the socket at
  once, which the kernel turns into a reset when the client's later frames sit unread. Here the
  first ends with a FIN after what is written, the second waits for the client's close; a client
  that takes neither within the close handshake timeout is reset all the same.
- A ping goes to the application as a `websocket.ping` message, so it counts as activity for the
  idle timeout and its pong counts toward what the client leaves unread, like any other frame.
  This reads daphne's `application_queue`, so it is done only with the daphne versions it was
  tested on (checked at import); with any other, autobahn answers pings itself.
"""

import logging

import daphne
from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocketProtocol
from twisted.internet import reactor

from events import config

logger = logging.getLogger("sockets")

TESTED_DAPHNE = ("4.2.3",)
NO_STATUS = 1005  # RFC 6455 §7.1.5: the close frame carried no status code


def daphne_internals_known(version: str = daphne.__version__) -> bool:
    """Whether daphne's protocol is the one whose attributes the ping hand-off was tested on."""
    return version in TESTED_DAPHNE and hasattr(DaphneWebSocketProtocol, "muted")


PINGS_TO_APPLICATION = daphne_internals_known()
if not PINGS_TO_APPLICATION:
    logger.warning(
        "event=fallback daphne=%s tested=%s: pings are answered by autobahn and not counted",
        daphne.__version__,
        ",".join(TESTED_DAPHNE),
    )


class WebSocketProtocol(DaphneWebSocketProtocol):
    """daphne's protocol with Relayman's frame limit, close codes and ping hand-off."""

    pings_to_application = PINGS_TO_APPLICATION
    _reset_later = None  # the reset of a gracefully closing connection the client left unread

    def onMessageBegin(self, isBinary):
        limit = config.get("MAX_FRAME_BYTES")
        self.maxMessagePayloadSize = self.maxFramePayloadSize = limit
        super().onMessageBegin(isBinary)

    def onPing(self, payload):
        application_queue = getattr(self, "application_queue", None)
        if not self.pings_to_application or application_queue is None:
            return super().onPing(payload)
        if self.state == self.STATE_OPEN and not self.muted:
            application_queue.put_nowait({"type": "websocket.ping", "payload": payload})

    def dropConnection(self, abort=False):
        if not abort and not self.wasClean and self.state == self.STATE_CLOSING:
            return  # a second violation mid-handshake: its timeout ends the connection
        if abort and self.wasClean:
            abort = False
            self._reset_later = reactor.callLater(self.closeHandshakeTimeout, self._reset)
        super().dropConnection(abort)

    def _reset(self):
        self._reset_later = None
        if self.transport is not None and self.transport.connected:
            self.transport.abortConnection()

    def onClose(self, wasClean, code, reason):
        if self._reset_later is not None:
            self._reset_later.cancel()
            self._reset_later = None
        # autobahn reports a clean close without a status code as None; the RFC names it 1005.
        if wasClean and code is None:
            code = NO_STATUS
        super().onClose(wasClean, code, reason)


def factory_options() -> dict:
    """autobahn options for the WebSocket factory, applied on top of daphne's own."""
    return {"failByDrop": False, "echoCloseCodeReason": True}
