"""The Phoenix socket endpoint: a thin Channels shell around `session`, which owns the rules.

It settles the handshake, hands the session what happens (client frames, pings, relayed events,
the idle timer, writes the client is slow to read) with the time and the limits in force, and
carries out the actions it returns. It never touches the database, so it skips the per-message
database hop Channels would make. Whatever goes wrong while serving one socket ends that socket
with a `phx_error`, a documented close code and one log line, and harms no other.
"""

import asyncio
import functools
import itertools
import logging

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from events import config, private_sources
from events.episodes import Episode
from events.publishing import group_for
from events.subscriber_tokens import TokenRefused

from . import catch_up, daphne_connection, drain
from .access import Access, without_token
from .handshake import choose_subprotocol, header, negotiate_serializer, origin_allowed
from .session import (
    Authorize,
    CatchUp,
    Close,
    CloseCode,
    Limits,
    Pong,
    Send,
    Session,
    Subscribe,
    Unsubscribe,
)
from .tallies import client_close_code, tallies

logger = logging.getLogger("sockets")

ABNORMAL_CLOSURE = 1006  # RFC 6455 §7.1.5: the connection ended without a close frame

# How loudly each of the server's closes is logged: a quiet client is ordinary. A socket's routine
# lines (connect, join, leave, close) are DEBUG: at INFO, 20,000 sockets would write 40,000 lines.
# A drain's closes are counted in the server's own lines.
LOG_LEVELS = {
    CloseCode.IDLE_TIMEOUT: logging.INFO,
    CloseCode.SERVER_ERROR: logging.ERROR,
    CloseCode.SERVICE_RESTART: logging.DEBUG,
}

_socket_ids = itertools.count(1)

# How much of a refused client's Origin or query string a log line quotes.
LOGGED_CHARS = 100


def current_limits() -> Limits:
    """The limits in force now (the admin may change them while sockets are open)."""
    return Limits(
        max_frame_bytes=config.get("MAX_FRAME_BYTES"),
        max_channels=config.get("MAX_CHANNELS"),
        idle_timeout=config.get("IDLE_TIMEOUT"),
        private_sources=private_sources.prefixes(),
    )


class PhoenixSocket(AsyncWebsocketConsumer):
    """One client WebSocket speaking the Phoenix Channels protocol."""

    session: Session | None = None
    close_code: int | None = None  # as the client or daphne reported it; None if it never came
    _connection: daphne_connection.Connection | None = None
    _idle_timer: asyncio.TimerHandle | None = None
    _idle_check: asyncio.Task | None = None
    _failure: str | None = None
    _closed_as: tuple[str, str] | None = None  # (reason, code) of a close the server started
    _access: Access | None = None

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
            try:
                message = await receive()
            except Exception as failure:  # the channel layer's, e.g. its Redis gone mid-read
                async with self._dispatching:
                    await self._fail(failure)
                return
            await self._handle(message)

    async def _handle(self, message):
        async with self._dispatching:
            await self.dispatch(message)

    async def dispatch(self, message):
        """Channels' dispatch without `aclose_old_connections()`, a thread hop per message.

        A handler that fails ends this socket (4011) with one ERROR line and no traceback.
        """
        try:
            handler = getattr(self, get_handler_name(message), None)
            if handler is None:
                raise ValueError(f"No handler for message type {message['type']}")
            await handler(message)
        except StopConsumer:
            raise
        except Exception as failure:
            await self._fail(failure)

    async def connect(self):
        self.socket_id = next(_socket_ids)
        scope = self.scope
        serializer = negotiate_serializer(scope["query_string"])
        if serializer is None:
            query = without_token(scope["query_string"].decode("latin-1"))
            return await self._refuse("unsupported vsn", query)
        origin = header(scope["headers"], b"origin")
        if not origin_allowed(origin, config.get("ALLOWED_ORIGINS")):
            return await self._refuse("origin not allowed", origin)
        try:
            self._access = Access.of(scope)
        except TokenRefused as refused:
            return await self._refuse("invalid socket token", str(refused))
        self._loop = asyncio.get_running_loop()
        self.session = Session(serializer, self._loop.time())
        tallies.opened += 1
        self._already_sent = catch_up.AlreadySent()
        await self.accept(choose_subprotocol(scope.get("subprotocols") or []))
        self._connection = daphne_connection.of(self.base_send)
        self._watch_idle(current_limits())
        drain.opened(self)
        if self._connection is None:
            push = "asgi"
        else:
            push = "direct" if self._connection.immediate else "transport"
        logger.debug(
            "event=connect socket=%s peer=%s vsn=%s origin=%r push=%s",
            self.socket_id,
            _peer(scope),
            serializer.vsn,
            origin,
            push,
        )

    async def receive(self, text_data=None, bytes_data=None):
        now = self._loop.time()
        if text_data is None:
            actions = self.session.receive_binary(now)
        else:
            actions = self.session.receive(text_data, now, current_limits())
        await self._carry_out(actions)

    async def websocket_ping(self, message):
        """A WebSocket ping, handed over by `daphne_protocol.WebSocketProtocol`."""
        await self._carry_out(self.session.ping(message["payload"], self._loop.time()))

    async def relay_event(self, message):
        """A published event (events.publishing.MESSAGE_TYPE) for a source this socket joined."""
        if not self._already_sent.fresh(message["source"], message.get("mark")):
            return
        frame = self.session.push(message["source"], message["event"], message["payload"])
        if frame is not None:
            await self._send(frame)
            tallies.pushes_written += 1
        elif self.session.closing:
            tallies.dropped["closing"] += 1

    async def relay_events(self, message):
        """A run of one batch's consecutive events of one source, pushed in their order."""
        source, session, events = message["source"], self.session, message["events"]
        if not self._already_sent.fresh(source, message.get("mark")):
            return
        written = 0
        for event, payload in events:
            frame = session.push(source, event, payload)
            if frame is None:
                break  # not joined, or closing since the previous one
            await self._send(frame)
            written += 1
        tallies.pushes_written += written
        if written < len(events) and session.closing:
            tallies.dropped["closing"] += len(events) - written

    async def relay_overflow(self, message):
        """The channel layer could not queue a message for this socket: it would miss events."""
        tallies.dropped["overflow"] += 1
        await self._carry_out(self.session.overflow())

    async def socket_idle(self, message):
        """The idle timer fired: close the socket if the client stayed quiet, else re-arm."""
        limits = current_limits()
        actions = self.session.check_idle(self._loop.time(), limits)
        if actions:
            await self._carry_out(actions)
        elif not self.session.closing:
            self._watch_idle(limits)

    async def socket_token_expiry(self, message):
        """A channel's token (or the socket's) has expired: end what it allowed."""
        await self._carry_out(self.session.check_expiry(self._loop.time()))
        self._watch_expiry()

    async def drain(self) -> None:
        """The server is going away (`sockets.drain`): close as the session says, in turn."""
        await self._handle({"type": "socket.drain"})

    async def socket_drain(self, message):
        await self._carry_out(self.session.drain())

    async def websocket_disconnect(self, message):
        """Stop; Channels' own version would also make a database hop this consumer never needs."""
        self.close_code = message.get("code")
        failure = self._connection and self._connection.failure()
        if failure:
            code, reason = failure
            self._closed_as = ("protocol_error", str(code))
            self._log_closing(logging.WARNING, code, reason)
        raise StopConsumer()

    async def _carry_out(self, actions) -> None:
        for action in actions:
            match action:
                case Send(frame):
                    await self._send(frame)
                case Subscribe(source, request):
                    await self.channel_layer.group_add(group_for(source), self.channel_name)
                    tallies.channels_joined += 1
                    logger.debug("event=join socket=%s source=%r", self.socket_id, source)
                    if request is not None:
                        await self._catch_up(source, request)
                case Unsubscribe(source):
                    tallies.channels_joined -= 1
                    self._already_sent.forget(source)
                    await self.channel_layer.group_discard(group_for(source), self.channel_name)
                    logger.debug("event=leave socket=%s source=%r", self.socket_id, source)
                case Pong(payload):
                    await self._carry_out(self.session.sent(self._connection.pong(payload)) or ())
                case Authorize():
                    await self._authorize(action)
                case Close(code, reason):
                    self._closed_as = (code.name.lower(), str(int(code)))
                    if self._failure is None:
                        self._log_closing(LOG_LEVELS.get(code, logging.WARNING), code, reason)
                    await self.close(int(code), reason)

    async def _authorize(self, request: Authorize) -> None:
        """Ask events for the verdict on joining a private source, and hand it to the session."""
        grant = self._access.grant
        verdict = await private_sources.authorize(self.scope, request.source, request.token, grant)
        if verdict.allowed:
            when = verdict.expires and Access.deadline(verdict.expires, self._loop)
            actions = self.session.admit(request, when, verdict.by_socket, current_limits())
            self._watch_expiry()
        elif verdict.socket_expired:
            actions = self.session.socket_token_expired()
        else:
            _unauthorized.occurred(detail=verdict.detail, peer=_peer(self.scope))
            actions = self.session.refuse(request, verdict.detail)
        await self._carry_out(actions)

    def _watch_expiry(self) -> None:
        """One timer, at the session's next token expiry (like the idle timer)."""
        self._access.watch(self.session.next_expiry(), self._loop, self._token_expiry)

    def _token_expiry(self) -> asyncio.Future:
        return asyncio.ensure_future(self._handle({"type": "socket.token_expiry"}))

    async def _catch_up(self, source: str, request: CatchUp) -> None:
        """Answer a join naming its last event (subscribed already): `sockets.catch_up`."""
        kept = await catch_up.read(self.channel_layer, source, request.after)
        self._already_sent.replied(source, kept)
        await self._carry_out(self.session.caught_up(request.join, catch_up.events(kept)))

    async def _send(self, frame: str) -> None:
        """Send one text frame (each push comes here); the session counts it if the client lags."""
        connection = self._connection
        if connection is None:
            await self.base_send({"type": "websocket.send", "text": frame})
            return
        actions = self.session.sent(connection.send_text(frame))
        if actions:
            await self._carry_out(actions)

    async def _fail(self, failure: Exception) -> None:
        """One ERROR line saying what broke and where, no traceback; the socket ends (4011)."""
        where = failure.__traceback__
        while where is not None and where.tb_next is not None:
            where = where.tb_next
        self._failure = f"{type(failure).__name__}: {failure}"
        logger.error(
            "event=closing socket=%s peer=%s code=%s reason=%r at=%s",
            getattr(self, "socket_id", None),
            _peer(self.scope),
            int(CloseCode.SERVER_ERROR),
            self._failure,
            f"{where.tb_frame.f_code.co_filename}:{where.tb_lineno}" if where else None,
        )
        if self.session is not None:
            await self._carry_out(self.session.fail())

    async def _clean_up(self) -> None:
        """Leave every group, stop the idle timer; log the close."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._idle_check is not None:
            self._idle_check.cancel()
        if self._access is not None:
            self._access.cancel()
        drain.closed(self)
        if self.session is None:
            return
        left = self.session.leave_all()
        self._count_close(len(left))
        try:
            for action in left:
                await self.channel_layer.group_discard(group_for(action.source), self.channel_name)
        finally:
            logger.debug(
                "event=close socket=%s code=%s channels=%s",
                self.socket_id,
                ABNORMAL_CLOSURE if self.close_code is None else self.close_code,
                len(left),
            )

    async def _refuse(self, reason: str, detail: str | None) -> None:
        """Refuse the handshake (daphne answers 403). A client may repeat it at will, so each
        reason is an episode: its first refusal logged, then a count (`events.episodes`)."""
        tallies.refused[reason.replace(" ", "_")] += 1
        _refusals(reason).occurred(
            detail=detail if detail is None else detail[:LOGGED_CHARS], peer=_peer(self.scope)
        )
        await self.close()

    def _count_close(self, channels_left: int) -> None:
        """The socket is gone: count its close by who started it, why, and with what code."""
        tallies.closed += 1
        tallies.channels_joined -= channels_left
        if self._closed_as is not None:
            tallies.closes[self._closed_as] += 1
        elif self.close_code in (None, ABNORMAL_CLOSURE):
            tallies.closes["connection_lost", str(ABNORMAL_CLOSURE)] += 1
        else:
            tallies.closes["client", client_close_code(self.close_code)] += 1

    def _log_closing(self, level: int, code: int, reason: str) -> None:
        logger.log(
            level,
            "event=closing socket=%s peer=%s code=%s reason=%r",
            self.socket_id,
            _peer(self.scope),
            int(code),
            reason,
        )

    def _watch_idle(self, limits: Limits) -> None:
        """One timer per socket, set at the session's deadline rather than reset per frame."""
        self._idle_timer = self._loop.call_at(self.session.idle_deadline(limits), self._idle)

    def _idle(self) -> None:
        self._idle_timer = None
        self._idle_check = asyncio.ensure_future(self._handle({"type": "socket.idle"}))


@functools.cache
def _refusals(reason: str) -> Episode:
    quiet = config.default("EPISODE_QUIET")
    return Episode(logger, "handshake_refused", quiet=quiet, labels={"reason": reason})


_unauthorized = Episode(logger, "join_unauthorized", quiet=config.default("EPISODE_QUIET"))


def _peer(scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None
