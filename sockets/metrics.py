"""The socket side's metrics, made from `tallies` when `/metrics` is scraped.

Nothing here runs per push: the consumer adds to plain ints (`sockets.tallies`), and this
collector reads them, along with the gauges that follow from them (sockets open, channels joined).
"""

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .tallies import Tallies, tallies


class SocketsCollector(Collector):
    def __init__(self, counts: Tallies = tallies):
        self.counts = counts

    def collect(self):
        counts = self.counts
        yield GaugeMetricFamily(
            "relayman_sockets_open", "WebSockets open now", value=counts.opened - counts.closed
        )
        yield CounterMetricFamily(
            "relayman_sockets_opened", "WebSockets accepted", value=counts.opened
        )
        yield _labelled(
            CounterMetricFamily(
                "relayman_sockets_closed",
                "WebSockets gone, by why (who closed them) and close code",
                labels=["reason", "code"],
            ),
            counts.closes,
        )
        yield _labelled(
            CounterMetricFamily(
                "relayman_handshakes_refused",
                "WebSocket handshakes refused (a 403), by why",
                labels=["reason"],
            ),
            counts.refused,
        )
        yield _labelled(
            CounterMetricFamily(
                "relayman_joins", "Channel joins answered, by result", labels=["result"]
            ),
            counts.joins,
        )
        yield GaugeMetricFamily(
            "relayman_channels_joined",
            "Channel memberships now: every channel each open socket has joined",
            value=counts.channels_joined,
        )
        yield CounterMetricFamily(
            "relayman_pushes_written",
            "Events pushed: push frames written to a socket",
            value=counts.pushes_written,
        )
        yield _labelled(
            CounterMetricFamily(
                "relayman_pushes_dropped",
                "Events relayed to a socket that never pushed them, by why",
                labels=["reason"],
            ),
            counts.dropped,
        )


def _labelled(family, counts: dict):
    for key, value in sorted(counts.items()):
        family.add_metric(key if isinstance(key, tuple) else (key,), value)
    return family
