"""Relayman's tunable settings, read in one place.

Each value comes from Django settings (`RELAYMAN_<NAME>`, which the standalone project fills
from the environment) and falls back to the default here, so the apps also work in a host
project that sets none of them.
"""

from django.conf import settings

DEFAULTS = {
    # Largest accepted POST /events body in bytes (one event or a whole batch).
    "MAX_EVENT_BYTES": 1024 * 1024,
    # WebSocket Origins allowed at the handshake; empty means any origin.
    "ALLOWED_ORIGINS": [],
    # Seconds without any frame from a client before its socket is closed.
    "IDLE_TIMEOUT": 60,
    # Channels (topics) one socket may join at once.
    "MAX_CHANNELS": 100,
    # Largest accepted WebSocket frame from a client, in bytes.
    "MAX_FRAME_BYTES": 64 * 1024,
}


def get(name: str):
    return getattr(settings, f"RELAYMAN_{name}", DEFAULTS[name])
