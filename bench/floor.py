"""The floor: the least a Python ASGI app can do to relay events to Phoenix V2 subscribers.

It speaks the protocol subset the benchmark uses (join, leave, heartbeat on `source:<s>`; POST
/events with one event or a batch), keeps subscribers in a dict in this process, encodes each
push frame once and writes it to every subscriber. Nothing is validated beyond what routing
needs. Served by uvicorn: `uvicorn bench.floor:app`.
"""

import json

TOPIC_PREFIX = "source:"
subscribers: dict[str, set] = {}  # source -> the ASGI send callables of its sockets


async def app(scope, receive, send):
    if scope["type"] == "websocket":
        await socket(receive, send)
    elif scope["type"] == "http":
        await http(scope, receive, send)


async def socket(receive, send):
    joined: set[str] = set()
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif message["type"] == "websocket.disconnect":
                return
            elif message.get("text"):
                await send({"type": "websocket.send", "text": reply(message["text"], joined, send)})
    finally:
        for source in joined:
            subscribers[source].discard(send)


def reply(text: str, joined: set, send) -> str:
    join_ref, ref, topic, event, _ = json.loads(text)
    status, response = "ok", {}
    source = topic[len(TOPIC_PREFIX) :] if topic.startswith(TOPIC_PREFIX) else None
    if event == "phx_join" and source is not None:
        joined.add(source)
        subscribers.setdefault(source, set()).add(send)
        response = {"messages": []}
    elif event == "phx_leave" and source in joined:
        joined.discard(source)
        subscribers[source].discard(send)
    elif topic != "phoenix":
        status, response = "error", {"reason": "unmatched topic"}
    return json.dumps([join_ref, ref, topic, "phx_reply", {"status": status, "response": response}])


async def http(scope, receive, send):
    if scope["path"] != "/events" or scope["method"] != "POST":
        await respond(send, 200, b'{"status":200}')
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    value = json.loads(body)
    events = value if isinstance(value, list) else [value]
    for event in events:
        await broadcast(event)
    await respond(send, 201, json.dumps(value, separators=(",", ":")).encode())


async def broadcast(event: dict) -> None:
    sends = subscribers.get(event["source"])
    if not sends:
        return
    frame = json.dumps([None, None, TOPIC_PREFIX + event["source"], event["type"], event])
    message = {"type": "websocket.send", "text": frame}
    for send in list(sends):
        await send(message)


async def respond(send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
