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
  closed at the same moment or its close frame broke a rule. And a socket closed while the
  client's frames sit unread is reset by the kernel, which may discard that frame at the client
  too: after a second violation mid-handshake (an invalid UTF-8 frame is reported twice), or
  when a broken client goes on sending after its close. Here the server half-closes (a FIN after
  what is written), drops whatever the client still sends, and waits for the client's close for
  a second violation; a client that does not end its side within the close handshake timeout is
  reset all the same.
- A close for a violation is preceded by a `phx_error` frame saying why, as every other close
  of the server is.
- The application may close with 1012 (Service Restart), which autobahn's `sendClose` refuses
  from an application (it takes 1000 and 3000-4999 only): a draining server's close, after which
  phoenix.js reconnects. With other versions it is sent as its 4xxx twin, 4012.
- A ping goes to the application as a `websocket.ping` message, so it counts as activity for the
  idle timeout and its pong counts toward what the client leaves unread, like any other frame.
- The application may refuse a handshake with any HTTP response, status, headers and body (the
  ASGI "websocket.http.response" extension, offered in the scope): daphne offers only a close
  before the handshake, which it answers with a bare 403. Relayman's 404 for a path no route
  matches (`events.errors.SocketRouteNotFound`) is such a response.

The frame limit and the close codes use autobahn's public options and callbacks. The rest reads
daphne's `application_queue` and query string, hooks autobahn's closing (`dropConnection`,
`sendCloseFrame`) and its refusal of a handshake (`sendHttpErrorResponse`, reached through
daphne's `serverReject`), so it is done only with the daphne and autobahn versions it was tested
on (checked at import); with any other, those connections behave as daphne's own, and the scope
offers no denial response.
"""

import logging
from http.client import responses

import autobahn
import daphne
from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocketProtocol
from twisted.internet import reactor

from events import config

from .handshake import negotiate_serializer
from .serializers import error

logger = logging.getLogger("sockets")

TESTED = {"daphne": ("4.2.3",), "autobahn": ("26.11.1",)}
NO_STATUS = 1005  # RFC 6455 §7.1.5: the close frame carried no status code
SERVICE_RESTART = 1012  # RFC 6455 §7.4.1 (IANA registry): the server is restarting


def internals_known(daphne_version=daphne.__version__, autobahn_version=autobahn.__version__):
    """Whether daphne and autobahn are the versions whose internals were tested here."""
    return (
        daphne_version in TESTED["daphne"]
        and autobahn_version in TESTED["autobahn"]
        and all(
            hasattr(DaphneWebSocketProtocol, name)
            for name in ("muted", "serverReject", "sendHttpErrorResponse")
        )
    )


INTERNALS_KNOWN = internals_known()
if not INTERNALS_KNOWN:
    logger.warning(
        "event=fallback daphne=%s autobahn=%s tested=%s: pings are answered by autobahn and "
        "not counted; closes are autobahn's own; a refused handshake is a 403",
        daphne.__version__,
        autobahn.__version__,
        TESTED,
    )


DENIAL = "websocket.http.response"  # the ASGI extension for refusing with an HTTP response


class WebSocketProtocol(DaphneWebSocketProtocol):
    """daphne's protocol with Relayman's frame limit, close codes, ping hand-off and refusals."""

    internals_known = INTERNALS_KNOWN
    _reset_later = None  # the reset of a gracefully closing connection the client left unread
    _denial = None  # (status, headers, body parts) of the application's refusal, as it arrives

    @property
    def scope_extensions(self) -> dict:
        """The ASGI extensions this protocol carries out, for the connection's scope."""
        return {DENIAL: {}} if self.internals_known else {}

    def handle_reply(self, message):
        kind = message.get("type", "")
        if not (kind.startswith(DENIAL + ".") and self.internals_known):
            return super().handle_reply(message)
        if self.state != self.STATE_CONNECTING:
            raise ValueError(f"{kind} once the handshake is over")
        if kind == DENIAL + ".start":
            self._denial = (message["status"], message.get("headers", []), [])
            return None
        self._denial[2].append(message.get("body", b""))
        if not message.get("more_body", False):
            self.serverReject()  # daphne's refusal, answered below with the application's response
        return None

    def sendHttpErrorResponse(self, code, reason, responseHeaders=None):
        if self._denial is None:
            return super().sendHttpErrorResponse(code, reason, responseHeaders)
        status, headers, parts = self._denial
        body = b"".join(parts)
        lines = [
            f"HTTP/1.1 {status} {responses.get(status, '')}".encode(),
            *(name + b": " + value for name, value in headers if name.lower() != b"content-length"),
            b"Content-Length: %d" % len(body),
            b"Connection: close",
        ]
        self.sendData(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        return None

    def serverClose(self, code=None):
        if code != SERVICE_RESTART:
            return super().serverClose(code)
        if not self.internals_known:
            return super().serverClose(4000 + SERVICE_RESTART % 1000)
        self.sendCloseFrame(code=code, isReply=False)
        return None

    def onMessageBegin(self, isBinary):
        limit = config.get("MAX_FRAME_BYTES")
        self.maxMessagePayloadSize = self.maxFramePayloadSize = limit
        super().onMessageBegin(isBinary)

    def onPing(self, payload):
        application_queue = getattr(self, "application_queue", None)
        if not self.internals_known or application_queue is None:
            return super().onPing(payload)
        if self.state == self.STATE_OPEN and not self.muted:
            application_queue.put_nowait({"type": "websocket.ping", "payload": payload})

    def sendCloseFrame(self, code=None, reasonUtf8=None, isReply=False):
        if self.internals_known and self.failedByMe and self.state == self.STATE_OPEN:
            serializer = negotiate_serializer(getattr(self, "_raw_query_string", b""))
            if serializer is not None:
                reason = (reasonUtf8 or b"").decode("utf-8", "replace")
                self.sendMessage(serializer.encode(error(reason)).encode())
        super().sendCloseFrame(code, reasonUtf8, isReply)

    def dropConnection(self, abort=False):
        if self.internals_known:
            if not abort and not self.wasClean and self.state == self.STATE_CLOSING:
                return  # a second violation mid-handshake: its timeout ends the connection
            abort = abort and not self.wasClean
        super().dropConnection(abort)

    def _closeConnection(self, abort=False):
        half_close = getattr(self.transport, "loseWriteConnection", None)
        if not self.internals_known or abort or half_close is None:
            return super()._closeConnection(abort)
        half_close()
        self._reset_later = reactor.callLater(self.closeHandshakeTimeout, self._reset)

    def dataReceived(self, data):
        if self.state == self.STATE_CLOSED and self.internals_known:
            return  # after the close handshake; autobahn would keep it, unread, until the end
        super().dataReceived(data)

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
