"""How often the served process collects cyclic garbage.

A server holds thousands of long-lived sockets, and one broadcast wakes them all, leaving that
many short-lived objects in flight at once. At CPython's default thresholds (a collection every
700 allocations) they outlive young collections, get promoted, and set off full collections
over every socket: a third of the CPU per delivery at 5,000 sockets (`make bench`).

Thresholds count allocations, not bytes. Each request ends in reference cycles (Django's ASGI
handler leaves its tasks, the request and the response in them), and a large event makes few
allocations: 300 POSTs of 1 MB would leave ~300 MB waiting for a collection they do not set off.
So the process also collects once COLLECT_AFTER_BYTES of request bodies (by their declared
Content-Length) have come in since the last time: what a burst leaves behind stays below that.
Small events, the fan-out case, almost never reach it.
"""

import gc

from django.core.signals import request_started

COLLECT_AFTER_BYTES = 8 * 1024 * 1024

_ingested = 0  # bytes of request bodies since the last collection


def tune() -> None:
    gc.set_threshold(50_000, 20, 10)
    request_started.connect(count_body, dispatch_uid="relayman.gc_tuning")


def count_body(sender, scope=None, environ=None, **kwargs) -> None:
    """Add a request's declared body size; collect when the total passes the threshold.

    A sync receiver: Django already hops to a thread once per request for its own sync
    `request_started` receivers (closing old database connections), and this one joins that hop.
    """
    global _ingested
    _ingested += _content_length(scope, environ)
    if _ingested >= COLLECT_AFTER_BYTES:
        _ingested = 0
        gc.collect()


def _content_length(scope: dict | None, environ: dict | None) -> int:
    if scope is not None:
        value = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), b"")
    else:
        value = (environ or {}).get("CONTENT_LENGTH", "")
    try:
        return max(int(value), 0)
    except ValueError:
        return 0
