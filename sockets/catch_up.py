"""A join naming the last event its client saw: the events it missed, then live ones, each once.

The consumer subscribes first, then reads the history, holding the socket's dispatch lock
meanwhile, so live messages for it wait in the channel layer's bounded queue (the layer's usual
rule: a socket that takes nothing for long enough gets OVERFLOW and closes, 4008). The reply
then holds the events kept after the client's last one; the live messages that follow and whose
mark is among them are the same events, published while the join was being answered, and are
not pushed again (`AlreadySent`). Live messages come in publish order, so the first one whose
mark is not among them ends the overlap.
"""

import asyncio
import functools
import json
import logging

from events import config, history
from events.episodes import Episode
from events.history_entries import Kept
from events.publishing import group_for
from events.redis_layer import UNAVAILABLE

logger = logging.getLogger("sockets")

# Seconds a catch-up may take (waiting for the subscription, reading the history) before the join
# is answered `recovered: false`.
READ_TIMEOUT = 1.0


async def read(layer, source: str, after: str) -> list[Kept] | None:
    """The events of `source` kept after the event with id `after`, or None (not recovered)."""
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            return await history.after(layer, group_for(source), source, after)
    except (*UNAVAILABLE, TimeoutError) as exc:
        _unavailable().occurred(error=str(exc) or f"no answer within {READ_TIMEOUT}s")
        return None


def events(kept: list[Kept] | None) -> list[dict] | None:
    """The CloudEvents of a catch-up reply, as the pushes would carry them."""
    return None if kept is None else [json.loads(entry.payload) for entry in kept]


class AlreadySent:
    """Per source, the marks of the events a catch-up reply held, until live messages pass them.

    Holds at most history_entries.MAX_CATCH_UP_EVENTS marks per source catching up, released by
    the source's first live message that was not in the reply, or by leaving it.
    """

    __slots__ = ("marks",)

    def __init__(self):
        self.marks: dict[str, frozenset[str]] = {}

    def replied(self, source: str, kept: list[Kept] | None) -> None:
        if kept:
            self.marks[source] = frozenset(entry.mark for entry in kept)

    def fresh(self, source: str, mark: str | None) -> bool:
        """Whether a live message of `source` with `mark` is still to be pushed."""
        marks = self.marks.get(source)
        if marks is None or mark is None:
            return True
        if mark in marks:
            return False
        del self.marks[source]
        return True

    def forget(self, source: str) -> None:
        self.marks.pop(source, None)


@functools.cache
def _unavailable() -> Episode:
    return Episode(logger, "catch_up_unavailable", quiet=config.default("EPISODE_QUIET"))
