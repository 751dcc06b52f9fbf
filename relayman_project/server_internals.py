"""The daphne and Twisted internals Relayman's server builds on, and the check that they are there.

`relayman_project.server` replaces daphne's two connection factories with its own, and its HTTP
edge overrides hooks of Twisted's HTTP parser that are not public API (`allHeadersReceived`,
`gotLength`, `handleContentChunk`, the channel wrapper daphne's factory builds). Those are locked
to the versions they were tested with: with any other version, or with one of them missing, the
server runs as stock daphne does and says so once at start.
"""

from importlib.metadata import PackageNotFoundError, version

TESTED = {"daphne": "4.2.3", "twisted": "26.10.0"}


def problems() -> list[str]:
    """What differs from the tested internals; empty when everything is as tested."""
    found = []
    for package, tested in TESTED.items():
        try:
            installed = version(package)
        except PackageNotFoundError:
            installed = "none"
        if installed != tested:
            found.append(f"{package} {installed} is installed, {tested} was tested")
    found.extend(f"{name} is missing" for name in _missing())
    return found


def _missing() -> list[str]:
    from daphne import http_protocol, server, ws_protocol
    from twisted.web import http

    required = {
        server.Server: ("run", "create_application", "protocol_connected", "protocol_disconnected"),
        http_protocol.HTTPFactory: ("buildProtocol",),
        http_protocol.WebRequest: ("process", "basic_error"),
        ws_protocol.WebSocketFactory: ("buildProtocol", "setProtocolOptions"),
        http.HTTPChannel: (
            "allHeadersReceived",
            "allContentReceived",
            "rawDataReceived",
            "requestDone",
            "connectionLost",
            "_respondToBadRequestAndDisconnect",
            "lineReceived",
            "lineLengthExceeded",
        ),
        http.Request: ("gotLength", "handleContentChunk"),
    }
    missing = [
        f"{owner.__module__}.{owner.__qualname__}.{name}"
        for owner, names in required.items()
        for name in names
        if not hasattr(owner, name)
    ]
    if not hasattr(http, "_GenericHTTPChannelProtocol"):
        missing.append("twisted.web.http._GenericHTTPChannelProtocol")
    return missing
