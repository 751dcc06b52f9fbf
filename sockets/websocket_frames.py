"""A server's WebSocket text frame (RFC 6455 §5.2), for pushes written straight to a connection.

Pure Python: a server frame is never masked, and a push is one final frame, so its header is
FIN + opcode 1, then the payload length in 7, 7+16 or 7+64 bits.
"""

import struct

FIN_TEXT = 0x81


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
