"""Relayman's Prometheus metrics: one registry, what the producer side measures, and build info.

Everything Relayman exports is in `REGISTRY`, Relayman's own (not prometheus_client's global one,
which a host project may fill with its own names, and which holds the process metrics a host
may export already): `events.metrics_urls` serves it. The socket
side adds its counts with `register`, from `sockets`' app config, as `events` never imports
`sockets`.

Per request, prometheus_client's own counters and histograms are cheap enough. Per delivery they
are not (a lock and more per increment): `sockets.tallies` counts pushes in plain ints, and a
collector turns them into metrics when `/metrics` is scraped.
"""

import functools
import platform
import time
import tomllib
from importlib import metadata
from pathlib import Path

from asgiref.sync import iscoroutinefunction
from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.registry import Collector

from . import content_modes

REGISTRY = CollectorRegistry()

# Seconds, from a tenth of a millisecond (a publish to a few sockets) to the deadlines that end a
# request or a publish (PUBLISH_TIMEOUT is 1 s).
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

# `mode` of a request that is none of the three content modes (a 415, a 405).
NO_MODE = "none"

INGEST_REQUESTS = Counter(
    "relayman_ingest_requests",
    "POST /events answers, the server's early refusals included, by content mode and status code "
    "(201: accepted)",
    ["mode", "status"],
    registry=REGISTRY,
)
INGEST_SECONDS = Histogram(
    "relayman_ingest_request_duration_seconds",
    "Time POST /events took, from the view receiving the request to its answer",
    ["mode"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
EVENTS_PUBLISHED = Counter(
    "relayman_events_published",
    "Events handed to the channel layer, from POST /events and the Python API",
    registry=REGISTRY,
)
PUBLISH_SECONDS = Histogram(
    "relayman_publish_duration_seconds",
    "Time one publish (a POST's events, or a Python API call) took to reach the channel layer",
    buckets=BUCKETS,
    registry=REGISTRY,
)


def register(collector: Collector) -> None:
    """Add a collector to Relayman's registry (the socket side's counts)."""
    REGISTRY.register(collector)


def observed(view):
    """POST /events (an async view) timed and counted by content mode and status."""

    @functools.wraps(view)
    async def counted(request, *args, **kwargs):
        started = time.perf_counter()
        response = await view(request, *args, **kwargs)
        mode = content_modes.mode_of_environ(request.META) or NO_MODE
        series(INGEST_SECONDS, mode).observe(time.perf_counter() - started)
        series(INGEST_REQUESTS, mode, response.status_code).inc()
        return response

    assert iscoroutinefunction(view), "the events view runs on the event loop"
    return counted


@functools.cache
def series(metric, *labels):
    """A metric's series for these labels, kept: `labels()` takes a lock and checks its
    arguments, 1 % of a POST. A few dozen at most (four modes, the status codes of the view and
    of the server's edge)."""
    return metric.labels(*(str(label) for label in labels))


def timed_publish(publish):
    """`publishing.publish` timed, and the events it got into the layer counted."""

    @functools.wraps(publish)
    async def timed(events, *args, **kwargs):
        started = time.perf_counter()
        try:
            payloads = await publish(events, *args, **kwargs)
        except Exception as failure:  # `LayerUnavailable` says how many got in first
            EVENTS_PUBLISHED.inc(getattr(failure, "published", 0))
            raise
        finally:
            PUBLISH_SECONDS.observe(time.perf_counter() - started)
        EVENTS_PUBLISHED.inc(len(payloads))
        return payloads

    return timed


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def relayman_version() -> str:
    """The installed package's version, else the one pyproject.toml names (a checkout)."""
    version = _version("relayman")
    if version != "none":
        return version
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


BUILD = Info(
    "relayman_build", "Versions Relayman runs with (the value is always 1)", registry=REGISTRY
)
BUILD.info(
    {
        "version": relayman_version(),
        "python": platform.python_version(),
        **{
            package.replace("-", "_"): _version(package)
            for package in ("django", "djangorestframework", "channels", "channels-redis", "daphne")
        },
    }
)
