"""Hand validated events to the channel layer: one group per source, JSON encoded once.

This is the one place that knows the shape of a relayed message; the socket side reads it with
`group_for` and the `MESSAGE_TYPE`/field names below, and the Python API publishes through it.

When the channel layer's Redis is unreachable, publishing fails fast with `LayerUnavailable` (a
503 for POST /events) instead of hanging or crashing; the outage and the recovery are each logged
once.
"""

import asyncio
import hashlib
import json
import logging
from functools import lru_cache

from channels.layers import get_channel_layer
from rest_framework import exceptions, status

from .redis_layer import UNAVAILABLE

logger = logging.getLogger(__name__)

# Channels dispatches a message of type "relay.event" to a consumer's `relay_event` handler.
MESSAGE_TYPE = "relay.event"


@lru_cache(maxsize=4096)
def group_for(source: str) -> str:
    """The channel-layer group of a source.

    Group names allow only ASCII letters, digits, '-', '_' and '.', and fewer than 100
    characters, while a source is any URI-reference: so the name is a digest of the source.
    """
    return "source_" + hashlib.sha256(source.encode()).hexdigest()


def encode(event: dict) -> str:
    """The event as compact JSON text: what subscribers receive as the push payload."""
    return json.dumps(event, separators=(",", ":"))


def message_for(event: dict, payload: str) -> dict:
    """The channel-layer message relaying one event (payload already encoded)."""
    return {
        "type": MESSAGE_TYPE,
        "source": event["source"],
        "event": event["type"],
        "payload": payload,
    }


# Seconds one group_send may take before the layer counts as unavailable: POST /events answers
# within about this long even when Redis hangs rather than refuses.
PUBLISH_TIMEOUT = 1.0

# Group that nobody joins: readiness publishes to it to learn whether publishing works.
PROBE_GROUP = "relayman.readiness"

_failures = 0  # publish calls failed since the last success, so an outage is logged once


class LayerUnavailable(exceptions.APIException):
    """The channel layer (Redis) could not take an event; the producer may retry later."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "channel_layer_unavailable"
    wait = 1  # DRF's exception handler sends this as Retry-After

    def __init__(self, published: int, total: int):
        if total == 1:
            outcome = "the event was not published"
        else:
            outcome = f"{published} of the {total} events were published, the rest were not"
        super().__init__(f"Redis is unreachable: {outcome}. Retry later.")


async def publish(events: list[dict], channel_layer=None) -> list[str]:
    """Publish validated events in order, each once; return their encoded JSON texts.

    Raises `LayerUnavailable` when the layer fails or takes longer than PUBLISH_TIMEOUT.
    """
    layer = channel_layer or get_channel_layer()
    payloads = []
    for event in events:
        payload = encode(event)
        if not await _send(layer, group_for(event["source"]), message_for(event, payload)):
            raise LayerUnavailable(len(payloads), len(events))
        payloads.append(payload)
    return payloads


async def can_publish(channel_layer=None) -> bool:
    """Whether the layer takes a message now (readiness): a publish to a group nobody joins."""
    return await _send(channel_layer or get_channel_layer(), PROBE_GROUP, {"type": "relay.probe"})


async def _send(layer, group: str, message: dict) -> bool:
    """`group_send`, or False when the layer is unavailable."""
    global _failures
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            await layer.group_send(group, message)
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
