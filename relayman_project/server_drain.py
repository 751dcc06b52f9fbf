"""Graceful drain: what the server does between a SIGTERM and its exit.

A rolling deploy or `docker stop` sends SIGTERM. Stopping at once would cut every socket in the
same instant, and every phoenix.js client of the node would reconnect in the same instant too.
So, as Phoenix's socket drainer does (batches of sockets at an interval, within a shutdown time):

- at once, `/readyz` answers 503 (`events.health`) and a new WebSocket is refused with a 503
  (`server_requests`), so that load balancers send new clients to other nodes; HTTP requests,
  `POST /events` included, are still served;
- the open sockets are closed a batch every half second (`sockets.drain`), oldest first,
  spread evenly over RELAYMAN_DRAIN_SECONDS: each gets a `phx_error` per joined channel and
  close code 1012 (`sockets.session.Session.drain`), and phoenix.js reconnects, to another node;
- the process exits as soon as no socket is open and no request is in flight, or at the
  deadline, `GRACE_SECONDS` after the drain time, whatever is left;
- a second SIGTERM, or a SIGINT, exits at once.

One INFO line when the drain begins and one when it ends, with the counts and the time it took.
"""

import logging
import signal
import time

from daphne.http_protocol import WebRequest
from twisted.internet import reactor

from events import health
from sockets import drain as open_sockets

logger = logging.getLogger("relayman.server")

GRACE_SECONDS = 5  # after the last batch, for closes and requests to finish
CHECK_INTERVAL = 0.1  # seconds between two looks at whether anything is left


class Drain:
    """The drain of one server: started by the first SIGTERM, ended by its exit."""

    def __init__(self, server, seconds: int):
        self.server = server
        self.seconds = seconds
        self.rounds = open_sockets.rounds(seconds)
        self.interval = seconds / self.rounds
        self.started: float | None = None
        self.asked: set = set()  # the sockets told to close
        self.batches_done = False
        self.ended = False

    def install(self) -> None:
        """Take SIGTERM and SIGINT over from Twisted (it installs its own at startup)."""
        signal.signal(signal.SIGTERM, self._signalled)
        signal.signal(signal.SIGINT, self._signalled)

    def _signalled(self, number, frame) -> None:
        reactor.callFromThread(self._on_signal, signal.Signals(number))

    def _on_signal(self, received: signal.Signals) -> None:
        if received == signal.SIGTERM and self.started is None:
            self.begin()
        elif self.started is None:
            reactor.stop()
        else:
            self.end(f"{received.name} during the drain")

    def begin(self) -> None:
        self.started = time.monotonic()
        health.start_draining()
        self.server.edge.rules.draining = True
        logger.info(
            "event=drain_started sockets=%d requests=%d drain_seconds=%s batches=%d "
            "deadline_seconds=%s: /readyz answers 503 and new sockets are refused",
            open_sockets.count(),
            self._requests(),
            self.seconds,
            self.rounds,
            self.seconds + GRACE_SECONDS,
        )
        reactor.callLater(self.seconds + GRACE_SECONDS, self.end, "deadline")
        self._close_batch(0)
        self._check()

    def _close_batch(self, index: int) -> None:
        if self.ended:
            return
        waiting = open_sockets.count() - sum(1 for s in self.asked if open_sockets.is_open(s))
        size = open_sockets.batch_size(waiting, self.rounds - index)
        batch = open_sockets.oldest(size, self.asked)
        self.asked.update(batch)
        open_sockets.drain(batch)
        logger.debug(
            "event=drain_batch batch=%d of=%d sockets=%d at=%.3f",
            index + 1,
            self.rounds,
            len(batch),
            time.monotonic() - self.started,
        )
        if index + 1 < self.rounds:
            reactor.callLater(self.interval, self._close_batch, index + 1)
        else:
            self.batches_done = True

    def _check(self) -> None:
        if self.ended:
            return
        if self.batches_done:  # sockets whose handshake was under way when the drain began
            late = open_sockets.oldest(open_sockets.count(), self.asked)
            self.asked.update(late)
            open_sockets.drain(late)
        if open_sockets.count() == 0 and self._requests() == 0:
            self.end("done")
        else:
            reactor.callLater(CHECK_INTERVAL, self._check)

    def _requests(self) -> int:
        """HTTP requests in flight: daphne's requests not yet finished."""
        return sum(
            1
            for protocol, details in self.server.connections.items()
            if isinstance(protocol, WebRequest) and "disconnected" not in details
        )

    def end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        logger.info(
            "event=drain_ended reason=%r seconds=%.2f sockets_closed=%d sockets_left=%d "
            "requests_left=%d",
            reason,
            time.monotonic() - self.started,
            sum(1 for s in self.asked if not open_sockets.is_open(s)),
            open_sockets.count(),
            self._requests(),
        )
        reactor.stop()
