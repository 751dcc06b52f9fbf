"""The sockets this process serves, so that a server going away can close them a batch at a time.

Each consumer enters itself once its socket is accepted and leaves when it ends. A server that
drains (relayman_project's, on SIGTERM) takes batches of them, oldest first, and asks each to
drain: the socket's session decides what that means (a `phx_error` per joined channel, then close
code 1012), the consumer carries it out in turn with its other work. Nothing here is shared
between processes: each node drains its own sockets.
"""

import asyncio
import math
from typing import Protocol

BATCH_INTERVAL = 0.5  # seconds between two batches of closes


class Drainable(Protocol):
    async def drain(self) -> None: ...


# Insertion-ordered: a drain closes the oldest sockets first.
_open: dict[Drainable, None] = {}
_asked: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks


def opened(socket: Drainable) -> None:
    _open[socket] = None


def closed(socket: Drainable) -> None:
    _open.pop(socket, None)


def count() -> int:
    return len(_open)


def is_open(socket: Drainable) -> bool:
    return socket in _open


def oldest(limit: int, skip: set) -> list[Drainable]:
    """Up to `limit` open sockets, oldest first, leaving out those in `skip`."""
    batch = []
    for socket in _open:
        if len(batch) >= limit:
            break
        if socket not in skip:
            batch.append(socket)
    return batch


def rounds(seconds: float) -> int:
    """How many batches a drain of `seconds` closes its sockets in: one every BATCH_INTERVAL."""
    return max(1, int(seconds / BATCH_INTERVAL))


def batch_size(waiting: int, rounds_left: int) -> int:
    """The sockets to close now, for the `waiting` ones to be spread evenly over the rounds left.

    A few sockets close one per batch, and the drain ends early; Phoenix's drainer has a fixed
    batch size instead, which ends a small drain in one batch and a large one past its time."""
    return math.ceil(waiting / rounds_left) if rounds_left > 0 else waiting


def drain(sockets: list[Drainable]) -> None:
    """Ask each socket to drain, on the running loop; each closes on its own time."""
    for socket in sockets:
        task = asyncio.ensure_future(socket.drain())
        _asked.add(task)
        task.add_done_callback(_asked.discard)
