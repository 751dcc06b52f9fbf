"""How often the served process collects cyclic garbage, and what it must not leave to it.

A server holds thousands of long-lived sockets, and one broadcast wakes them all, leaving that
many short-lived objects in flight at once. At CPython's default thresholds (a collection every
700 allocations) they outlive young collections, get promoted, and set off full collections
over every socket: a third of the CPU per delivery at 5,000 sockets (`make bench`).

Thresholds count allocations, not bytes, and a full collection is dear (0.8-1.1 s with 2,000
sockets open, measured on a busy 2-core machine): nothing large may wait for one. POST /events
keeps its body and its decoded events out of the cycles a Django request ends in
(events/views.py), and the request handler (events/request_handler.py) keeps the answer, the
accepted events echoed back (up to 1 MiB), out of its own.
"""

import gc


def tune() -> None:
    gc.set_threshold(50_000, 20, 10)
