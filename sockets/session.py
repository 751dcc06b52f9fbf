"""One socket's Phoenix Channels state: which sources it joined, and what each message does.

Pure Python, no Django, in the manner of websockets' `protocol.py` and h11: `receive` turns a
client frame into actions (frames to send, groups to join or leave) that the consumer carries out
in order, and `push` turns a relayed event into a frame. As in Phoenix's `lib/phoenix/socket.ex`
there is one small handler per kind of client message: heartbeat, join, duplicate join, leave,
and anything else.
"""

from dataclasses import dataclass

from .serializers import Message, Serializer, close, reply

TOPIC_PREFIX = "source:"


@dataclass(frozen=True, slots=True)
class Send:
    """Send this text frame to the client."""

    frame: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Add the socket to the group of this source."""

    source: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Remove the socket from the group of this source."""

    source: str


Action = Send | Subscribe | Unsubscribe


def source_of(topic: str) -> str | None:
    """The event source a topic names (`source:<s>`, `s` non-empty), or None."""
    if topic.startswith(TOPIC_PREFIX) and len(topic) > len(TOPIC_PREFIX):
        return topic[len(TOPIC_PREFIX) :]
    return None


class Session:
    """The joined sources of one socket, each with the join_ref of its current membership."""

    __slots__ = ("serializer", "joined")

    def __init__(self, serializer: Serializer):
        self.serializer = serializer
        self.joined: dict[str, str | None] = {}

    def receive(self, text: str, max_channels: int) -> list[Action]:
        """Actions for one client text frame; raises `FrameError` if it is no Phoenix message."""
        message = self.serializer.decode(text)
        if message.topic == "phoenix" and message.event == "heartbeat":
            return [self._reply(message, "ok", {})]
        source = source_of(message.topic)
        if message.event == "phx_join":
            if source is None:
                return self._unmatched(message)
            if source in self.joined:
                return self._rejoin(message, source)
            return self._join(message, source, max_channels)
        if message.event == "phx_leave":
            return self._leave(message, source)
        if source in self.joined:
            return [self._reply(message, "error", {"reason": "unsupported event"})]
        return self._unmatched(message)

    def push(self, source: str, event: str, payload: str) -> str | None:
        """The push frame of a relayed event, or None when this socket has not joined `source`."""
        if source not in self.joined:
            return None
        return self.serializer.encode_push(TOPIC_PREFIX + source, event, payload)

    def leave_all(self) -> list[Unsubscribe]:
        """Forget every membership (the socket is gone); the groups to leave."""
        actions = [Unsubscribe(source) for source in self.joined]
        self.joined.clear()
        return actions

    def _join(self, message: Message, source: str, max_channels: int) -> list[Action]:
        if len(self.joined) >= max_channels:
            return [self._reply(message, "error", {"reason": "too many channels joined"})]
        self.joined[source] = _join_ref(message)
        return [Subscribe(source), self._reply(message, "ok", {"messages": []})]

    def _rejoin(self, message: Message, source: str) -> list[Action]:
        # The old membership ends with its own phx_close; the group membership itself carries
        # on, so no event is lost or delivered twice in between.
        ended = self._send(close(message.topic, self.joined[source]))
        self.joined[source] = _join_ref(message)
        return [ended, self._reply(message, "ok", {"messages": []})]

    def _leave(self, message: Message, source: str | None) -> list[Action]:
        current = self.joined.get(source, message.join_ref)
        if source not in self.joined or message.join_ref not in (None, current):
            # Nothing (or an older membership) to leave: Phoenix answers ok all the same.
            return [self._reply(message, "ok", {})]
        del self.joined[source]
        return [
            Unsubscribe(source),
            self._reply(message, "ok", {}),
            self._send(close(message.topic, current)),
        ]

    def _unmatched(self, message: Message) -> list[Action]:
        return [self._reply(message, "error", {"reason": "unmatched topic"})]

    def _reply(self, message: Message, status: str, response: dict) -> Send:
        return self._send(reply(message, status, response))

    def _send(self, message: Message) -> Send:
        return Send(self.serializer.encode(message))


def _join_ref(message: Message) -> str | None:
    # V1 clients before join_ref existed: the join's own ref identifies the membership.
    return message.join_ref if message.join_ref is not None else message.ref
