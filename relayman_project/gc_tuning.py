"""How often the served process collects cyclic garbage, and what it must not leave to it.

A server holds thousands of long-lived sockets, and one broadcast wakes them all, leaving that
many short-lived objects in flight at once. At CPython's default thresholds (a collection every
700 allocations) they outlive young collections, get promoted, and set off full collections
over every socket: a third of the CPU per delivery at 5,000 sockets (`make bench`).

Thresholds count allocations, not bytes, and a full collection is dear (0.8-1.1 s with 2,000
sockets open, measured on a busy 2-core machine): nothing large may wait for one. POST /events
keeps its body and its decoded events out of the cycles a Django request ends in
(events/views.py); `without_late_disconnect` keeps the answer, the accepted events echoed back
(up to 1 MiB), out of the ASGI handler's.
"""

import asyncio
import gc


def tune() -> None:
    gc.set_threshold(50_000, 20, 10)


def without_late_disconnect(django_asgi_app):
    """Django's ASGI handler, never told of a disconnect once its response is complete.

    daphne sends `http.disconnect` as soon as a response is finished. Django's handler, still
    listening for one, raises RequestAborted in a task its own frame refers to: that traceback
    holds the frame, and the frame the request and the response, in a reference cycle until a
    full collection (300 POSTs of 1 MB: 300 MB). With the response complete there is nothing
    left to abort, and the handler cancels its listener itself, which leaves no cycle.
    """

    async def application(scope, receive, send):
        if scope["type"] != "http":
            return await django_asgi_app(scope, receive, send)
        complete = False

        async def send_noting_the_end(message):
            nonlocal complete
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True

        async def receive_until_the_end():
            message = await receive()
            if complete and message["type"] == "http.disconnect":
                await asyncio.get_running_loop().create_future()  # until the handler cancels
            return message

        return await django_asgi_app(scope, receive_until_the_end, send_noting_the_end)

    return application
