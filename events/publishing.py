"""Hand validated events to the channel layer: one group per source, JSON encoded once.

This is the one place that knows the shape of a relayed message; the socket side reads it with
`group_for` and the message types and field names below, and the Python API publishes through it.

A batch's consecutive events of one source travel as one message (one `group_send`, one Redis
PUBLISH): a subscriber's queue in the layer holds a bounded number of messages, and a batch of
10,000 events of one source must take one place in it, not 10,000.

When the channel layer's Redis is unreachable, publishing fails fast with `LayerUnavailable`
instead of hanging or crashing; the outage and the recovery are each logged once.
"""

import asyncio
import hashlib
import itertools
import json
import logging
from functools import lru_cache
from json.encoder import c_make_encoder, encode_basestring_ascii

import orjson
from channels.layers import get_channel_layer

from . import history, metrics
from .cloudevent import InvalidEvent
from .layers import EmbeddedChannelLayer
from .redis_layer import UNAVAILABLE

logger = logging.getLogger(__name__)

# Channels dispatches a message of type "relay.event" to a consumer's `relay_event` handler.
# One event: {"type": MESSAGE_TYPE, "source": s, "event": type, "payload": json}.
MESSAGE_TYPE = "relay.event"
# Consecutive events of one source from one batch, in order:
# {"type": RUN_MESSAGE_TYPE, "source": s, "events": [[type, json], ...]}.
RUN_MESSAGE_TYPE = "relay.events"
# Either carries "mark" too when its source keeps history (events.history): the same mark as
# the kept events it relays, so a socket catching up pushes each event once.


@lru_cache(maxsize=4096)
def group_for(source: str) -> str:
    """The channel-layer group of a source.

    Group names allow only ASCII letters, digits, '-', '_' and '.', and fewer than 100
    characters, while a source is any URI-reference: so the name is a digest of the source.
    """
    return "source_" + hashlib.sha256(source.encode()).hexdigest()


# The C encoder json.dumps(event, separators=(",", ":"), allow_nan=False) runs, built once: dumps
# builds a JSONEncoder and then this per call, most of its cost for a small event. It tracks no
# open containers (markers None), so it keeps no state between calls or threads; a circular
# event recurses until RecursionError, and `encode` then asks json.dumps, which names it.
_encode = c_make_encoder(
    None,  # markers
    json.JSONEncoder().default,
    encode_basestring_ascii,  # ensure_ascii
    None,  # indent
    ":",
    ",",
    False,  # sort_keys
    False,  # skipkeys
    False,  # allow_nan
)

# orjson encodes a validated event three times faster than the C encoder above, the greater part
# of publishing a batch. Its text is taken only where it is what the encoder above would say, but
# for the spelling of exponents ("1e-7", not "1e-07"): ASCII (that encoder escapes the rest), with
# no null (orjson writes NaN and infinities as null, which that encoder refuses). Whatever else it
# would write differently it refuses: types other than JSON's (the passthrough options send
# datetimes, dataclasses and subclasses of str, int, dict and list to `_not_json`), integers
# beyond 64 bits, lone surrogates, nesting past 254 levels. Those events go to the encoder above.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _not_json(value):
    raise TypeError


def encode(event: dict) -> str:
    """The event as compact JSON text: what subscribers receive as the push payload.

    NaN and infinities are refused (ValueError): they are not JSON, and browsers' `JSON.parse`
    rejects them. Validation turns them away first; this is the last guard. Data nested deeper
    than the encoder's recursion allows (the decoder took it from a shallower stack) is refused as
    `InvalidEvent`, keyed by attribute.
    """
    try:
        text = orjson.dumps(event, default=_not_json, option=_ORJSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        pass
    else:
        if text.isascii() and b"null" not in text:
            return text.decode()
    try:
        return "".join(_encode(event, 0))
    except RecursionError:
        pass
    try:  # too deep, or circular: json.dumps tells which ("Circular reference detected")
        return json.dumps(event, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        detail = "'data' is nested too deeply to relay: send fewer levels of arrays and objects"
        raise InvalidEvent({"data": detail}) from None


def encode_all(events: list[dict]) -> list[str]:
    """Every event encoded, or `InvalidEvent` keyed by the index of each that cannot be."""
    payloads, errors = [], {}
    for index, event in enumerate(events):
        try:
            payloads.append(encode(event))
        except InvalidEvent as invalid:
            errors[str(index)] = invalid.errors
    if errors:
        raise InvalidEvent(errors)
    return payloads


def message_for(event: dict, payload: str) -> dict:
    """The channel-layer message relaying one event (payload already encoded)."""
    return {
        "type": MESSAGE_TYPE,
        "source": event["source"],
        "event": event["type"],
        "payload": payload,
    }


def run_message_for(source: str, run: list[tuple[dict, str]]) -> dict:
    """The channel-layer message relaying consecutive `(event, payload)` pairs of one source."""
    return {
        "type": RUN_MESSAGE_TYPE,
        "source": source,
        "events": [[event["type"], payload] for event, payload in run],
    }


# Seconds one group_send may take before the layer counts as unavailable: POST /events answers
# within about this long even when Redis hangs rather than refuses.
PUBLISH_TIMEOUT = 1.0

# Group that nobody joins: readiness publishes to it to learn whether publishing works.
PROBE_GROUP = "relayman.readiness"

_failures = 0  # publish calls failed since the last success, so an outage is logged once
_unheard_warned = False  # the embedded layer reached nobody: said once per process


class LayerUnavailable(Exception):
    """The channel layer (Redis) could not take an event; the producer may retry later.

    A plain exception, for any caller: POST /events turns it into a 503 with Retry-After.
    """

    retry_after = 1  # seconds

    def __init__(self, published: int, total: int):
        self.published, self.total = published, total
        if total == 1:
            outcome = "the event was not published"
        else:
            outcome = f"{published} of the {total} events were published, the rest were not"
        super().__init__(f"Redis is unreachable: {outcome}. Retry later.")


@metrics.timed_publish
async def publish(events: list[dict], channel_layer=None) -> list[str]:
    """Publish validated events in order, each once; return their encoded JSON texts.

    Raises `InvalidEvent` keyed by index, before anything is published, for an event that
    cannot be encoded (`encode_all`), and `LayerUnavailable` when the layer fails or takes longer
    than PUBLISH_TIMEOUT.
    """
    layer = channel_layer or get_channel_layer()
    payloads = encode_all(events)
    _warn_if_unheard(layer)
    published = 0
    pairs = zip(events, payloads, strict=True)
    for source, run in itertools.groupby(pairs, key=lambda pair: pair[0]["source"]):
        run = list(run)
        message = message_for(*run[0]) if len(run) == 1 else run_message_for(source, run)
        kept = None
        if history.keeps(source):
            message["mark"] = history.new_mark()
            kept = history.kept_from(message["mark"], run)
        if not await _send(layer, group_for(source), message, kept):
            raise LayerUnavailable(published, len(events))
        published += len(run)
    return payloads


def _warn_if_unheard(layer) -> None:
    """Once per process: the embedded layer reaches only this process's sockets, so publishing
    from a shell, a worker or a management command (no socket ever connected) reaches nobody."""
    global _unheard_warned
    if _unheard_warned or not isinstance(layer, EmbeddedChannelLayer) or layer.opened_channels:
        return
    _unheard_warned = True
    logger.warning(
        "event=publish_unheard layer=embedded: no socket has connected to this process, and "
        "the embedded channel layer (REDIS_URL unset) reaches only this process's sockets, so "
        "nobody received this event. To publish from a shell, a worker or a management "
        "command, set REDIS_URL (the Redis layer) in it and in the servers alike"
    )


async def can_publish(channel_layer=None) -> bool:
    """Whether the layer takes a message now (readiness): a publish to a group nobody joins."""
    return await _send(channel_layer or get_channel_layer(), PROBE_GROUP, {"type": "relay.probe"})


async def _send(layer, group: str, message: dict, kept: list | None = None) -> bool:
    """`group_send` (keeping `kept` in history too, if given), or False when the layer is
    unavailable."""
    global _failures
    try:
        if _bounds_its_wait(layer):
            await _deliver(layer, group, message, kept)
        else:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await _deliver(layer, group, message, kept)
    except (*UNAVAILABLE, TimeoutError) as exc:
        if not _failures:
            logger.warning(
                "event=publish_unavailable error=%r: POST /events answers 503 until the "
                "channel layer is back",
                str(exc) or f"no answer within {PUBLISH_TIMEOUT}s",
            )
        _failures += 1
        return False
    if _failures:
        logger.warning("event=publish_restored failed_attempts=%d", _failures)
        _failures = 0
    return True


async def _deliver(layer, group: str, message: dict, kept: list | None) -> None:
    if kept is None:
        await layer.group_send(group, message)
    else:
        await history.send(layer, group, message, kept)


def _bounds_its_wait(layer) -> bool:
    """Whether the layer waits for nothing longer than PUBLISH_TIMEOUT by itself: the embedded
    layer waits only for a full member's room, at most its overflow grace, and never for a
    network. Publishing to it needs no timer of its own (one per publish cost 3 % of a POST)."""
    return isinstance(layer, EmbeddedChannelLayer) and layer.overflow_grace <= PUBLISH_TIMEOUT
