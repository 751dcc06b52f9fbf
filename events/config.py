"""Relayman's tunable settings, read in one place.

A value saved in the admin ("Relay settings") wins; otherwise Django settings (`RELAYMAN_<NAME>`,
which the standalone project fills from the environment); otherwise the default here, so the apps
also work in a host project that sets none of them.

`get` runs per POST and per socket frame, so it reads memory only: `events.snapshot` mirrors the
admin's values, and the merged values are kept until the mirror or a RELAYMAN_ setting changes
(tests change settings with override_settings).
"""

from django.conf import settings
from django.core.signals import setting_changed

from . import snapshot

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
    # Whether POST /events needs `Authorization: Bearer <producer key>`.
    "REQUIRE_PRODUCER_KEYS": False,
    # Seconds a repeating condition (requests for a bad Host, say) must stay away before its
    # episode is logged as over, with its count (`events.episodes`).
    "EPISODE_QUIET": 10,
}

# (the snapshot the values were merged from, the merged values): replaced, never mutated.
_merged: tuple[snapshot.Snapshot | None, dict] = (None, {})


def get(name: str):
    current = snapshot.current()
    merged_from, values = _merged
    if merged_from is not current:
        values = _merge(current)
    return values[name]


def default(name: str):
    """The value from Django settings or the default here, ignoring the admin's."""
    return getattr(settings, f"RELAYMAN_{name}", DEFAULTS[name])


def _merge(current: snapshot.Snapshot) -> dict:
    global _merged
    values = {name: current.settings.get(name, default(name)) for name in DEFAULTS}
    _merged = (current, values)
    return values


def _forget_merged(*, setting, **kwargs):
    global _merged
    if setting.startswith("RELAYMAN_"):
        _merged = (None, {})


setting_changed.connect(_forget_merged)
