"""The fuzzers' own parts, in-process: cases replay from their seed, cover what they claim, and
the hand-built wire bytes are what a real parser reads."""

import json
import sys
from collections import Counter

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from tests.support.fuzz import Findings, Raw, dumps, rng_for, strict_json, tracebacks
from tests.support.fuzz_frames import plan_for, raw_frame
from tests.support.fuzz_http import REFUSE, NoAnswer, parse_answer, request_for, wire_bytes

CASES = 2000


def test_a_case_is_the_same_from_the_same_seed_and_index():
    first = request_for(rng_for(7, "http", 42), 42)
    again = request_for(rng_for(7, "http", 42), 42)
    other = request_for(rng_for(8, "http", 42), 42)
    assert (first.describe(), first.body) == (again.describe(), again.body)
    assert (first.describe(), first.body) != (other.describe(), other.body)
    assert plan_for(rng_for(7, "ws", 3), 3) == plan_for(rng_for(7, "ws", 3), 3)


def test_requests_cover_every_content_mode_and_both_expectations():
    requests = [request_for(rng_for(1, "http", index), index) for index in range(CASES)]
    modes = Counter(request.label.split(":")[0].split(" of ")[0] for request in requests)
    assert {"structured", "batch", "binary"} <= set(modes), modes
    expectations = Counter(request.expect for request in requests)
    assert min(expectations[expect] for expect in ("accept", REFUSE, None)) > CASES / 20
    assert any(len(request.body) > 1024 * 1024 for request in requests)
    assert any(not request.wire_ok for request in requests)


def test_plans_cover_both_serializers_and_every_kind_of_frame():
    plans = [plan_for(rng_for(1, "ws", index), index) for index in range(300)]
    kinds = Counter(step.kind for plan in plans for step in plan.steps)
    assert set(kinds) == {"text", "utf8", "binary", "ping", "fragments", "raw"}
    assert {plan.vsn for plan in plans} >= {"1.0.0", "2.0.0", None, "3.0.0"}
    assert any(plan.close_code is None for plan in plans)


def test_raw_pieces_are_written_verbatim():
    assert dumps({"a": [Raw("1e400"), None]}) == '{"a":[1e400,null]}'
    with pytest.raises(ValueError, match="Infinity is not RFC 8259 JSON"):
        strict_json("[Infinity]")
    assert strict_json('{"a": 1e308}') == {"a": 1e308}
    with pytest.raises(ValueError, match="1e400 overflows to infinity"):
        strict_json("[1e400]")


def test_a_hand_built_frame_reads_back_with_websockets_own_parser():
    reader = StreamReader()
    reader.feed_data(raw_frame(0x1, b"x" * 70_000))
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    assert (frame.opcode, frame.fin, len(frame.data)) == (Opcode.TEXT, True, 70_000)


def test_the_request_head_declares_the_length_it_was_told_to():
    request = request_for(rng_for(1, "http", 0), 0)
    request.content_length = 5
    head, _ = wire_bytes(request, 4000)
    assert b"\r\ncontent-length: 5\r\n" in head and head.endswith(b"\r\n\r\n")


def test_answers_are_read_past_100_continue_and_through_chunks():
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
        b'transfer-encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n'
    )
    answer = parse_answer(data)
    assert (answer.status, json.loads(answer.body)) == (201, {"a": 1})
    with pytest.raises(NoAnswer):
        parse_answer(b"garbage")


def test_findings_count_every_case_and_show_one_example_per_variant():
    findings = Findings()
    for n in range(5):
        findings.add("5xx answer", f"case {n}", variant="500 for batch:")
    findings.add("5xx answer", "case 5", variant="502 for binary:")
    report = findings.report(9, "make fuzz", "server.log")
    assert "FUZZ_SEED=9" in report and "- 5xx answer: 6 case(s)" in report
    assert "5× 500 for batch: e.g. case 0" in report and "1× 502 for binary: e.g. case 5" in report
    assert "case 1" not in report


def test_tracebacks_are_named_by_their_exception():
    log = "INFO ok\nTraceback (most recent call last):\n  File x\n    y()\nValueError: boom\nINFO\n"
    assert tracebacks(log) == ["ValueError: boom"]
    group = (
        "  + Exception Group Traceback (most recent call last):\n  |   File x\n"
        "  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)\n"
        "  +-+---------------- 1 ----------------\n    | Traceback (most recent call last):\n"
        "    |   File y\n    |     z()\n    | UnicodeEncodeError: surrogates not allowed\n"
    )
    assert tracebacks(group) == [
        "ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)",
        "UnicodeEncodeError: surrogates not allowed",
    ]


def test_strict_json_decodes_what_the_callers_stack_could_not():
    """The fuzz tests judge answers deep inside their tasks: an event nested as deeply as the
    server's own stack allowed is still decoded."""
    depth = sys.getrecursionlimit() - 20
    text = "[" * depth + "]" * depth

    def nested_calls(levels: int):
        return nested_calls(levels - 1) if levels else strict_json(text)

    value = nested_calls(100)
    for _ in range(depth - 1):
        (value,) = value
    assert value == []
