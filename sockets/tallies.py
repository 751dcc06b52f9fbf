"""What this process's sockets did, as plain counts that `sockets.metrics` reads at scrape time.

Pushes are counted per delivery, thousands at once: a prometheus_client counter takes a lock and
more per increment, while adding to an int attribute costs tens of nanoseconds. The event loop is
the only writer, so no lock is needed. Pure Python, like `session`, which counts its joins here.

Every key is from a bounded set (a reason Relayman names, a close code within a fixed range),
never a source, a path or anything else a client chooses: each becomes a labelled series.
"""

from collections import Counter

# Close codes a client's own close is labelled with as they are: RFC 6455's (1000-1015). Any
# other code a client sends (an application's 3xxx or 4xxx) is labelled "other".
STANDARD_CODES = range(1000, 1016)


class Tallies:
    """Counts since the process started; the open sockets and joined channels follow from them."""

    __slots__ = (
        "opened",
        "closed",
        "channels_joined",
        "pushes_written",
        "dropped",
        "closes",
        "joins",
        "refused",
    )

    def __init__(self):
        self.opened = 0  # sockets accepted
        self.closed = 0  # of those, sockets gone
        self.channels_joined = 0  # memberships (socket, source) open now
        self.pushes_written = 0  # push frames handed to a connection
        self.dropped: Counter[str] = Counter()  # reason -> relayed events not pushed
        self.closes: Counter[tuple[str, str]] = Counter()  # (reason, code) -> sockets closed
        self.joins: Counter[str] = Counter()  # result -> joins answered
        self.refused: Counter[str] = Counter()  # reason -> handshakes refused


tallies = Tallies()


def client_close_code(code: int | None) -> str:
    """The code label of a close the server did not start: 1006 when no close frame came."""
    if code is None:
        return "1006"
    return str(code) if code in STANDARD_CODES else "other"
