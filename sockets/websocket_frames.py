"""A server's WebSocket frames (RFC 6455 §5.2), for frames written straight to a connection.

Pure Python: a server frame is never masked and is always final, so its header is FIN + opcode,
then the payload length in 7, 7+16 or 7+64 bits.
"""

import struct

FIN_TEXT = 0x81
FIN_PONG = 0x8A


def text_frame(payload: bytes) -> bytes:
    """The whole frame carrying `payload`, UTF-8 text already encoded."""
    length = len(payload)
    if length < 126:
        head = bytes((FIN_TEXT, length))
    elif length < 1 << 16:
        head = struct.pack("!BBH", FIN_TEXT, 126, length)
    else:
        head = struct.pack("!BBQ", FIN_TEXT, 127, length)
    return head + payload


def pong_frame(payload: bytes) -> bytes:
    """The pong answering a ping: its payload is at most 125 bytes (RFC 6455 §5.5)."""
    if len(payload) > 125:
        raise ValueError("a control frame's payload is at most 125 bytes")
    return bytes((FIN_PONG, len(payload))) + payload
