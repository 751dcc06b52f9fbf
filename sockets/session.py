"""One socket's Phoenix Channels state and every per-connection rule, as actions to carry out.

Pure Python, no Django and no asyncio, in the manner of websockets' `protocol.py` and h11: the
consumer hands in what happened (a client frame, a ping, a relayed event, the time, a write the
client is slow to read) with the limits in force, and gets back actions (frames to send, groups
to join or leave, a pong, a close) to carry out in order. As in Phoenix's `lib/phoenix/socket.ex`
there is one small handler per kind of client message: heartbeat, join, duplicate join, leave,
and anything else. The rules live here and nowhere else: the limits on frames, channels, refs,
topics and join payloads; the idle deadline; what counts toward a client's unread backlog and
when it is too much; and which close code ends the socket for each reason. Each join's result
is counted in `tallies`, for the metrics.
"""

from dataclasses import dataclass
from enum import IntEnum
from json import dumps

from events.cloudevent import MAX_SOURCE_LENGTH
from events.producer_keys import covers

from .serializers import FrameError, Message, Serializer, channel_error, close, error, reply
from .tallies import tallies

TOPIC_PREFIX = "source:"

# What a draining server tells each joined channel, and the socket, before it closes the socket.
RESTARTING = "server restarting"

# Lengths a client's refs and topics may have, and the size of a join's payload (its channel
# params, which Relayman ignores). Each is echoed or kept by the server, so each is bounded.
MAX_REF_LENGTH = 128  # characters; phoenix.js sends a counter
MAX_TOPIC_LENGTH = len(TOPIC_PREFIX) + MAX_SOURCE_LENGTH  # characters: any source POSTed fits
MAX_JOIN_PAYLOAD_BYTES = 8192  # of the payload as compact JSON

# Bytes that may wait for a client beyond the kernel's buffers (it reads slower than frames come)
# before its socket is closed: pushes, replies, errors and pongs all count. At least a few of the
# largest events, so that a burst of them does not cut a client that reads.
MAX_UNREAD_BYTES = 4 * 1024 * 1024


class CloseCode(IntEnum):
    """Why the server closed a socket.

    Standard codes an application may not send through daphne are sent as their 4xxx twins:
    unsupported data 1003 → 4003, invalid payload 1007 → 4007, message too big 1009 → 4009,
    internal error 1011 → 4011. None is 1000: phoenix.js does not reconnect after a normal
    closure, and a client that went quiet (a sleeping laptop, a throttled tab) should come back.
    Service restart 1012 is sent as itself (`daphne_protocol` writes it): the socket's server is
    going away and the client should reconnect, to another node behind the load balancer.
    """

    IDLE_TIMEOUT = 4000
    TOKEN_EXPIRED = 4001
    UNSUPPORTED_DATA = 4003
    INVALID_PAYLOAD = 4007
    TOO_SLOW = 4008
    MESSAGE_TOO_BIG = 4009
    SERVER_ERROR = 4011
    SERVICE_RESTART = 1012


@dataclass(frozen=True, slots=True)
class Limits:
    """The tunable limits in force when a frame arrives (an admin may change them any time)."""

    max_frame_bytes: int
    max_channels: int
    idle_timeout: float
    private_sources: tuple[str, ...] = ()  # prefixes; joining one takes an `Authorize` first


@dataclass(frozen=True, slots=True)
class Send:
    """Send this text frame to the client."""

    frame: str


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer a WebSocket ping with this payload."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Read the source's history after the event with id `after`, then answer `join` with
    `Session.caught_up`."""

    after: str
    join: Message


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Add the socket to the group of this source (then catch up, if asked)."""

    source: str
    catch_up: CatchUp | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Remove the socket from the group of this source."""

    source: str


@dataclass(frozen=True, slots=True)
class Close:
    """Close the socket with this code; `reason` is what the log and the client are told."""

    code: CloseCode
    reason: str


@dataclass(frozen=True, slots=True)
class Authorize:
    """Decide whether this join of a private source may go ahead, then call `admit` or
    `refuse`. `token` is the join payload's own, if it has one."""

    message: Message
    source: str
    token: str | None


Action = Send | Pong | Subscribe | Unsubscribe | Close | Authorize


def source_of(topic: str) -> str | None:
    """The event source a topic names (`source:<s>`, `s` non-empty), or None."""
    if topic.startswith(TOPIC_PREFIX) and len(topic) > len(TOPIC_PREFIX):
        return topic[len(TOPIC_PREFIX) :]
    return None


def topic_problem(topic: str) -> str | None:
    """Why a topic cannot be joined whatever it names, or None."""
    if len(topic) > MAX_TOPIC_LENGTH:
        return f"topic longer than {MAX_TOPIC_LENGTH} characters"
    if not topic.isascii():
        try:
            topic.encode("utf-8")
        except UnicodeEncodeError:
            return "topic is not valid Unicode text (it has a lone surrogate)"
    return None


class Session:
    """The joined sources of one socket, each with the join_ref of its current membership."""

    __slots__ = ("serializer", "joined", "last_seen", "closing", "expiries")

    def __init__(self, serializer: Serializer, now: float):
        self.serializer = serializer
        self.joined: dict[str, str | None] = {}
        self.last_seen = now  # when the client last sent anything (a frame or a ping)
        self.closing = False
        # Private sources joined on a token: when it expires, and whether it is the socket's.
        self.expiries: dict[str, tuple[float, bool]] = {}

    # What the client sends.

    def receive(self, text: str, now: float, limits: Limits) -> list[Action]:
        """Actions for one client text frame."""
        self.last_seen = now
        if self.closing:
            return []
        limit = limits.max_frame_bytes
        if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
            return self._close(CloseCode.MESSAGE_TOO_BIG, f"frame larger than {limit} bytes")
        try:
            message = self.serializer.decode(text)
        except FrameError as bad:
            return self._close(CloseCode.INVALID_PAYLOAD, str(bad))
        for value in (message.join_ref, message.ref):
            if value is not None and len(value) > MAX_REF_LENGTH:
                reason = f"ref longer than {MAX_REF_LENGTH} characters"
                return self._close(CloseCode.INVALID_PAYLOAD, reason)
        if message.topic == "phoenix" and message.event == "heartbeat":
            return [self._reply(message, "ok", {})]
        if message.event == "phx_join":
            return self._join(message, limits)
        source = source_of(message.topic)
        if message.event == "phx_leave":
            return self._leave(message, source)
        if source in self.joined:
            return [self._reply(message, "error", {"reason": "unsupported event"})]
        return self._unmatched(message)

    def receive_binary(self, now: float) -> list[Action]:
        """Actions for a binary frame, which the Phoenix JSON serializers never send."""
        self.last_seen = now
        return self._close(CloseCode.UNSUPPORTED_DATA, "binary frames are not supported")

    def ping(self, payload: bytes, now: float) -> list[Action]:
        """A WebSocket ping is activity too; its pong counts toward the backlog like any write."""
        self.last_seen = now
        return [] if self.closing else [Pong(payload)]

    # What the server does.

    def push(self, source: str, event: str, payload: str) -> str | None:
        """The push frame of a relayed event, or None when this socket has not joined `source`."""
        if source not in self.joined or self.closing:
            return None
        return self.serializer.encode_push(TOPIC_PREFIX + source, event, payload)

    def sent(self, waiting: int) -> list[Action] | None:
        """A frame was written, and `waiting` bytes now wait for the client (0: it keeps up)."""
        if waiting <= MAX_UNREAD_BYTES or self.closing:
            return None
        reason = f"the client is not reading: more than {MAX_UNREAD_BYTES} bytes wait for it"
        return self._close(CloseCode.TOO_SLOW, reason)

    def overflow(self) -> list[Action]:
        """The channel layer could not queue an event for this socket: it would miss it."""
        return self._close(CloseCode.TOO_SLOW, "events arrived faster than the socket took them")

    def fail(self) -> list[Action]:
        """Something broke while serving this socket: end it, saying so."""
        return self._close(CloseCode.SERVER_ERROR, "server error")

    def drain(self) -> list[Action]:
        """The server is going away: every joined channel gets a `phx_error` (phoenix.js marks it
        errored and rejoins it once the socket reconnects), then the socket closes with 1012."""
        if self.closing:
            return []
        errors = [
            self._send(channel_error(TOPIC_PREFIX + source, join_ref, RESTARTING))
            for source, join_ref in self.joined.items()
        ]
        return errors + self._close(CloseCode.SERVICE_RESTART, RESTARTING)

    def idle_deadline(self, limits: Limits) -> float:
        """When the socket counts as idle unless the client sends something first."""
        return self.last_seen + limits.idle_timeout

    def check_idle(self, now: float, limits: Limits) -> list[Action]:
        """The close of a socket past its idle deadline; nothing before it."""
        if self.closing or now < self.idle_deadline(limits):
            return []
        reason = f"no frame received for {limits.idle_timeout}s (idle timeout)"
        return self._close(CloseCode.IDLE_TIMEOUT, reason)

    def caught_up(self, join: Message, events: list | None) -> list[Action]:
        """The reply to a join that named its last event: the events after it, oldest first,
        or None when they could not all be found (the client resyncs from its backend)."""
        if self.closing:
            return []
        response = {"messages": events or [], "recovered": events is not None}
        return [self._reply(join, "ok", response)]

    def leave_all(self) -> list[Unsubscribe]:
        """Forget every membership (the socket is gone); the groups to leave."""
        actions = [Unsubscribe(source) for source in self.joined]
        self.joined.clear()
        self.expiries.clear()
        return actions

    # Private sources: the consumer's verdict on an `Authorize`, and the tokens' expiries.

    def admit(self, request: Authorize, expires: float | None, by_socket: bool, limits: Limits):
        """Join as asked: the token that allowed it expires at `expires` (None: no token)."""
        if self.closing:
            return []
        actions = self._enter(request.message, request.source, limits.max_channels)
        if request.source in self.joined:
            if expires is None:
                self.expiries.pop(request.source, None)
            else:
                self.expiries[request.source] = (expires, by_socket)
        return actions

    def refuse(self, request: Authorize, detail: str) -> list[Action]:
        """No token covers the source and the authorizer (if any) said no."""
        if self.closing:
            return []
        actions: list[Action] = []
        source = request.source
        if source in self.joined:  # a refused rejoin ends the old membership all the same
            self.expiries.pop(source, None)
            ended = close(request.message.topic, self.joined.pop(source))
            actions += [Unsubscribe(source), self._send(ended)]
        tallies.joins["unauthorized"] += 1
        response = {"reason": "unauthorized", "detail": detail}
        return [*actions, self._reply(request.message, "error", response)]

    def socket_token_expired(self) -> list[Action]:
        """The socket's own token has expired while a channel needs it: phoenix.js reconnects,
        fetching fresh params, on any close code but 1000."""
        return self._close(CloseCode.TOKEN_EXPIRED, "token expired")

    def next_expiry(self) -> float | None:
        return min((when for when, _ in self.expiries.values()), default=None)

    def check_expiry(self, now: float) -> list[Action]:
        """End what expired tokens allowed: the socket if it was its own token, else each such
        channel with a `phx_error` carrying its join_ref, on which phoenix.js rejoins."""
        if self.closing:
            return []
        expired = [source for source, (when, _) in self.expiries.items() if when <= now]
        if any(self.expiries[source][1] for source in expired):
            return self.socket_token_expired()
        actions = []
        for source in expired:
            del self.expiries[source]
            join_ref = self.joined.pop(source)
            notice = channel_error(TOPIC_PREFIX + source, join_ref, "token expired")
            actions += [Unsubscribe(source), self._send(notice)]
        return actions

    # One handler per kind of client message.

    def _join(self, message: Message, limits: Limits) -> list[Action]:
        problem = topic_problem(message.topic) or _join_payload_problem(message.payload)
        if problem is not None:
            tallies.joins["invalid"] += 1
            return [self._reply(message, "error", {"reason": problem})]
        source = source_of(message.topic)
        if source is None:
            tallies.joins["unmatched_topic"] += 1
            return self._unmatched(message)
        if limits.private_sources and covers(limits.private_sources, source):
            return [Authorize(message, source, _token_of(message.payload))]
        return self._enter(message, source, limits.max_channels)

    def _enter(self, message: Message, source: str, max_channels: int) -> list[Action]:
        after = _last_event_id(message.payload)
        if isinstance(after, Problem):
            tallies.joins["invalid"] += 1
            return [self._reply(message, "error", {"reason": after.reason})]
        if source in self.joined:
            tallies.joins["ok"] += 1
            return self._rejoin(message, source, after)
        if len(self.joined) >= max_channels:
            tallies.joins["too_many_channels"] += 1
            return [self._reply(message, "error", {"reason": "too many channels joined"})]
        tallies.joins["ok"] += 1
        self.joined[source] = _join_ref(message)
        if after is not None:
            return [Subscribe(source, CatchUp(after, message))]
        return [Subscribe(source), self._reply(message, "ok", {"messages": []})]

    def _rejoin(self, message: Message, source: str, after: str | None) -> list[Action]:
        # The old membership ends with its own phx_close; the group membership itself carries
        # on, so no event is lost or delivered twice in between: a client catching up has
        # missed nothing.
        ended = self._send(close(message.topic, self.joined[source]))
        self.joined[source] = _join_ref(message)
        response = {"messages": []} if after is None else {"messages": [], "recovered": True}
        return [ended, self._reply(message, "ok", response)]

    def _leave(self, message: Message, source: str | None) -> list[Action]:
        current = self.joined.get(source, message.join_ref)
        if source not in self.joined or message.join_ref not in (None, current):
            # Nothing (or an older membership) to leave: Phoenix answers ok all the same.
            return [self._reply(message, "ok", {})]
        del self.joined[source]
        self.expiries.pop(source, None)
        return [
            Unsubscribe(source),
            self._reply(message, "ok", {}),
            self._send(close(message.topic, current)),
        ]

    def _unmatched(self, message: Message) -> list[Action]:
        return [self._reply(message, "error", {"reason": "unmatched topic"})]

    def _close(self, code: CloseCode, reason: str) -> list[Action]:
        """Say why in a frame first (close reasons do not always reach the client), then close."""
        if self.closing:
            return []
        self.closing = True
        return [self._send(error(reason)), Close(code, reason)]

    def _reply(self, message: Message, status: str, response: dict) -> Send:
        return self._send(reply(message, status, response))

    def _send(self, message: Message) -> Send:
        return Send(self.serializer.encode(message))


def _join_ref(message: Message) -> str | None:
    # V1 clients before join_ref existed: the join's own ref identifies the membership.
    return message.join_ref if message.join_ref is not None else message.ref


def _token_of(payload) -> str | None:
    token = payload.get("token") if isinstance(payload, dict) else None
    return token if isinstance(token, str) else None


@dataclass(frozen=True, slots=True)
class Problem:
    reason: str


def _last_event_id(payload) -> str | Problem | None:
    """The id of the last event a joining client saw (`last_event_id`), if it names one."""
    if not isinstance(payload, dict) or payload.get("last_event_id") is None:
        return None
    after = payload["last_event_id"]
    if not isinstance(after, str) or not after:
        return Problem("last_event_id must be the id (a non-empty string) of the last event seen")
    return after


def _join_payload_problem(payload) -> str | None:
    if payload is None or payload == {}:
        return None
    try:
        size = len(dumps(payload, separators=(",", ":")))
    except (ValueError, RecursionError):  # json.loads accepts what dumps may refuse
        size = MAX_JOIN_PAYLOAD_BYTES + 1
    if size > MAX_JOIN_PAYLOAD_BYTES:
        return f"join payload larger than {MAX_JOIN_PAYLOAD_BYTES} bytes"
    return None
