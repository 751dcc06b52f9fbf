"""The Phoenix Channels wire format, V1 (JSON objects) and V2 (JSON arrays).

Pure Python, no Django: the consumer is a thin shell around this and `session`. As in Phoenix's
`lib/phoenix/socket/serializers/`, each serializer is a tiny interchangeable object that decodes
client text into a `Message` and encodes replies, messages and broadcast pushes. A broadcast
push is built around the event's JSON text, encoded once by the publisher, by concatenation: the
payload is never decoded or re-encoded per subscriber.
"""

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

REPLY = "phx_reply"


class FrameError(ValueError):
    """A client frame that is not a Phoenix message; the text says what is wrong."""


@dataclass(frozen=True, slots=True)
class Message:
    """One client message, whichever serializer decoded it."""

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Any


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise FrameError("frame is not valid JSON") from error


def _message(join_ref, ref, topic, event, payload) -> Message:
    for name, value in (("join_ref", join_ref), ("ref", ref)):
        if value is not None and not isinstance(value, str):
            raise FrameError(f"{name} must be a string or null")
    for name, value in (("topic", topic), ("event", event)):
        if not isinstance(value, str):
            raise FrameError(f"{name} must be a string")
    return Message(join_ref, ref, topic, event, payload)


def _dumps(value: Any) -> str:
    # ASCII output: a lone surrogate a client sent in a \u escape stays escaped, never raw.
    return json.dumps(value, separators=(",", ":"))


def _reply_payload(status: str, response: dict) -> dict:
    return {"status": status, "response": response}


class V2Serializer:
    """vsn 2.x: `[join_ref, ref, topic, event, payload]`."""

    vsn = "2.0.0"

    @staticmethod
    def decode(text: str) -> Message:
        data = _parse(text)
        if not isinstance(data, list) or len(data) != 5:
            raise FrameError("a V2 frame is a JSON array [join_ref, ref, topic, event, payload]")
        return _message(*data)

    @staticmethod
    def encode(message: Message) -> str:
        return _dumps(
            [message.join_ref, message.ref, message.topic, message.event, message.payload]
        )

    @staticmethod
    @lru_cache(maxsize=4096)
    def push_head(topic: str, event: str) -> str:
        return f"[null,null,{_dumps(topic)},{_dumps(event)},"

    @classmethod
    def encode_push(cls, topic: str, event: str, payload: str) -> str:
        """A broadcast push around `payload`, JSON text encoded once by the publisher."""
        return cls.push_head(topic, event) + payload + "]"


class V1Serializer:
    """vsn 1.x: `{"join_ref", "ref", "topic", "event", "payload"}`."""

    vsn = "1.0.0"
    REQUIRED = ("topic", "event", "payload", "ref")

    @classmethod
    def decode(cls, text: str) -> Message:
        data = _parse(text)
        if not isinstance(data, dict):
            raise FrameError('a V1 frame is a JSON object {"topic", "event", "payload", "ref"}')
        missing = [key for key in cls.REQUIRED if key not in data]
        if missing:
            raise FrameError(f"V1 frame lacks {', '.join(missing)}")
        return _message(
            data.get("join_ref"), data["ref"], data["topic"], data["event"], data["payload"]
        )

    @staticmethod
    def encode(message: Message) -> str:
        return _dumps(
            {
                "join_ref": message.join_ref,
                "ref": message.ref,
                "topic": message.topic,
                "event": message.event,
                "payload": message.payload,
            }
        )

    @staticmethod
    @lru_cache(maxsize=4096)
    def push_head(topic: str, event: str) -> str:
        topic, event = _dumps(topic), _dumps(event)
        return f'{{"join_ref":null,"ref":null,"topic":{topic},"event":{event},"payload":'

    @classmethod
    def encode_push(cls, topic: str, event: str, payload: str) -> str:
        """A broadcast push around `payload`, JSON text encoded once by the publisher."""
        return cls.push_head(topic, event) + payload + "}"


Serializer = type[V1Serializer] | type[V2Serializer]


def reply(request: Message, status: str, response: dict) -> Message:
    """The `phx_reply` to a client message: same join_ref, ref and topic."""
    return Message(
        request.join_ref, request.ref, request.topic, REPLY, _reply_payload(status, response)
    )


def close(topic: str, join_ref: str | None) -> Message:
    """`phx_close`: the server ended the membership that `join_ref` started."""
    return Message(join_ref, join_ref, topic, "phx_close", {})


def channel_error(topic: str, join_ref: str | None, reason: str) -> Message:
    """`phx_error` for one joined channel, as Phoenix sends when a channel ends abnormally: its
    join_ref makes phoenix.js accept it for the current membership, mark it errored, and rejoin."""
    return Message(join_ref, join_ref, topic, "phx_error", {"reason": reason})


def serializer_for(vsn: str | None) -> Serializer | None:
    """The serializer for a requested `vsn` (missing means 1.0.0); None for another major."""
    major = (vsn or "1.0.0").split(".", 1)[0]
    return {"1": V1Serializer, "2": V2Serializer}.get(major)


def error(reason: str) -> Message:
    """A server notice on the socket's own topic saying why it is about to close the socket.

    Close reasons do not always reach the client (daphne drops them), so the reason also goes in
    a frame first; phoenix.js hands it to `socket.onMessage` callbacks and to no channel.
    """
    return Message(None, None, "phoenix", "phx_error", {"reason": reason})
