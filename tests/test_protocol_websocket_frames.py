"""Pushes framed by Relayman read back as the same text through the `websockets` parser."""

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from sockets.websocket_frames import pong_frame, text_frame


def parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        assert not reader.buffer, "bytes left after the frame"
        return done.value
    raise AssertionError("the frame is incomplete")


# Every length encoding, at both edges: 7 bits, 16 bits, 64 bits.
@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 1_000_000])
def test_every_length_encoding_parses_back(length):
    text = "x" * length
    frame = parse(text_frame(text.encode()))
    assert (frame.opcode, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3) == (
        Opcode.TEXT,
        True,
        False,
        False,
        False,
    )
    assert frame.data.decode() == text


def test_multibyte_text_is_framed_by_its_byte_length():
    text = '[null,null,"source:/é","ünïcode",{"data":"日本語 🎉"}]'
    frame = parse(text_frame(text.encode()))
    assert frame.data.decode() == text


def test_headers_are_as_short_as_the_length_allows():
    assert len(text_frame(b"x" * 125)) == 2 + 125
    assert len(text_frame(b"x" * 126)) == 4 + 126
    assert len(text_frame(b"x" * 65536)) == 10 + 65536


@pytest.mark.parametrize("length", [0, 125])
def test_a_pong_echoes_its_ping_payload(length):
    frame = parse(pong_frame(b"p" * length))
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.PONG, True, b"p" * length)


def test_a_pong_payload_is_at_most_125_bytes():
    with pytest.raises(ValueError, match="at most 125 bytes"):
        pong_frame(b"p" * 126)
