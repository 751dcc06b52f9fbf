"""The answers Relayman's server gives by itself, before (or instead of) the application.

Each is a whole HTTP/1.1 response with a JSON body shaped like the application's errors
(`{"detail": ...}`), and each ends its connection: `send_and_close` writes it, stops writing, and
drops the connection at most `LINGER_SECONDS` later. Until then whatever the client still sends is
read and thrown away, so that a client busy sending a body it was refused still gets to read the
answer instead of a TCP reset (the "lingering close" of nginx and Apache).
"""

import json
from http import HTTPStatus

LINGER_SECONDS = 2.0


def response(status: int, detail: str, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    body = json.dumps({"detail": detail}, ensure_ascii=True, separators=(",", ":")).encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return "\r\n".join(lines).encode("ascii") + b"\r\n\r\n" + body


def send_and_close(transport, answer: bytes, call_later) -> None:
    """Write `answer` (may be empty), close the writing side, and abort after the linger time.

    The protocol must discard what it receives from then on; `abortConnection` does nothing to
    a connection that the client closed first.
    """
    if answer:
        transport.write(answer)
    # TCP and Unix sockets can close one way; TLS (daphne's ssl: endpoints) cannot: it closes.
    getattr(transport, "loseWriteConnection", transport.loseConnection)()
    call_later(LINGER_SECONDS, transport.abortConnection)
