"""Kept events and the one rule for finding a client's place among them, for both stores."""

from dataclasses import dataclass

# The largest catch-up reply: a gap of more events, or of more bytes of events, answers
# `recovered: false`. A reply frame counts toward the client's unread backlog, so it stays well
# under sockets.session.MAX_UNREAD_BYTES.
MAX_CATCH_UP_EVENTS = 1000
MAX_CATCH_UP_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Kept:
    """One kept event: the mark of the message that relayed it, its id and type, its JSON."""

    mark: str
    event_id: str
    event_type: str
    payload: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The history settings in force, read once per call, and the reply's limits."""

    size: int
    seconds: float
    max_events: int = MAX_CATCH_UP_EVENTS
    max_bytes: int = MAX_CATCH_UP_BYTES


class Search:
    """Looks for the latest entry with a client's last event id, fed entries newest first.

    Only the newest `size` entries count, and the entries after the one found make the reply,
    which may hold `max_events` entries and `max_bytes` of JSON at most. `feed` says when the
    search is over; `found` is then the reply, oldest first, or None when there is none.
    """

    __slots__ = ("event_id", "limits", "newer", "bytes", "found")

    def __init__(self, event_id: str, limits: Limits):
        self.event_id = event_id
        self.limits = limits
        self.newer: list[Kept] = []
        self.bytes = 0
        self.found: list[Kept] | None = None

    def feed(self, entry: Kept) -> bool:
        """Take the next older entry; True when the search is over."""
        if entry.event_id == self.event_id:
            self.found = self.newer[::-1]
            return True
        self.newer.append(entry)
        self.bytes += len(entry.payload)
        return (
            len(self.newer) >= self.limits.size
            or len(self.newer) > self.limits.max_events
            or self.bytes > self.limits.max_bytes
        )
