"""How often the served process collects cyclic garbage.

A server holds thousands of long-lived sockets, and one broadcast wakes them all, leaving that
many short-lived objects in flight at once. At CPython's default thresholds (a collection every
700 allocations) they outlive young collections, get promoted, and set off full collections
over every socket: a third of the CPU per delivery at 5,000 sockets (`make bench`).
"""

import gc


def tune() -> None:
    gc.set_threshold(50_000, 20, 10)
