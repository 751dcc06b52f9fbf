"""The ingest reference: a raw ASGI app that reads the body, parses the JSON and answers 201.

Mounted at POST /raw beside Relayman (with the bare Django view of `bench.settings` at /bare) in
one process, so that the server underneath is the same for all three and the ratios between
them are Relayman's request path alone. Served only by the benchmark.
"""

import json

from relayman_project.asgi import application as relayman

HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"2")]


async def read_body(receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def raw(scope, receive, send):
    json.loads(await read_body(receive))
    await send({"type": "http.response.start", "status": 201, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"{}"})


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/raw":
        return await raw(scope, receive, send)
    return await relayman(scope, receive, send)
