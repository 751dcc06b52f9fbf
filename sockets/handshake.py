"""What the WebSocket handshake decides, as plain functions of the request (no Django).

The serializer comes from the `vsn` query parameter, the Origin is checked against the allowed
list, and the `phoenix` subprotocol is chosen when the client offers it.
"""

from urllib.parse import parse_qs

from .serializers import Serializer, serializer_for

# phoenix.js 1.8 with an authToken offers ["phoenix", "base64url.bearer.phx.<token>"]; browsers
# drop a connection whose offered subprotocols the server does not answer.
SUBPROTOCOL = "phoenix"


def requested_vsn(query_string: bytes) -> str | None:
    values = parse_qs(query_string.decode("latin-1")).get("vsn")
    return values[-1] if values else None


def negotiate_serializer(query_string: bytes) -> Serializer | None:
    """The serializer for `?vsn=`: 2.x → V2, 1.x or none → V1, anything else → None."""
    return serializer_for(requested_vsn(query_string))


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    """An empty list allows any origin; a request without Origin is no browser's, as in Phoenix."""
    if not allowed or origin is None:
        return True
    normalized = origin.rstrip("/").lower()
    return any(normalized == entry.rstrip("/").lower() for entry in allowed)


def choose_subprotocol(offered: list[str]) -> str | None:
    return SUBPROTOCOL if SUBPROTOCOL in offered else None
