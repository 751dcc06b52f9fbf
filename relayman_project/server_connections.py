"""How many connections the server holds at once, and what a connection past that gets.

Every open connection, HTTP or WebSocket, holds a file descriptor; at the process's limit the
kernel refuses the next `accept` and Twisted drops that connection unanswered and unlogged. So
the server caps its connections below the limit: `RELAYMAN_MAX_CONNECTIONS`, or when unset,
derived at start: the soft `RLIMIT_NOFILE` is raised to the hard limit, and a tenth of it (at
least 64 descriptors) is left for the database, Redis, log files and the refusals themselves.

A connection past the cap is answered 503 (JSON, `Retry-After`) at once and closed. The first
refusal logs a WARNING and the episode's end a count; if descriptors run out all the same
(another process's share, a cap set above the limit), the connections Twisted has to drop are
logged the same way rather than not at all.
"""

import logging
import resource

from twisted.internet.protocol import Protocol
from twisted.logger import globalLogPublisher

from events.episodes import Episode

from . import server_answers

MIN_HEADROOM = 64
RETRY_AFTER_SECONDS = 5
# An episode of refusals (or of dropped connections) ends after this long without one.
QUIET_SECONDS = 5.0
# What Twisted logs when it cannot accept a connection (twisted.internet.tcp._accept).
_ACCEPT_FAILURES = ("EMFILE recovery: Closed socket", "Could not accept new connection")


def descriptor_limit() -> int:
    """The soft RLIMIT_NOFILE, raised to the hard limit first where the system allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # the limit stays as it was, and the cap is derived from that
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def derived_cap(limit: int) -> int:
    """The connections `limit` descriptors allow, leaving a tenth (at least 64) for the rest."""
    return max(1, limit - max(MIN_HEADROOM, limit // 10))


class Connections:
    """The count of open connections against the cap, and the episodes of going past it."""

    def __init__(self, cap: int, origin: str, logger: logging.Logger):
        self.cap = cap
        self.open = 0
        self.refusal = server_answers.response(
            503,
            f"The server is at its limit of {cap} open connections ({origin}); "
            f"retry in {RETRY_AFTER_SECONDS} seconds.",
            (("Retry-After", str(RETRY_AFTER_SECONDS)),),
        )
        self.full = Episode(logger, "connections_full", quiet=QUIET_SECONDS)
        self.dropped = Episode(logger, "connections_dropped", quiet=QUIET_SECONDS)
        globalLogPublisher.addObserver(self._twisted_logged)

    def admit(self) -> bool:
        """Count a new connection in, or say it is one too many (the caller refuses it)."""
        if self.open >= self.cap:
            self.full.occurred(limit=self.cap, reason="new connections get a 503")
            return False
        self.open += 1
        return True

    def release(self, result=None):
        """Count a connection out; returns `result`, so that it can sit in a Deferred's chain."""
        self.open -= 1
        return result

    def refuse(self) -> Protocol:
        """The protocol for a connection past the cap: answered 503 and closed."""
        return Refusal(self.refusal)

    def _twisted_logged(self, event: dict) -> None:
        text = event.get("log_format") or ""
        if text.startswith(_ACCEPT_FAILURES):
            self.dropped.occurred(reason="out of file descriptors: closed unanswered at accept")


class Refusal(Protocol):
    """A connection past the cap: answered as soon as it is accepted, and closed at once.

    No lingering here: refusals come in floods, and each would hold a descriptor meanwhile.
    A client whose request is still unread gets a TCP reset after the answer, which Linux lets
    it read first.
    """

    def __init__(self, answer: bytes):
        self.answer = answer

    def connectionMade(self):
        self.transport.write(self.answer)
        self.transport.loseConnection()
