"""How many connections the server holds at once, and what a connection past that gets.

Every open connection, HTTP or WebSocket, holds a file descriptor; at the process's limit the
kernel refuses the next `accept` and Twisted drops that connection unanswered and unlogged. So
the server caps its connections below the limit: `RELAYMAN_MAX_CONNECTIONS`, or when unset,
derived at start: the soft `RLIMIT_NOFILE` is raised to the hard limit, and a tenth of it (at
least 64 descriptors) is left for the database, Redis, log files and the refusals themselves.

A connection past the cap is answered 503 (JSON, `Retry-After`) at once and closed. The first
refusal logs a WARNING and the episode's end a count. A refusal holds its descriptor until the
next turn of the event loop, and in a flood Twisted accepts many connections per turn: past half
the spare descriptors in refusals, a connection is closed unanswered instead. That, and
connections Twisted has to drop because descriptors ran out all the same (a cap set above the
limit), are logged the same way, as connections dropped, rather than not at all.

Before any of that, a new connection waits in the kernel's accept queue until the server takes
it. Twisted's default queue holds 50: in a burst (300 producers posting at once, thousands of
browsers reconnecting after a node drained) the kernel drops the SYNs past it, and each of those
clients retries one, three, seven seconds later. So the server listens with the longest queue the
kernel allows, `net.core.somaxconn`, which caps any backlog anyway (`with_backlog`).
"""

import logging
import re
import resource
import socket
from pathlib import Path

from twisted.internet.protocol import Protocol
from twisted.logger import globalLogPublisher

from events.episodes import Episode

from . import server_answers

MIN_HEADROOM = 64
RETRY_AFTER_SECONDS = 5
# What Twisted logs when it cannot accept a connection (twisted.internet.tcp._accept).
_ACCEPT_FAILURES = ("EMFILE recovery: Closed socket", "Could not accept new connection")
SOMAXCONN = Path("/proc/sys/net/core/somaxconn")
# Twisted's endpoints that take a `backlog` (fd: and systemd: sockets listen already).
_BACKLOG_ENDPOINTS = ("tcp", "tcp6", "ssl", "unix")
_NAMES_BACKLOG = re.compile(r"(?<!\\):backlog=")


def descriptor_limit() -> int:
    """The soft RLIMIT_NOFILE, raised to the hard limit first where the system allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # the limit stays as it was, and the cap is derived from that
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def listen_backlog() -> int:
    """The kernel's longest accept queue: `net.core.somaxconn` (Python's SOMAXCONN elsewhere)."""
    try:
        return int(SOMAXCONN.read_text())
    except (OSError, ValueError):
        return socket.SOMAXCONN


def with_backlog(description: str, backlog: int) -> str:
    """A Twisted endpoint description that listens with `backlog`, unless it names its own."""
    kind = description.split(":", 1)[0]
    if kind not in _BACKLOG_ENDPOINTS or _NAMES_BACKLOG.search(description):
        return description
    return f"{description}:backlog={backlog}"


def headroom(limit: int) -> int:
    """The descriptors kept from connections: a tenth of `limit`, at least 64."""
    return max(MIN_HEADROOM, limit // 10)


def derived_cap(limit: int) -> int:
    """The connections `limit` descriptors allow."""
    return max(1, limit - headroom(limit))


class Connections:
    """The count of open connections against the cap, and the episodes of going past it."""

    def __init__(
        self, cap: int, origin: str, descriptors: int, logger: logging.Logger, quiet: float
    ):
        """`quiet`: the seconds without a refusal (or a drop) that end an episode of them."""
        self.cap = cap
        self.open = 0
        self.refusing = 0  # refusals whose descriptor is not closed yet
        self.refusals_at_once = max(1, headroom(descriptors) // 2)
        self.refusal_answer = server_answers.response(
            503,
            f"The server is at its limit of {cap} open connections ({origin}); "
            f"retry in {RETRY_AFTER_SECONDS} seconds.",
            (("Retry-After", str(RETRY_AFTER_SECONDS)),),
        )
        self.full = Episode(logger, "connections_full", quiet=quiet)
        self.dropped = Episode(logger, "connections_dropped", quiet=quiet)
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

    def refuse(self) -> Protocol | None:
        """The protocol for a connection past the cap, answered 503 and closed; or None, for
        Twisted to close it unanswered, when refusals already hold their share of descriptors."""
        if self.refusing >= self.refusals_at_once:
            self._dropped()
            return None
        self.refusing += 1
        return Refusal(self)

    def _twisted_logged(self, event: dict) -> None:
        text = event.get("log_format") or ""
        if text.startswith(_ACCEPT_FAILURES):
            self._dropped()

    def _dropped(self) -> None:
        self.dropped.occurred(reason="no file descriptor to spare: closed unanswered at accept")


class Refusal(Protocol):
    """A connection past the cap: answered as soon as it is accepted, and closed at once.

    No lingering here: refusals come in floods, and each would hold a descriptor meanwhile.
    A client whose request is still unread gets a TCP reset after the answer, which Linux lets
    it read first.
    """

    def __init__(self, connections: Connections):
        self.connections = connections

    def connectionMade(self):
        self.transport.write(self.connections.refusal_answer)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        self.connections.refusing -= 1
