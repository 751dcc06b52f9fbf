"""Relayman's tunable settings, read in one place.

A value saved in the admin ("Relay settings") wins; otherwise Django settings (`RELAYMAN_<NAME>`,
which the standalone project fills from the environment); otherwise the default here, so the apps
also work in a host project that sets none of them.

`get` runs per POST and per socket frame, so it reads memory only: `events.snapshot` mirrors the
admin's values, and the merged values are kept until the mirror or a RELAYMAN_ setting changes
(tests change settings with override_settings).

Values that make no sense (a zero idle timeout closes every socket at once) are refused: by the
standalone project's settings as they are read from the environment, by the admin's form, and,
for the RELAYMAN_ settings of a host project, by a system check (`manage.py check`, `migrate`).
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from . import snapshot, subscriber_tokens
from .producer_keys import ANY_SOURCE

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
    # The server's deadlines, in seconds: a request's headers (also an idle keep-alive
    # connection's wait for its next request), then its body (relayman_project/server.py).
    "HEADER_TIMEOUT": 10,
    "BODY_TIMEOUT": 30,
    # Open connections the server accepts at once; None: derived from its file descriptor limit.
    "MAX_CONNECTIONS": None,
    # The bearer token /metrics asks for; None: /metrics is open (events.metrics_endpoint).
    "METRICS_TOKEN": None,
    # Source prefixes a socket may join only with a subscriber token (or the join authorizer's
    # yes); `*` alone: every source. Empty: every source is public.
    "PRIVATE_SOURCES": (),
    # The default keys of subscriber tokens: an HS256 secret, the path of a PEM public key
    # (RS256 or ES256); more keys, by `kid`, in the admin. The audience tokens must name, if any.
    "SUBSCRIBER_JWT_SECRET": "",
    "SUBSCRIBER_JWT_PUBLIC_KEY": "",
    "SUBSCRIBER_JWT_AUDIENCE": "",
    # Dotted path of a callable (scope, source) -> bool, sync or async, asked about a private
    # source no token covers (a host project's Django session, say).
    "JOIN_AUTHORIZER": None,
    # Catch-up on rejoin (events.history): events kept per source (0: off), the longest one is
    # kept in seconds, and the source prefixes that keep history ("*" alone: every source).
    "HISTORY_SIZE": 0,
    "HISTORY_SECONDS": 300,
    "HISTORY_SOURCES": ("*",),
    # Seconds over which a server that got SIGTERM closes its sockets, a batch at a time
    # (relayman_project/server_drain.py); 0 closes them all at once.
    "DRAIN_SECONDS": 10,
}

# Settings that must be whole numbers of at least 1 (MAX_CONNECTIONS may also be None).
POSITIVE = (
    "MAX_EVENT_BYTES",
    "IDLE_TIMEOUT",
    "MAX_CHANNELS",
    "MAX_FRAME_BYTES",
    "EPISODE_QUIET",
    "HEADER_TIMEOUT",
    "BODY_TIMEOUT",
    "MAX_CONNECTIONS",
    "HISTORY_SECONDS",
)

MAX_DRAIN = 3600  # seconds: an orchestrator's grace period must outlast the drain

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


def origin_problem(origin: str) -> str | None:
    """Why `origin` is not a WebSocket origin as browsers send it (it would never match), if so."""
    parts = urlsplit(origin.rstrip("/"))
    if parts.scheme in ("http", "https") and parts.netloc and not parts.path:
        return None
    return (
        f"'{origin}' is not an origin: write scheme://host[:port], such as https://app.example.com"
    )


def history_sources_problem(prefixes) -> str | None:
    """Why a value cannot be the list of source prefixes that keep history, if so."""
    if not isinstance(prefixes, list | tuple) or not all(isinstance(p, str) for p in prefixes):
        return f"must be a list of source prefixes; got {prefixes!r}"
    if not prefixes:
        return "must list at least one source prefix, or '*' for every source"
    if ANY_SOURCE in prefixes and len(prefixes) > 1:
        return "must be '*' alone (every source), or prefixes without it"
    return None


@checks.register("relayman")
def check_settings(app_configs=None, **kwargs) -> list[checks.Error]:
    """The RELAYMAN_ settings a project sets, judged before anything is served with them."""
    problems = []
    for name in POSITIVE:
        value = default(name)
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not (whole and value >= 1) and not (name == "MAX_CONNECTIONS" and value is None):
            problems.append(f"RELAYMAN_{name} must be a whole number, 1 or more; got {value!r}")
    drain = default("DRAIN_SECONDS")
    if not (isinstance(drain, int) and not isinstance(drain, bool) and 0 <= drain <= MAX_DRAIN):
        problems.append(f"RELAYMAN_DRAIN_SECONDS must be a whole number from 0 to {MAX_DRAIN}")
    if not isinstance(default("REQUIRE_PRODUCER_KEYS"), bool):
        value = default("REQUIRE_PRODUCER_KEYS")
        problems.append(f"RELAYMAN_REQUIRE_PRODUCER_KEYS must be True or False; got {value!r}")
    token = default("METRICS_TOKEN")
    if token is not None and not (isinstance(token, str) and token.strip()):
        problems.append("RELAYMAN_METRICS_TOKEN must be a non-empty string, or None (no token)")
    size = default("HISTORY_SIZE")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        problems.append(f"RELAYMAN_HISTORY_SIZE must be a whole number, 0 or more; got {size!r}")
    problem = history_sources_problem(default("HISTORY_SOURCES"))
    if problem:
        problems.append(f"RELAYMAN_HISTORY_SOURCES {problem}")
    origins = default("ALLOWED_ORIGINS")
    if not isinstance(origins, list | tuple) or not all(isinstance(o, str) for o in origins):
        problems.append(f"RELAYMAN_ALLOWED_ORIGINS must be a list of origins; got {origins!r}")
    else:
        wrong = (origin_problem(origin) for origin in origins)
        problems += [f"RELAYMAN_ALLOWED_ORIGINS: {problem}" for problem in wrong if problem]
    problems += _private_sources_problems()
    return [checks.Error(problem, id="relayman.E001") for problem in problems]


def _private_sources_problems() -> list[str]:
    problems = []
    prefixes = default("PRIVATE_SOURCES")
    if not isinstance(prefixes, list | tuple) or not all(isinstance(p, str) for p in prefixes):
        problems.append(f"RELAYMAN_PRIVATE_SOURCES must be a list of prefixes; got {prefixes!r}")
    elif subscriber_tokens.ANY_SOURCE in prefixes and len(prefixes) > 1:
        problems.append("RELAYMAN_PRIVATE_SOURCES: write '*' alone, or list prefixes without it")
    secret = default("SUBSCRIBER_JWT_SECRET")
    if secret and (problem := subscriber_tokens.key_problem("HS256", secret)):
        problems.append(f"RELAYMAN_SUBSCRIBER_JWT_SECRET: {problem}")
    if path := default("SUBSCRIBER_JWT_PUBLIC_KEY"):
        try:
            subscriber_tokens.public_key_file(path)
        except ValueError as wrong:
            problems.append(f"RELAYMAN_SUBSCRIBER_JWT_PUBLIC_KEY: {wrong}")
    authorizer = default("JOIN_AUTHORIZER")
    if authorizer is not None:
        try:
            import_string(authorizer)
        except ImportError as missing:
            problems.append(f"RELAYMAN_JOIN_AUTHORIZER: {missing}")
    return problems


# Where the events body limit comes from, as every 413 names it (the view's and the server's).
EVENT_SIZE_ORIGIN = (
    "RELAYMAN_MAX_EVENT_BYTES, or 'maximum event size' in the admin's relay settings"
)


def too_large(limit: int, origin: str, size: int | None = None) -> str:
    """A 413's message: the body's size (or that a streamed one passed the limit), the limit and
    where it comes from."""
    body = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    return f"The body is {body}; the limit is {limit} bytes ({origin})"
