"""Generated WebSocket sessions for /socket/websocket: what one fuzzing connection sends.

A plan is a handshake (protocol version, path) and a list of steps: Phoenix messages in the
socket's own serializer or the other one, broken JSON, odd refs, topics and payloads, binary and
invalid UTF-8 frames, pings, fragmented messages, frames past the size limits, and raw frames no
conforming client sends. Every few steps, a heartbeat whose reply the client awaits confirms that
the server handled them. It ends with the client's close (a code, or none) or a dropped
connection, unless the server closed first.
"""

import json
import random
import struct
from dataclasses import dataclass, field

from tests.support.fuzz import Raw, Values, clip, dumps

TOPICS = ("source:/fuzz/ws/1", "source:/fuzz/ws/2", "source:urn:fuzz:ws")
CLIENT_CLOSE_CODES = (1000, 1001, 1003, 1008, 3000, 4000, 4321, 4999)
FIELDS = ("join_ref", "ref", "topic", "event", "payload")
# Versions phoenix.js sends (none means 1.0.0), another major one, and ones of no clear meaning.
VSNS = {"2.0.0": 45, "1.0.0": 30, None: 10, "2.1.0": 5, "3.0.0": 4, "abc": 3, "": 3}
REFUSED_VSNS = ("3.0.0",)
ODD_VSNS = ("abc", "")
MAX_FRAME_BYTES = 64 * 1024  # the server's default RELAYMAN_MAX_FRAME_BYTES
SYNC_EVERY = 5  # steps between heartbeats the client waits for
# The share of plans that send frames a server may close the socket for; the others last, to
# exercise joins, leaves and pushes over a longer life.
HOSTILE_SHARE = 0.5


@dataclass
class Step:
    kind: str  # text, utf8 (bytes in a text frame), binary, ping, fragments, raw
    data: object
    label: str
    sync: str | None = None  # the ref of a heartbeat whose reply the client waits for

    def describe(self) -> str:
        return f"{self.label}: {clip(self.data, 120)}"


@dataclass
class Plan:
    index: int
    vsn: str | None
    path: str = "/socket/websocket"
    steps: list[Step] = field(default_factory=list)
    close_code: int | None = 1000  # the client's close frame; None sends one without a code
    drop: bool = False  # end by dropping the TCP connection instead

    @property
    def v2(self) -> bool:
        return self.vsn is not None and self.vsn.startswith("2.")

    @property
    def handshake(self) -> str:
        """What the server must do with the upgrade: "accept", "refuse", or "either"."""
        if self.path != "/socket/websocket" or self.vsn in REFUSED_VSNS:
            return "refuse"
        return "either" if self.vsn in ODD_VSNS else "accept"

    @property
    def url_path(self) -> str:
        return self.path + ("" if self.vsn is None else f"?vsn={self.vsn}")

    def describe(self, upto: int | None = None) -> str:
        """The handshake, the steps up to `upto` (the last few whole, earlier frames that were not
        plain text by label), and how the client meant to end."""
        sent = self.steps if upto is None else self.steps[: upto + 1]
        earlier = [f"{step.label}@{n}" for n, step in enumerate(sent[:-4]) if step.kind != "text"]
        shown = " | ".join(step.describe() for step in sent[-4:])
        ending = "drop" if self.drop else f"close {self.close_code}"
        return (
            f"plan #{self.index} {self.url_path}, step {len(sent)}/{len(self.steps)}:"
            f" earlier {earlier}, then …{shown} (then {ending})"
        )

    def suspect(self, upto: int) -> str:
        """The last frame up to `upto` that was not plain text: most often what a close is for."""
        unusual = [step.label for step in self.steps[: upto + 1] if step.kind != "text"]
        return f"after {unusual[-1]}:" if unusual else "after text frames only:"


class Sessions(Values):
    """Plans for one connection, all drawn from its own random generator."""

    def __init__(self, rng: random.Random, v2: bool):
        super().__init__(rng)
        self.v2 = v2
        self.refs = 0

    def ref(self) -> str:
        self.refs += 1
        return str(self.refs)

    def message(self, join_ref, ref, topic, event, payload, v2: bool | None = None) -> str:
        fields = [join_ref, ref, topic, event, payload]
        if self.v2 if v2 is None else v2:
            return dumps(fields)
        return dumps(dict(zip(FIELDS, fields, strict=True)))

    def topic(self) -> str:
        return self.pick(TOPICS)

    def odd(self):
        """A value of the wrong type or size for any field."""
        return self.pick(
            [
                None,
                1,
                -1,
                1.5,
                Raw("1e400"),
                Raw("NaN"),
                True,
                [],
                {},
                "",
                "x" * self.pick([100, 10_000, 70_000]),
                Raw('"\\ud800"'),
                Raw('"a\\u0000b"'),
                "\U0001f600",
                self.json_value(),
            ]
        )

    def step(self, hostile: bool) -> Step:
        """One step; frames that may cost the socket its life only when `hostile`."""
        kinds = [
            (20, self.heartbeat),
            (16, self.join),
            (6, self.leave),
            (8, self.unknown_event),
            (4, self.ping),
            (3, self.fragments),
        ]
        if hostile:
            kinds += [
                (10, self.odd_field),
                (6, self.bad_shape),
                (6, self.bad_json),
                (3, self.other_serializer),
                (2, self.binary),
                (2, self.invalid_utf8),
                (1, self.too_big),
                (2, self.raw_violation),
            ]
        return self.rng.choices([make for _, make in kinds], [w for w, _ in kinds])[0]()

    def sync(self, name) -> Step:
        """A heartbeat whose reply the client awaits: the frames before it were all handled."""
        ref = f"sync-{name}"
        return Step("text", self.message(None, ref, "phoenix", "heartbeat", {}), "sync", sync=ref)

    def heartbeat(self) -> Step:
        return Step("text", self.message(None, self.ref(), "phoenix", "heartbeat", {}), "heartbeat")

    def join(self) -> Step:
        ref = self.ref()
        topic = self.pick(
            [
                *TOPICS,
                *TOPICS,
                "source:",
                "source:/fuzz/ws/é",
                Raw('"source:/\\ud800"'),
                Raw('"source:/a\\u0001"'),
                "source:/" + "x" * self.pick([200, 5000]),
                "room:1",
                "phoenix",
            ]
        )
        payload = self.pick([{}, {}, {"token": "x"}, {"k": "v" * 5000}, self.odd()])
        return Step("text", self.message(ref, ref, topic, "phx_join", payload), "join")

    def leave(self) -> Step:
        join_ref = self.pick([str(self.rng.randrange(1, max(2, self.refs + 1))), None])
        text = self.message(join_ref, self.ref(), self.topic(), "phx_leave", {})
        return Step("text", text, "leave")

    def unknown_event(self) -> Step:
        event = self.pick(["ping", "", "phx_reply", "phx_error", "phx_close", "new_msg", "x" * 300])
        text = self.message(None, self.ref(), self.pick([*TOPICS, "phoenix"]), event, {"a": 1})
        return Step("text", text, f"event {event[:20]!r}")

    def odd_field(self) -> Step:
        fields = [None, self.ref(), self.pick([*TOPICS, "phoenix"]), "heartbeat", {}]
        position = self.rng.randrange(5)
        fields[position] = self.odd()
        return Step("text", self.message(*fields), f"odd {FIELDS[position]}")

    def bad_shape(self) -> Step:
        text = self.pick(
            [
                dumps([None, "1", "phoenix", "heartbeat"]),
                dumps([None, "1", "phoenix", "heartbeat", {}, "extra"]),
                dumps({"ref": "1", "topic": "phoenix", "event": "heartbeat"}),
                dumps(
                    {
                        "join_ref": None,
                        "ref": "1",
                        "topic": "phoenix",
                        "event": "heartbeat",
                        "payload": {},
                        "extra": 1,
                    }
                ),
                "[]",
                "{}",
                "null",
                "1",
                '"text"',
                "",
                " ",
            ]
        )
        return Step("text", text, "bad shape")

    def bad_json(self) -> Step:
        good = self.message(None, self.ref(), "phoenix", "heartbeat", {})
        text = self.pick(
            [
                good[: self.rng.randrange(len(good))],
                good + " x",
                good.replace("{}", "{,}"),
                good.replace('"phoenix"', "'phoenix'"),
                good.replace("{}", "NaN"),
                good.replace("phoenix", "pho\x01enix"),
                "[" * self.pick([10, 1000, 100_000]),
                "[" * 5000 + "]" * 5000,
            ]
        )
        return Step("text", text, "broken JSON")

    def other_serializer(self) -> Step:
        text = self.message(None, self.ref(), "phoenix", "heartbeat", {}, v2=not self.v2)
        return Step("text", text, "the other serializer's frame")

    def ping(self) -> Step:
        return Step("ping", self.rng.randbytes(self.pick([0, 4, 125])), "ping")

    def fragments(self) -> Step:
        text = self.message(None, self.ref(), "phoenix", "heartbeat", {})
        cut = sorted(self.rng.sample(range(1, len(text)), 2))
        return Step(
            "fragments", [text[: cut[0]], text[cut[0] : cut[1]], text[cut[1] :]], "fragments"
        )

    def binary(self) -> Step:
        data = self.pick(
            [
                b"",
                self.rng.randbytes(30),
                json.dumps([None, "1", "phoenix", "heartbeat", {}]).encode(),
            ]
        )
        return Step("binary", data, "binary frame")

    def invalid_utf8(self) -> Step:
        data = self.pick(
            [b"\xff", b'[null,"1","phoenix","heartbeat",{"a":"\xc3"}]', b"\xed\xa0\x80"]
        )
        return Step("utf8", data, "invalid UTF-8 text")

    def too_big(self) -> Step:
        size = self.pick([MAX_FRAME_BYTES - 100, MAX_FRAME_BYTES + 1, 1024 * 1024 + 1])
        padding = "x" * max(0, size - 60)
        text = self.message(None, self.ref(), "phoenix", "heartbeat", {"p": padding})
        return Step("text", text, f"frame of {len(text)} bytes")

    def raw_violation(self) -> Step:
        name, frame = self.pick(
            [
                ("reserved bit set", raw_frame(0x1, b"{}", rsv=0x4)),
                ("reserved opcode", raw_frame(0x3, b"x")),
                ("unmasked frame", raw_frame(0x1, b"[]", masked=False)),
                ("ping over 125 bytes", raw_frame(0x9, b"p" * 126)),
                ("fragmented ping", raw_frame(0x9, b"p", fin=False)),
                ("continuation first", raw_frame(0x0, b"x")),
                ("close code 999", raw_frame(0x8, struct.pack("!H", 999))),
                ("close with 1 byte", raw_frame(0x8, b"\x03")),
                ("close reason not UTF-8", raw_frame(0x8, struct.pack("!H", 1000) + b"\xff")),
                ("length in 8 bytes for 3", _long_length_frame(b"abc")),
            ]
        )
        return Step("raw", frame, f"raw: {name}")


def raw_frame(
    opcode: int, payload: bytes, fin=True, rsv=0, masked=True, key=b"\x37\xfa\x21\x3d"
) -> bytes:
    """One WebSocket frame, built by hand so that it can break the rules (RFC 6455 §5.2)."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    mask_bit = 0x80 if masked else 0
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return head + payload
    return head + key + bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


def _long_length_frame(payload: bytes) -> bytes:
    """A text frame whose short length is written in the 8-byte form, which RFC 6455 forbids."""
    key = b"\x00\x00\x00\x00"
    return struct.pack("!BBQ", 0x81, 0x80 | 127, len(payload)) + key + payload


def plan_for(rng: random.Random, index: int) -> Plan:
    vsn = rng.choices(list(VSNS), list(VSNS.values()))[0]
    plan = Plan(index, vsn)
    if rng.random() < 0.03:
        plan.path = rng.choice(["/socket/websocket/x", "/socket", "/nope", "/events"])
    sessions = Sessions(rng, plan.v2)
    hostile = rng.random() < HOSTILE_SHARE
    for n in range(rng.choice([1, 5, 20, 40, 80])):
        plan.steps.append(sessions.step(hostile))
        if n % SYNC_EVERY == SYNC_EVERY - 1:
            plan.steps.append(sessions.sync(n))
    plan.steps.append(sessions.sync("end"))
    plan.close_code = rng.choice([*CLIENT_CLOSE_CODES, None])
    plan.drop = rng.random() < 0.1
    return plan
