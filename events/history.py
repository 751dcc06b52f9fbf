"""Recent events per source, kept so a client that reconnects can catch up on what it missed.

Off by default (RELAYMAN_HISTORY_SIZE=0): then nothing is kept and publishing is as before.
When a source keeps history, every message relaying its events carries a `mark`, unique to that
message, and every kept event carries the mark of the message that relayed it. A socket joining
with the id of the last event it saw gets the events kept after it; the live messages it receives
meanwhile whose mark is among those events are the same events, and are not pushed again
(`sockets.catch_up`). Marks are compared for equality only: no payload is ever compared.

Where history lives follows the channel layer:
- with Redis, one stream per source (`events.redis_history`), written in the same round trip as
  the publish, so every node serves the same history;
- with the embedded layer, `LocalHistory` below: a buffer per source in this process, bounded by
  the size and age settings, and all of them together by LOCAL_MAX_BYTES.
"""

import itertools
import secrets
import time
import weakref
from collections import OrderedDict, deque

from channels_redis.pubsub import RedisPubSubChannelLayer

from . import config, redis_history
from .history_entries import Kept, Limits, Search
from .producer_keys import covers

# What the embedded layer's history may hold in all, in bytes of event JSON: past it, the sources
# published least recently lose their oldest events first.
LOCAL_MAX_BYTES = 64 * 1024 * 1024

# Marks: unique per process by the counter, across processes by the prefix.
_PROCESS = secrets.token_hex(4) + "."
_counter = itertools.count(1)


def keeps(source: str) -> bool:
    """Whether events of `source` are kept now (the settings may change at any time)."""
    return config.get("HISTORY_SIZE") > 0 and covers(config.get("HISTORY_SOURCES"), source)


def new_mark() -> str:
    return f"{_PROCESS}{next(_counter)}"


def kept_from(mark: str, run: list[tuple[dict, str]]) -> list[Kept]:
    """The entries one relayed message adds to history: its `(event, payload)` pairs, in order."""
    return [Kept(mark, event["id"], event["type"], payload) for event, payload in run]


async def send(layer, group: str, message: dict, kept: list[Kept]) -> None:
    """Keep `kept` in the history of the message's source and send `message` to `group`.

    With Redis both happen in one transaction, so history order is publish order on every node.
    """
    if isinstance(layer, RedisPubSubChannelLayer):
        await redis_history.send(layer, group, message, kept, _limits())
        return
    _local(layer).add(message["source"], kept, _limits())
    await layer.group_send(group, message)


async def after(layer, group: str, source: str, event_id: str) -> list[Kept] | None:
    """The kept events of `source` after the latest one with id `event_id`, oldest first; None
    when they cannot all be given (history off, the id not kept, the gap too large).

    Raises the layer's errors when its store is unreachable; the caller bounds the wait.
    """
    if not keeps(source):
        return None
    if isinstance(layer, RedisPubSubChannelLayer):
        return await redis_history.after(layer, group, event_id, _limits())
    return _local(layer).after(source, event_id, _limits())


def _limits() -> Limits:
    return Limits(config.get("HISTORY_SIZE"), config.get("HISTORY_SECONDS"))


class LocalHistory:
    """The embedded layer's history: per source, its newest events within the size and age.

    Memory: at most size × sources × event size, and never more than `max_bytes` of event JSON
    in all. Sources are kept in the order they were last published to; when the total passes
    `max_bytes`, the least recently published lose their oldest events first, and a source whose
    newest event is past the age is dropped whole when it reaches that end.
    """

    def __init__(self, max_bytes: int = LOCAL_MAX_BYTES, clock=time.monotonic):
        self.max_bytes = max_bytes
        self.clock = clock
        self.sources: OrderedDict[str, deque[tuple[float, Kept]]] = OrderedDict()
        self.bytes = 0

    def add(self, source: str, kept: list[Kept], limits: Limits) -> None:
        now = self.clock()
        entries = self.sources.pop(source, None) or deque()
        self.sources[source] = entries  # now the most recently published
        for entry in kept:
            entries.append((now, entry))
            self.bytes += len(entry.payload)
        self._trim(entries, limits, now)
        self._evict(limits, now)

    def after(self, source: str, event_id: str, limits: Limits) -> list[Kept] | None:
        entries = self.sources.get(source)
        if not entries:
            return None
        self._trim(entries, limits, self.clock())
        search = Search(event_id, limits)
        for _, entry in reversed(entries):
            if search.feed(entry):
                break
        return search.found

    def _trim(self, entries: deque, limits: Limits, now: float) -> None:
        """Drop a source's events beyond its size or past the age."""
        oldest_kept = now - limits.seconds
        while entries and (len(entries) > limits.size or entries[0][0] < oldest_kept):
            self.bytes -= len(entries.popleft()[1].payload)

    def _evict(self, limits: Limits, now: float) -> None:
        """Drop stale sources, then oldest events of least recently published sources."""
        oldest_kept = now - limits.seconds
        while self.sources:
            source, entries = next(iter(self.sources.items()))
            if entries and entries[-1][0] >= oldest_kept and self.bytes <= self.max_bytes:
                return
            if entries and entries[-1][0] >= oldest_kept:
                self.bytes -= len(entries.popleft()[1].payload)
            else:
                self.bytes -= sum(len(entry.payload) for _, entry in entries)
                entries.clear()
            if not entries:
                del self.sources[source]


_stores: "weakref.WeakKeyDictionary[object, LocalHistory]" = weakref.WeakKeyDictionary()


def _local(layer) -> LocalHistory:
    """The history kept beside an embedded layer: one per layer, as its groups are."""
    store = _stores.get(layer)
    if store is None:
        store = _stores[layer] = LocalHistory()
    return store
