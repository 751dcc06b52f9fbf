"""Relayman's server: daphne, with the connection factories that carry Relayman's rules.

`python -m relayman_project.server` takes every option of daphne's command line (bin/serve runs
it). The one difference from `python -m daphne` is the factories the server builds its
connections with: daphne's `Server.run()` assigns `http_factory` and `ws_factory`, and the
properties below put Relayman's in their place, so none of daphne's code is copied:

- HTTP connections get deadlines, a connection cap, and bodies refused before they are read
  (`server_http`);
- every WebSocket is built with `sockets.daphne_protocol.WebSocketProtocol`, with
  `sockets.daphne_protocol.factory_options()` on top of daphne's options, and its scope offers
  the ASGI extensions that protocol carries out (`scope_extensions`).

It listens with the kernel's longest accept queue rather than Twisted's 50, so that a burst of
connections waits to be accepted instead of having its SYNs dropped (`server_connections`).

On SIGTERM the server drains (`server_drain`) before it exits. daphne's access log goes through
Python logging (`server_access_log`), as every other line does.

Those factories lean on daphne and Twisted internals (`server_internals`). When the installed
versions are not the tested ones, the server says so in one WARNING and runs as stock daphne,
which stops at once on SIGTERM.
"""

import daphne.server  # isort:skip  (installs Twisted's asyncio reactor before anything else)

import logging

from daphne.cli import CommandLineInterface as DaphneCommandLineInterface
from daphne.ws_protocol import WebSocketFactory
from twisted.internet import reactor

from events import config
from events.episodes import Episode

from . import server_access_log, server_connections, server_internals
from .server_http import Edge, EdgeHTTPFactory
from .server_requests import RequestRules

logger = logging.getLogger("relayman.server")


class Server(daphne.server.Server):
    """daphne's server, building its connections with Relayman's factories."""

    edge: Edge | None = None  # set by `run()` when the internals are the tested ones

    def run(self):
        self.action_logger = server_access_log.through_logging(self.action_logger)
        backlog = server_connections.listen_backlog()
        self.endpoints = [server_connections.with_backlog(e, backlog) for e in self.endpoints]
        logger.info("event=server_listen backlog=%d (net.core.somaxconn)", backlog)
        problems = server_internals.problems()
        if problems:
            logger.warning(
                "event=server_stock reason=%r: serving as stock daphne, without Relayman's "
                "deadlines, connection cap, early 413/401, socket rules or graceful drain",
                "; ".join(problems),
            )
        else:
            self.edge = self._edge()
            from .server_drain import Drain  # imports the apps, which daphne has loaded by now

            drain = Drain(self, config.default("DRAIN_SECONDS"))
            reactor.addSystemEventTrigger("after", "startup", drain.install)
        super().run()

    def create_application(self, protocol, scope):
        """daphne's, with the ASGI extensions the connection's protocol offers in its scope."""
        extensions = getattr(protocol, "scope_extensions", None)
        if extensions:
            scope["extensions"] = {**scope.get("extensions", {}), **extensions}
        return super().create_application(protocol, scope)

    @property
    def http_factory(self):
        return self._http_factory

    @http_factory.setter
    def http_factory(self, stock):
        self._http_factory = EdgeHTTPFactory(self, self.edge) if self.edge else stock

    @property
    def ws_factory(self):
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, stock):
        if self.edge:
            # Imported once daphne's command line has loaded the application, and Django with it.
            from sockets import daphne_protocol

            stock = SocketFactory(daphne_protocol, self.edge, self, server=self.server_name)
        self._ws_factory = stock

    def _edge(self) -> Edge:
        header_timeout = config.default("HEADER_TIMEOUT")
        body_timeout = config.default("BODY_TIMEOUT")
        quiet = config.default("EPISODE_QUIET")
        descriptors = server_connections.descriptor_limit()
        derived = server_connections.derived_cap(descriptors)
        cap = config.default("MAX_CONNECTIONS")
        if cap is None:
            cap, origin = derived, f"derived from the file descriptor limit of {descriptors}"
        else:
            origin = "RELAYMAN_MAX_CONNECTIONS"
            if cap > derived:
                logger.warning(
                    "event=max_connections_above_descriptor_limit max_connections=%d "
                    "descriptor_limit=%d: past about %d connections, new ones are closed "
                    "unanswered when accepted (logged as connections_dropped)",
                    cap,
                    descriptors,
                    derived,
                )
        logger.info(
            "event=server_edge header_timeout=%s body_timeout=%s max_connections=%d "
            "descriptor_limit=%d",
            header_timeout,
            body_timeout,
            cap,
            descriptors,
        )
        return Edge(
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            rules=RequestRules(self.root_path),
            connections=server_connections.Connections(cap, origin, descriptors, logger, quiet),
            slow=Episode(logger, "slow_clients_cut", quiet=quiet),
        )


class SocketFactory(WebSocketFactory):
    """daphne's WebSocket factory, building `sockets.daphne_protocol`'s protocol and options.

    Each socket is an upgraded HTTP connection, which the connection count took in: the count
    lets it go when the socket closes.
    """

    def __init__(self, rules, edge: Edge, *args, **kwargs):
        self.protocol = rules.WebSocketProtocol
        self._rules = rules
        self._connections = edge.connections
        super().__init__(*args, **kwargs)

    def setProtocolOptions(self, **options):
        super().setProtocolOptions(**{**options, **self._rules.factory_options()})

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.is_closed.addBoth(self._connections.release)
        return protocol


class CommandLineInterface(DaphneCommandLineInterface):
    """daphne's command line, every option included, serving with Relayman's `Server`."""

    server_class = Server


if __name__ == "__main__":
    CommandLineInterface.entrypoint()
