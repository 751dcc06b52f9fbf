"""The Phoenix socket endpoint: a thin Channels shell around `session`.

It settles the handshake, feeds client frames to the session and carries out its actions, turns
relayed events into pushes, and closes a socket that went quiet or sent something unusable. It
never touches the database, so it skips the per-message database hop Channels would make.
"""

import asyncio
import functools
import itertools
import logging
from enum import IntEnum

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from events import config
from events.publishing import group_for

from . import daphne_connection
from .handshake import choose_subprotocol, header, negotiate_serializer, origin_allowed
from .serializers import FrameError, error
from .session import Send, Session, Subscribe, Unsubscribe

logger = logging.getLogger("sockets")

# Characters pushed to a client while its server already holds 64 KiB it cannot write (see
# daphne_connection.py) beyond which the client counts as not reading, and its socket is closed.
BACKLOG_LIMIT = 1024 * 1024

_socket_ids = itertools.count(1)


class CloseCode(IntEnum):
    """Why the server closed a socket.

    daphne (autobahn) lets an application close only with 1000 or 3000-4999, so the standard
    codes for unsupported data (1003), an invalid payload (1007) and a message too big (1009)
    are sent as 4003, 4007 and 4009. None is 1000: phoenix.js does not reconnect after a normal
    closure, and a client that went quiet (a sleeping laptop, a throttled tab) should come back.
    """

    IDLE_TIMEOUT = 4000
    UNSUPPORTED_DATA = 4003
    INVALID_PAYLOAD = 4007
    MESSAGE_TOO_BIG = 4009
    TOO_SLOW = 4008


class PhoenixSocket(AsyncWebsocketConsumer):
    """One client WebSocket speaking the Phoenix Channels protocol."""

    session: Session | None = None
    closing = False
    close_code: int | None = None  # as the client or daphne reported it; None if it never came
    _idle_timer: asyncio.TimerHandle | None = None
    _closer: asyncio.Task | None = None

    async def __call__(self, scope, receive, send):
        """Serve the socket; however it ends (disconnect, crash, server shutdown), clean up."""
        try:
            await self._serve(scope, receive, send)
        finally:
            await self._clean_up()

    async def _serve(self, scope, receive, send):
        """Channels' `AsyncConsumer.__call__`, minus a new task and an `asyncio.wait` per message.

        Channels races a fresh receive of each source (the client, the channel layer) for every
        message; here each source has one long-lived pump (the client's in this task, the
        layer's in one more), and a lock keeps handlers one at a time, as Channels does.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        self._dispatching = asyncio.Lock()
        layer_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        try:
            async with asyncio.TaskGroup() as pumps:
                pumps.create_task(self._pump(layer_receive))
                await self._pump(receive)
        except* StopConsumer:
            pass

    async def _pump(self, receive):
        while True:
            message = await receive()
            async with self._dispatching:
                await self.dispatch(message)

    async def dispatch(self, message):
        """Channels' dispatch without `aclose_old_connections()`, a thread hop per message."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.socket_id = next(_socket_ids)
        scope = self.scope
        serializer = negotiate_serializer(scope["query_string"])
        if serializer is None:
            return await self._refuse("unsupported vsn", scope["query_string"].decode("latin-1"))
        origin = header(scope["headers"], b"origin")
        if not origin_allowed(origin, config.get("ALLOWED_ORIGINS")):
            return await self._refuse("origin not allowed", origin)
        self.session = Session(serializer)
        await self.accept(choose_subprotocol(scope.get("subprotocols") or []))
        self._loop = asyncio.get_running_loop()
        self._last_seen = self._loop.time()
        self._watch_idle(config.get("IDLE_TIMEOUT"))
        self._connection = daphne_connection.of(self.base_send)
        logger.info(
            "event=connect socket=%s peer=%s vsn=%s origin=%r push=%s",
            self.socket_id,
            _peer(scope),
            serializer.vsn,
            origin,
            "asgi" if self._connection is None else "direct",
        )

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        self._last_seen = self._loop.time()
        if text_data is None:
            return await self._close_for(
                CloseCode.UNSUPPORTED_DATA, "binary frames are not supported"
            )
        limit = config.get("MAX_FRAME_BYTES")
        if len(text_data) > limit or len(text_data.encode("utf-8", "surrogatepass")) > limit:
            return await self._close_for(
                CloseCode.MESSAGE_TOO_BIG, f"frame larger than {limit} bytes"
            )
        try:
            actions = self.session.receive(text_data, config.get("MAX_CHANNELS"))
        except FrameError as bad:
            return await self._close_for(CloseCode.INVALID_PAYLOAD, str(bad))
        for action in actions:
            match action:
                case Send(frame):
                    await self.send(text_data=frame)
                case Subscribe(source):
                    await self.channel_layer.group_add(group_for(source), self.channel_name)
                    logger.debug("event=join socket=%s source=%r", self.socket_id, source)
                case Unsubscribe(source):
                    await self.channel_layer.group_discard(group_for(source), self.channel_name)
                    logger.debug("event=leave socket=%s source=%r", self.socket_id, source)

    async def relay_event(self, message):
        """A published event (events.publishing.MESSAGE_TYPE) for a source this socket joined."""
        frame = self.session.push(message["source"], message["event"], message["payload"])
        if frame is None or self.closing:
            return
        if self._connection is None:
            await self.base_send({"type": "websocket.send", "text": frame})
            return
        self._connection.push(frame)
        if self._connection.backlog > BACKLOG_LIMIT:
            await self._close_for(
                CloseCode.TOO_SLOW,
                f"the client is not reading: more than {BACKLOG_LIMIT} bytes wait for it",
            )

    async def websocket_disconnect(self, message):
        """Stop; Channels' own version would also make a database hop this consumer never needs."""
        self.close_code = message.get("code")
        raise StopConsumer()

    async def _clean_up(self) -> None:
        """Leave every group, stop the idle timer and any pending close; log the close."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._closer is not None:
            self._closer.cancel()
        if self.session is None:
            return
        left = self.session.leave_all()
        try:
            for action in left:
                await self.channel_layer.group_discard(group_for(action.source), self.channel_name)
        finally:
            logger.info(
                "event=close socket=%s code=%s channels=%s",
                self.socket_id,
                self.close_code,
                len(left),
            )

    async def _refuse(self, reason: str, detail: str | None) -> None:
        """Refuse the handshake (daphne answers 403)."""
        logger.warning(
            "event=refused socket=%s peer=%s reason=%r detail=%r",
            self.socket_id,
            _peer(self.scope),
            reason,
            detail,
        )
        await self.close()

    async def _close_for(self, code: CloseCode, reason: str, level: int = logging.WARNING):
        """Close with a code and reason, said first in a frame too; one log line."""
        self.closing = True
        logger.log(
            level,
            "event=closing socket=%s peer=%s code=%s reason=%r",
            self.socket_id,
            _peer(self.scope),
            int(code),
            reason,
        )
        await self.send(text_data=self.session.serializer.encode(error(reason)))
        await self.close(int(code), reason)

    def _watch_idle(self, delay: float) -> None:
        self._idle_timer = self._loop.call_later(delay, self._check_idle)

    def _check_idle(self) -> None:
        """One timer per socket, re-armed from the last frame's time rather than per frame."""
        if self.closing:
            return
        timeout = config.get("IDLE_TIMEOUT")
        quiet = self._loop.time() - self._last_seen
        if quiet < timeout:
            self._watch_idle(timeout - quiet)
            return
        self._idle_timer = None
        self._closer = asyncio.ensure_future(
            self._close_for(
                CloseCode.IDLE_TIMEOUT,
                f"no frame received for {timeout}s (idle timeout)",
                logging.INFO,
            )
        )


def _peer(scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None
