"""POST /events' DRF view with none of Django's handler around it: what issue 12's targets take.

`bench.ceiling` serves it at POST /direct, beside the raw app and Relayman, in its process with
no middleware. It reads the body as the raw app does, builds Django's `ASGIRequest` and awaits
the view the URLconf routes /events to (the same DRF APIView, with its metrics), then sends the
answer: no middleware, no URL resolution, no request signals, no thread-sensitive context, no
disconnect watch. That is the second path around the view that issue 12 rules out, so it is
measured here and served nowhere else.
"""

import io

from django.core.handlers.asgi import ASGIRequest
from django.urls import resolve

from . import raw_ingest  # sets Django up

EVENTS_VIEW = resolve("/events").func


async def direct(scope, receive, send):
    request = ASGIRequest(scope, io.BytesIO(await raw_ingest.read_body(receive)))
    response = await EVENTS_VIEW(request)
    headers = [(name.encode("ascii"), value.encode("latin-1")) for name, value in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/direct":
        return await direct(scope, receive, send)
    return await raw_ingest.application(scope, receive, send)
