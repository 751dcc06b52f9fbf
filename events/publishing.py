"""Hand validated events to the channel layer: one group per source, JSON encoded once.

This is the one place that knows the shape of a relayed message; the socket side reads it with
`group_for` and the `MESSAGE_TYPE`/field names below, and the Python API publishes through it.
"""

import hashlib
import json
from functools import lru_cache

from channels.layers import get_channel_layer

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


async def publish(events: list[dict], channel_layer=None) -> list[str]:
    """Publish validated events in order, each once; return their encoded JSON texts."""
    layer = channel_layer or get_channel_layer()
    payloads = []
    for event in events:
        payload = encode(event)
        await layer.group_send(group_for(event["source"]), message_for(event, payload))
        payloads.append(payload)
    return payloads
