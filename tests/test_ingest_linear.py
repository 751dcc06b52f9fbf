"""Judging a producer's input costs time linear in its size, on the worst inputs we know of.

Each case builds the hardest input of a given size for one rule (patterns that would backtrack,
text the fast paths do not clear, error paths that search) and times judging it at sizes
doubling up to the body limit: doubling the input three times must multiply the time by about
eight (linear), not sixty-four (quadratic), and the largest must stay within a bound that keeps
the event loop responsive. The bound is a multiple of the time the json module takes to decode
a reference document of 1 MiB, measured in the same rounds: these machines are shared, and
their speed moved by 2× within a day, so a bound in seconds would judge the machine. A body is
measured against a document that makes as many objects as the heaviest bodies do (floats): on a
loaded machine making objects (the allocator, page faults) slowed by 2× where parsing did not.

Times are the thread's CPU time (what the event loop pays), the least of a few runs, with the
cyclic garbage collector paused: neither other processes on a busy machine nor collections of
the rest of the heap count.
"""

import gc
import json
import time

import pytest

from events import content_modes
from events.cloudevent import InvalidEvent, validate_batch, validate_event

LIMIT = 1024 * 1024  # the default RELAYMAN_MAX_EVENT_BYTES: no body is larger
SIZES = [LIMIT >> shift for shift in range(8, -1, -1)]  # 4 KiB .. 1 MiB, doubling
# Doubling the input three times: linear costs eight times the time, quadratic sixty-four. Three
# doublings rather than one, because one machine's noise (and a large input's cache misses) alone
# can make a doubling cost three times; on a loaded machine, the page faults of a 1 MiB body's
# decoded values made three doublings cost 26.8 times once (2026-12-03). Half of quadratic's 64.
STEPS = 3
RATIO = 32.0
MEASURABLE = 0.005  # seconds: a ratio to a shorter time is mostly noise
# The references: json.loads of 1 MiB of small integers (no object made: Python keeps them), or
# of floats (one object each), all in C: about 0.02-0.05 and 0.05-0.08 s. Made per case, not
# kept: a module's 1 MiB string would be found by tests/test_memory.py's walker.
RULE_REFERENCE = ("1,", "1")
BODY_REFERENCE = ("0.5,", "0.5")
RULE_BOUND = 2.0  # × the integers, to judge an attribute of 1 MiB (the slowest rule: about 1×)
# × the floats, to decode a body of 1 MiB. The slowest case (floats, each through a Python call)
# measured 2.6× them, and 5.4× the integers, on an idle machine (2026-12-03); 10× the integers
# on a loaded one, which failed a clean-clone run against the integers' bound of 10×.
BODY_BOUND = 8.0
MINIMAL = {"id": "1", "source": "/s", "type": "t"}


def refused(name, value):
    with pytest.raises(InvalidEvent) as caught:
        validate_event({**MINIMAL, name: value})
    assert name in caught.value.errors or len(name) > 100  # a long name's key is cut short


def accepted(name, value):
    assert validate_event({**MINIMAL, name: value})[name] == value


def header(value):
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}
    with pytest.raises(InvalidEvent) as caught:
        content_modes.binary_event({**headers, "ce-subject": value}, "", b"")
    assert "subject" in caught.value.errors


def batch(items: list):
    """Judge a decoded batch (decoding many small objects is json's own cost, and not quite
    linear: the allocator's)."""
    with pytest.raises(InvalidEvent):
        validate_batch(items)


def body(document: str):
    with pytest.raises(content_modes.NumberOutOfRange):
        content_modes.decode_json(document.encode())


def times(unit: str, size: int) -> str:
    """`unit` repeated to about `size` characters."""
    return unit * (size // len(unit))


def case(build, judge, what):
    bound, reference = (
        (BODY_BOUND, BODY_REFERENCE) if judge is body else (RULE_BOUND, RULE_REFERENCE)
    )
    return pytest.param(build, judge, bound, reference, id=what)


def datacontenttype(value):
    refused("datacontenttype", value)


CASES = [
    case(lambda n: "a/a" + " " * n + "x", datacontenttype, "media type: spaces, junk"),
    case(lambda n: "a/a;" + " " * n + "x", datacontenttype, "media type: ';', spaces, junk"),
    case(
        lambda n: "a/a" + times("; a=b", n) + " x", datacontenttype, "media type: parameters, junk"
    ),
    case(lambda n: "a/a" + ";" * n, datacontenttype, "media type: semicolons"),
    case(
        lambda n: 'a/a; a="' + times('\\"', n), datacontenttype, "media type: open quote, escapes"
    ),
    case(lambda n: 'a/a; a="' + "b" * n, datacontenttype, "media type: open quoted string"),
    case(lambda n: "a/" + "a" * n + " =", datacontenttype, "media type: long subtype, junk"),
    case(
        lambda n: "a/a" + times(" ; a=b", n) + " ;",
        lambda v: accepted("datacontenttype", v),
        "media type: many parameters, valid",
    ),
    case(
        lambda n: "2024-05-01T12:00:00." + "1" * n + "x",
        lambda v: refused("time", v),
        "time: long fraction, junk",
    ),
    case(lambda n: "a" * n, lambda v: refused("dataschema", v), "dataschema: no colon"),
    case(lambda n: "a:" + "b" * n + " ", lambda v: refused("dataschema", v), "dataschema: space"),
    case(lambda n: "a" * n + "A", lambda v: refused(v, 1), "extension name: capital at the end"),
    case(lambda n: "a" * n + "\x00", lambda v: refused("subject", v), "string: control at the end"),
    case(
        lambda n: "\xa0" * n + "\U0010ffff",
        lambda v: refused("subject", v),
        "string: non-printable text, noncharacter at the end",
    ),
    case(lambda n: "\u200d" * n, lambda v: accepted("subject", v), "string: non-printable, valid"),
    case(lambda n: "A" * n + "!", lambda v: refused("data_base64", v), "data_base64: junk"),
    case(lambda n: "%" * n, header, "ce- header: lone percent signs"),
    case(lambda n: times("%4", n), header, "ce- header: '%' and one hex digit"),
    case(lambda n: "[" + times("[0],", n) + "[1e400]]", body, "body: overflow after arrays"),
    case(lambda n: "[" + times('{"a":0},', n) + '{"a":1e400}]', body, "body: after objects"),
    case(lambda n: "[" + times("0.5,", n) + "1e400]", body, "body: overflow after floats"),
    case(lambda n: "[" * 500 + times("0,", n) + "1e400" + "]" * 500, body, "body: deep overflow"),
    case(lambda n: "1" * n + ".5e400", body, "body: long overflowing literal"),
    case(lambda n: [1] * (n // 2), batch, "batch: numbers (1 MiB as JSON), each an invalid event"),
    case(lambda n: [{}] * (n // 3), batch, "batch: empty objects (1 MiB as JSON), each invalid"),
]


def least_cpu_seconds(judge, inputs: list, bound: float, reference_items, rounds: int = 5):
    """The least CPU time judging each input took over a few rounds, and the reference's: a JSON
    array of 1 MiB of `reference_items` (item and separator, last item). Each round times the
    reference, then all inputs in turn, so a busy moment of the machine slows each alike; the
    first goes from the smallest up and gives up at an input far over `bound` (a quadratic rule
    would take hours on the largest)."""
    item, last = reference_items
    document = "[" + item * ((LIMIT - len(last) - 2) // len(item)) + last + "]"
    reference = float("inf")
    best = [float("inf")] * len(inputs)
    gc.disable()
    try:
        for _ in range(rounds):
            reference = min(reference, cpu_seconds(json.loads, document))
            for index, value in enumerate(inputs):
                best[index] = min(best[index], cpu_seconds(judge, value))
                assert best[index] < 10 * bound * reference, (
                    f"{len(value)} characters took {best[index]:.1f} s"
                )
    finally:
        gc.enable()
    return best, reference


def cpu_seconds(judge, value) -> float:
    start = time.thread_time()
    judge(value)
    return time.thread_time() - start


@pytest.mark.parametrize("build, judge, bound, reference_items", CASES)
def test_judging_time_grows_linearly_up_to_the_body_limit(build, judge, bound, reference_items):
    inputs = [build(size) for size in SIZES]
    seconds, reference = least_cpu_seconds(judge, inputs, bound, reference_items)
    for size, previous, current in zip(SIZES[STEPS:], seconds, seconds[STEPS:], strict=False):
        if previous >= MEASURABLE:
            assert current < RATIO * previous, (
                f"{size >> STEPS} -> {size} characters took {previous:.4f} -> {current:.4f} s"
            )
    assert seconds[-1] < bound * reference, (
        f"{LIMIT} characters took {seconds[-1]:.3f} s of CPU, {seconds[-1] / reference:.1f}× "
        f"json.loads of the reference, [{reference_items[0]}...] ({reference:.3f} s)"
    )
