"""Relayman's server: daphne, with the connection factories that carry Relayman's rules.

`python -m relayman_project.server` takes every option of daphne's command line (bin/serve runs
it). The one difference from `python -m daphne` is the factories the server builds its
connections with: daphne's `Server.run()` assigns `http_factory` and `ws_factory`, and the
properties below put Relayman's in their place, so none of daphne's code is copied. Every
WebSocket is built with `sockets.daphne_protocol.WebSocketProtocol`, with
`sockets.daphne_protocol.factory_options()` on top of daphne's options.

Those factories lean on daphne and Twisted internals (`server_internals`). When the installed
versions are not the tested ones, the server says so in one WARNING and runs as stock daphne.
"""

import daphne.server  # isort:skip  (installs Twisted's asyncio reactor before anything else)

import logging

from daphne.cli import CommandLineInterface as DaphneCommandLineInterface
from daphne.ws_protocol import WebSocketFactory

from . import server_internals

logger = logging.getLogger("relayman.server")


class Server(daphne.server.Server):
    """daphne's server, building its connections with Relayman's factories."""

    # Set by `run()`: whether the internals are the tested ones, so Relayman's factories apply.
    relayman_factories = False

    def run(self):
        problems = server_internals.problems()
        self.relayman_factories = not problems
        if problems:
            logger.warning(
                "event=server_stock reason=%r: serving as stock daphne, without Relayman's "
                "socket rules",
                "; ".join(problems),
            )
        super().run()

    @property
    def ws_factory(self):
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, stock):
        if self.relayman_factories:
            # Imported once daphne's command line has loaded the application, and Django with it.
            from sockets import daphne_protocol

            stock = SocketFactory(daphne_protocol, self, server=self.server_name)
        self._ws_factory = stock


class SocketFactory(WebSocketFactory):
    """daphne's WebSocket factory, building `sockets.daphne_protocol`'s protocol and options."""

    def __init__(self, rules, *args, **kwargs):
        self.protocol = rules.WebSocketProtocol
        self._rules = rules
        super().__init__(*args, **kwargs)

    def setProtocolOptions(self, **options):
        super().setProtocolOptions(**{**options, **self._rules.factory_options()})


class CommandLineInterface(DaphneCommandLineInterface):
    """daphne's command line, every option included, serving with Relayman's `Server`."""

    server_class = Server


if __name__ == "__main__":
    CommandLineInterface.entrypoint()
