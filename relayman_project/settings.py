"""Settings of the standalone Relayman server, read from the environment (12-factor).

Every variable is listed, with its default, in the README's configuration table.
"""

import ast
import logging
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
import pythonjsonlogger.json
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from events.openapi_settings import SPECTACULAR_SETTINGS  # noqa: F401

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """A typo must not silently mean "off" (RELAYMAN_REQUIRE_PRODUCER_KEYS=ture): it fails."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        raise ImproperlyConfigured(
            f"{name} must be true/false, 1/0, yes/no or on/off, got {value!r}"
        )
    return value in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(
    name: str, default: int | None, *, minimum: int = 1, maximum: int | None = None, unit: str = ""
) -> int | None:
    """An integer within its bounds: `RELAYMAN_IDLE_TIMEOUT=-5` would close every socket at once,
    so a value that makes no sense stops the start, naming the variable, the value and the range."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    allowed = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
    what = f"a whole number of {unit}, {allowed}" if unit else f"an integer, {allowed}"
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        raise ImproperlyConfigured(f"{name} must be {what}; got {value!r}")
    return number


def env_log_level(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip().upper() or default
    if value not in LOG_LEVELS:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(LOG_LEVELS)}; got {value!r}")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_PORT = 65535

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    SECRET_KEY = get_random_secret_key()
    logging.getLogger("relayman").warning(
        "SECRET_KEY is not set: using a random development key that changes on every start. "
        "Set SECRET_KEY in production."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is set but empty: every request would be refused; list the host names "
        "the server answers to, separated by commas (or * for any)"
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# JSON under Relayman's routes (a POST to /healthz has no CSRF token), Django's page elsewhere.
CSRF_FAILURE_VIEW = "events.errors.csrf_failure"

PORT = env_int("PORT", 4000, maximum=MAX_PORT)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "rest_framework",
    "drf_spectacular",  # /api/schema, manage.py spectacular, the docs page's template
    "drf_spectacular_sidecar",  # Swagger UI's files, collected and served here: no CDN
    "channels",
    "events",
    "sockets",
]

# Django's usual stack, each run on the event loop where it does no I/O (sync-only middleware
# costs every request a thread round trip per hook): relayman_project/middleware.py. Sessions,
# CSRF, logins and messages serve the admin alone, and act only under its prefix
# (relayman_project/admin_only.py).
MIDDLEWARE = [
    # First: a request for a host not in ALLOWED_HOSTS gets a JSON 400, logged once per episode.
    "events.errors.quiet_bad_hosts",
    "relayman_project.middleware.SecurityMiddleware",
    # The admin's static files (collected by bin/serve into STATIC_ROOT), on the event loop.
    "relayman_project.static_files.AsyncWhiteNoiseMiddleware",
    "relayman_project.middleware.CommonMiddleware",
    # The admin's four, in a row: any other request skips them all at once (admin_only.py).
    "relayman_project.admin_only.SessionMiddleware",
    "relayman_project.admin_only.CsrfViewMiddleware",
    "relayman_project.admin_only.AuthenticationMiddleware",
    "relayman_project.admin_only.MessageMiddleware",
    "relayman_project.middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "relayman_project.urls"
ASGI_APPLICATION = "relayman_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

try:
    DATABASES = {
        "default": dj_database_url.config(
            default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60
        )
    }
except ValueError as exc:  # dj-database-url's own message names the scheme it does not know
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")

# POST /events enforces its own limit (RELAYMAN_MAX_EVENT_BYTES) with a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = None

REST_FRAMEWORK = {
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# Channel layer: in-process by default; REDIS_URL switches to Redis for several processes,
# through channels-redis's pub/sub layer (README, "Scaling out": measured against the core layer).
REDIS_URL = os.environ.get("REDIS_URL", "").strip()


def redis_host(url: str) -> dict:
    """channels-redis connection options from REDIS_URL, REDIS_SSL_* and REDIS_SENTINEL*."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(
            "REDIS_URL must look like redis://[:password@]host[:port][/db] (or rediss:// for "
            f"TLS), got scheme {parts.scheme!r}"
        )
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = 0
    if port == 0:
        raise ImproperlyConfigured(
            f"REDIS_URL's port must be a number from 1 to {MAX_PORT}, got {parts.netloc!r}"
        )
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ImproperlyConfigured(f"REDIS_URL's database number must be an integer, got {db!r}")
    tls = {}
    for option in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"):
        name = f"REDIS_{option.upper()}"
        value = os.environ.get(name, "").strip()
        if value and parts.scheme != "rediss":
            raise ImproperlyConfigured(f"{name} needs a rediss:// REDIS_URL")
        # Read only when Redis is first reached: a wrong path fails the start, not every connect.
        if value and option != "ssl_cert_reqs" and not os.path.isfile(value):
            raise ImproperlyConfigured(f"{name} must name a readable file; {value!r} is not one")
        if value:
            tls[option] = value
    cert_reqs = tls.get("ssl_cert_reqs", "required")
    if cert_reqs not in ("required", "optional", "none"):
        raise ImproperlyConfigured(
            f"REDIS_SSL_CERT_REQS must be required, optional or none, got {cert_reqs!r}"
        )
    sentinels = env_list("REDIS_SENTINELS")
    if not sentinels:
        return {"address": url, **tls}
    # Behind Sentinel, the Sentinels name the master's address; REDIS_URL gives all the rest.
    return {
        "sentinels": [sentinel_address(sentinel) for sentinel in sentinels],
        "master_name": os.environ.get("REDIS_SENTINEL_MASTER", "").strip() or "mymaster",
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "db": int(db or 0),
        "ssl": parts.scheme == "rediss",
        **tls,
    }


def sentinel_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= MAX_PORT:
        raise ImproperlyConfigured(
            f"REDIS_SENTINELS must list host:port pairs, the port from 1 to {MAX_PORT}; "
            f"got {text!r}"
        )
    return host.strip("[]"), int(port)


if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "events.redis_layer.ResilientRedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [redis_host(REDIS_URL)],
                "prefix": os.environ.get("REDIS_PREFIX", "").strip() or "relayman",
            },
        }
    }
else:
    # The embedded layer: Channels' in-memory one costs O(N²) per broadcast to N sockets.
    CHANNEL_LAYERS = {"default": {"BACKEND": "events.layers.EmbeddedChannelLayer"}}

RELAYMAN_MAX_EVENT_BYTES = env_int("RELAYMAN_MAX_EVENT_BYTES", 1024 * 1024, unit="bytes")
# Each must be an origin (scheme://host[:port]): checked with the other RELAYMAN_ settings, by
# events.config's system check, which relayman_project/asgi.py runs at the start.
RELAYMAN_ALLOWED_ORIGINS = env_list("RELAYMAN_ALLOWED_ORIGINS")
RELAYMAN_IDLE_TIMEOUT = env_int("RELAYMAN_IDLE_TIMEOUT", 60, unit="seconds")
RELAYMAN_MAX_CHANNELS = env_int("RELAYMAN_MAX_CHANNELS", 100)
RELAYMAN_MAX_FRAME_BYTES = env_int("RELAYMAN_MAX_FRAME_BYTES", 64 * 1024, unit="bytes")
RELAYMAN_REQUIRE_PRODUCER_KEYS = env_bool("RELAYMAN_REQUIRE_PRODUCER_KEYS", False)
# The server's deadlines for a request's headers (also an idle keep-alive connection's wait for
# its next request) and for its body once the headers are in: relayman_project/server.py.
RELAYMAN_HEADER_TIMEOUT = env_int("RELAYMAN_HEADER_TIMEOUT", 10, unit="seconds")
RELAYMAN_BODY_TIMEOUT = env_int("RELAYMAN_BODY_TIMEOUT", 30, unit="seconds")
# Open connections the server accepts at once; unset, the server derives it from its file
# descriptor limit.
RELAYMAN_MAX_CONNECTIONS = env_int("RELAYMAN_MAX_CONNECTIONS", None)
# The bearer token GET /metrics asks for; unset, /metrics is open to anyone who reaches it.
RELAYMAN_METRICS_TOKEN = os.environ.get("RELAYMAN_METRICS_TOKEN", "").strip() or None
RELAYMAN_EPISODE_QUIET = env_int("RELAYMAN_EPISODE_QUIET", 10, unit="seconds")
# Private sources and the keys of subscriber tokens (README, "Private sources"): each is judged
# by events.config's system check, which relayman_project/asgi.py runs at the start.
RELAYMAN_PRIVATE_SOURCES = tuple(env_list("RELAYMAN_PRIVATE_SOURCES"))
RELAYMAN_SUBSCRIBER_JWT_SECRET = os.environ.get("RELAYMAN_SUBSCRIBER_JWT_SECRET", "")
RELAYMAN_SUBSCRIBER_JWT_PUBLIC_KEY = os.environ.get(
    "RELAYMAN_SUBSCRIBER_JWT_PUBLIC_KEY", ""
).strip()
RELAYMAN_SUBSCRIBER_JWT_AUDIENCE = os.environ.get("RELAYMAN_SUBSCRIBER_JWT_AUDIENCE", "").strip()
RELAYMAN_JOIN_AUTHORIZER = os.environ.get("RELAYMAN_JOIN_AUTHORIZER", "").strip() or None
# Catch-up on rejoin: events kept per source (0: off), for at most so many seconds, for the
# sources under these prefixes (comma-separated; "*" alone: every source).
RELAYMAN_HISTORY_SIZE = env_int("RELAYMAN_HISTORY_SIZE", 0, minimum=0, maximum=100_000)
RELAYMAN_HISTORY_SECONDS = env_int(
    "RELAYMAN_HISTORY_SECONDS", 300, maximum=7 * 24 * 3600, unit="seconds"
)
RELAYMAN_HISTORY_SOURCES = env_list("RELAYMAN_HISTORY_SOURCES", "*")
# Seconds over which the server closes its sockets after SIGTERM: relayman_project/server_drain.py.
RELAYMAN_DRAIN_SECONDS = env_int(
    "RELAYMAN_DRAIN_SECONDS", 10, minimum=0, maximum=3600, unit="seconds"
)

LOG_LEVEL = env_log_level("LOG_LEVEL", "INFO")
RELAYMAN_LOG_LEVEL = env_log_level("RELAYMAN_LOG_LEVEL", LOG_LEVEL)
LOG_FORMATS = ("text", "json")
LOG_FORMAT = os.environ.get("LOG_FORMAT", "").strip().lower() or "text"
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(
        f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}; got {LOG_FORMAT!r}"
    )


class KeyValueJsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """One JSON object per line; the key=value pairs of Relayman's own lines become fields too,
    so a log pipeline can filter on `event` or `code` without parsing the message."""

    # A value is a Python repr in quotes (escapes included), a list of them, or bare text up to
    # the next space. A quote left open makes each later pair rescan the rest, so only the
    # message's first PARSED characters are read: the cost per line stays bounded.
    QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
    ITEM = rf"(?:{QUOTED}|[^\[\]'\" ,]*)"
    PAIR = re.compile(rf"(?:^| )([a-z_]+)=({QUOTED}|\[{ITEM}(?:, {ITEM})*\]|[^ ]*)")
    PARSED = 1024
    OWN = ("relayman", "events", "sockets")

    def process_log_record(self, log_data: dict) -> dict:
        if log_data.get("logger", "").partition(".")[0] in self.OWN:
            for key, value in self.PAIR.findall(log_data.get("message", "")[: self.PARSED]):
                log_data.setdefault(key, _field_value(value))
        return log_data


def _field_value(text: str):
    """`code=4008` is a number (`seconds=15:` too, ending its clause), `reason='too slow'` the
    string the repr spells, `None` null."""
    if text[:1] in "'\"[":
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):  # a quote the message never closed
            return text
    text = text.rstrip(":,")  # a bare value ending its clause
    if text.isdigit():
        return int(text)
    return None if text == "None" else text


# daphne's access log (bin/serve): three lines per socket and one per request, written through
# logging as `relayman.access` (relayman_project/server_access_log.py), so LOG_FORMAT applies to
# them too; off by default, Relayman logs what goes wrong itself.
RELAYMAN_ACCESS_LOG = env_bool("RELAYMAN_ACCESS_LOG", False)

# Python's warnings (a library's UserWarning, say) go through logging too, as `py.warnings`: under
# LOG_FORMAT=json they are JSON lines like the rest, not text on stderr.
logging.captureWarnings(True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {
            "format": "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        },
        "json": {
            "()": KeyValueJsonFormatter,
            "fmt": ["levelname", "name", "message"],
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
    },
    "filters": {
        # Requests Django finds suspicious: one line per run of each kind, no traceback.
        "suspicious_requests": {"()": "events.errors.QuietSuspiciousRequests"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["suspicious_requests"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "relayman": {"level": RELAYMAN_LOG_LEVEL, "propagate": True},
        "events": {"level": RELAYMAN_LOG_LEVEL, "propagate": True},
        "sockets": {"level": RELAYMAN_LOG_LEVEL, "propagate": True},
    },
}
