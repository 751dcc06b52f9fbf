"""A condition that repeats (a bad Host header, an unreachable Redis), logged as one episode.

Under attack or during an outage the same condition can arise thousands of times a second; a line
per occurrence would drown the log and cost the server as much as the answer. An `Episode` logs
one line when the condition starts, counts its occurrences, and one line when it ends, with the
count and how long it lasted:

    event=bad_host_started host='evil.example' allowed_hosts=['localhost']
    event=bad_host_ended count=100 seconds=12.0

It ends when the caller says so (`end()`: Redis answers again) or, given `quiet`, once it has not
recurred for that many seconds: noticed by a timer on the running event loop, or, for a caller
with no running loop, at its next occurrence. No thread is started.
"""

import asyncio
import logging
import time


class Episode:
    def __init__(
        self,
        logger: logging.Logger,
        event: str,
        *,
        quiet: float | None = None,
        level: int = logging.WARNING,
        labels: dict | None = None,
        clock=time.monotonic,
    ):
        """`labels` are fields of both lines, telling one episode from another of the same event."""
        self.logger = logger
        self.event = event
        self.labels = _fields(labels or {})
        self.quiet = quiet
        self.level = level
        self.clock = clock
        self.count = 0
        self.started: float | None = None
        self.last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    @property
    def active(self) -> bool:
        return self.started is not None

    def occurred(self, **details) -> None:
        """Count one occurrence; the first of an episode is logged, with `details` as fields."""
        now = self.clock()
        if self.active and self.quiet is not None and now - self.last >= self.quiet:
            self.end()  # it went quiet while no timer was watching
        self.last = now
        self.count += 1
        if self.started is None:
            self.started = now
            self.logger.log(
                self.level, "event=%s_started%s%s", self.event, self.labels, _fields(details)
            )
        self._watch()

    def end(self, **details) -> None:
        """Log the end of the episode, if one is under way, with its count and duration."""
        if self.started is None:
            return
        # An episode that ends by going quiet lasted until its last occurrence.
        until = self.last if self.quiet is not None else self.clock()
        self.logger.log(
            self.level,
            "event=%s_ended%s count=%d seconds=%.1f%s",
            self.event,
            self.labels,
            self.count,
            until - self.started,
            _fields(details),
        )
        self.count, self.started = 0, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _watch(self) -> None:
        """Make sure a timer on the running loop will notice the quiet (one timer at a time)."""
        if self.quiet is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # noticed lazily, at the next occurrence
        if self._timer is not None and self._timer_loop is loop:
            return
        self._timer, self._timer_loop = loop.call_later(self.quiet, self._check), loop

    def _check(self) -> None:
        self._timer = None
        if self.started is None:
            return
        remaining = self.last + self.quiet - self.clock()
        if remaining > 0:
            self._timer = self._timer_loop.call_later(remaining, self._check)
        else:
            self.end()


def _fields(details: dict) -> str:
    return "".join(f" {name}={value!r}" for name, value in details.items())
