"""Generated POST /events requests, and a raw HTTP/1.1 client that sends them byte for byte.

A case starts from a valid event and, most of the time, breaks one thing in it. When the broken
thing is one CloudEvents or HTTP rule certainly refuses (a missing `id`, `1e400`, a control
character in a string attribute, bad percent-encoding), the case expects a 4xx; an untouched
case expects 201; the rest only expect a documented, non-5xx JSON answer. httpx would tidy up
odd header bytes and framing, so requests are written to the socket as they are.
"""

import asyncio
import base64
import gzip
import random
from dataclasses import dataclass, field
from urllib.parse import quote

from tests.support.fuzz import Raw, Values, clip, dumps

# Sources a subscriber watches during the run: every accepted event from one must reach it.
WATCHED_SOURCES = ("/fuzz/a", "urn:fuzz:b", "https://example.com/fuzz?c=1", "/fuzz/caf%C3%A9")
ACCEPT, REFUSE = "accept", "refuse"
MAX_EVENT_BYTES = 1024 * 1024  # the server's default RELAYMAN_MAX_EVENT_BYTES

STRUCTURED_TYPES = (
    "application/json",
    "application/cloudevents+json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/cloudevents+json; charset=UTF-8",
    'application/json;charset="utf-8"',
)
BATCH_TYPE = "application/cloudevents-batch+json"
ODD_TYPES = (
    "application/json; charset=utf-16",
    "application/json; charset=latin-1",
    "application/json; charset=nope",
    "application/json; boundary=x; charset",
    "application/vnd.example+json",
    "application/cloudevents+xml",
    "application/cloudevents-batch+json; charset=utf-8",
    "text/plain",
    "text/plain; charset=latin-1",
    "text/plain; charset=nope",
    "text/plain; charset=utf-16",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "*/*",
    "application/",
    "/json",
    ";",
    "",
)
EXTENSION_NAMES = ("traceparent", "partitionkey", "seq", "x1", "region", "tenantid")
# Characters CloudEvents' string type forbids, as JSON escapes (lone surrogates cannot be str).
FORBIDDEN_ESCAPES = ("\\u0000", "\\u001f", "\\u007f", "\\u0085", "\\u009f", "\\ud800", "\\udfff")
FORBIDDEN_CHARS = ("\x00", "\x1f", "\x7f", "\x85", "\x9f", "\ufffe", "\uffff", "\U0001fffe")
BAD_PERCENT = ("%", "%G1", "%4", "%C3", "%FF", "%ED%A0%80", "%00", "%1F", "%7F", "%C2%85")
OVERFLOWS = ("1e400", "-1e400", "1E+999", "123456789e999")
NOT_JSON = ("NaN", "Infinity", "-Infinity", "undefined", "'single'", "0x10", ".5", "01", "+1")
TIMES = ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123456+02:00", "1985-04-12T23:20:50.52Z")
BAD_TIMES = ("yesterday", "2024-13-01T00:00:00Z", "2024-05-01", "2024-05-01T25:00:00Z", "")


@dataclass
class FuzzRequest:
    index: int
    label: str  # what the case is, e.g. "structured: data 1e400"
    method: str = "POST"
    target: str = "/events"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    expect: str | None = None  # ACCEPT, REFUSE, or None: any documented answer
    content_length: int | None = None  # declared, when it is not len(body)
    host: bytes | None = None
    chunked: bool = False
    wire_ok: bool = True  # well-formed HTTP: the answer must come from Relayman, as JSON
    timeout: float = 20.0

    @property
    def kind(self) -> str:
        """What cases that fail alike share: the mode and the one thing broken, or "batch"."""
        return "batch" if self.label.startswith("batch") else self.label.split(",")[0]

    def describe(self) -> str:
        head = f"#{self.index} {self.label}: {self.method} {self.target} headers={self.headers}"
        return clip(f"{head} body={self.body[:400]!r} ({len(self.body)} bytes)", 900)


class Maker(Values):
    """Events for one case, all drawn from its own random generator."""

    def source(self) -> str:
        if self.chance(0.7):
            return self.pick(WATCHED_SOURCES)
        return f"/fuzz/other/{self.rng.randrange(100)}"

    def event(self) -> dict:
        """A valid structured event."""
        event = {"id": self.word(), "source": self.source(), "type": self.word()}
        if self.chance(0.5):
            event["specversion"] = "1.0"
        for name, value in (
            ("subject", self.word),
            ("time", lambda: self.pick(TIMES)),
            ("dataschema", lambda: "https://example.com/schema.json"),
            ("datacontenttype", lambda: "application/json"),
            ("data", self.json_value),
            (self.pick(EXTENSION_NAMES), self.extension_value),
        ):
            if self.chance(0.4):
                event[name] = value()
        if "data" not in event and self.chance(0.2):
            event["data_base64"] = base64.b64encode(self.rng.randbytes(12)).decode()
        return event

    def extension_value(self):
        return self.pick([self.word(), self.rng.randrange(-(2**31), 2**31), True, False])

    def string_attribute(self, event: dict) -> str:
        names = [n for n in ("id", "source", "type", "subject") if n in event]
        names += [n for n in EXTENSION_NAMES if isinstance(event.get(n), str)]
        return self.pick(names)

    def big_string(self) -> str:
        size = self.pick([1000, 60_000, MAX_EVENT_BYTES - 200, MAX_EVENT_BYTES + 10])
        return "x" * size


# Structured events: each breaks one thing; the name says what, REFUSE when a rule refuses it.


def _broken_event(m: Maker) -> tuple[dict, str, str | None]:
    event = m.event()
    rules = [
        (REFUSE, "required attribute missing", lambda e: e.pop(m.pick(["id", "source", "type"]))),
        (REFUSE, "required attribute empty", lambda e: e.update({m.pick(["id", "type"]): ""})),
        (REFUSE, "required attribute null", lambda e: e.update({"id": None})),
        (REFUSE, "required attribute not a string", lambda e: e.update({"type": [1]})),
        (REFUSE, "specversion not 1.0", lambda e: e.update(specversion=m.pick(["0.3", 1.0]))),
        (
            REFUSE,
            "forbidden escape in a string attribute",
            lambda e: e.update(
                {m.string_attribute(e): Raw(f'"a{m.pick(FORBIDDEN_ESCAPES)}b"')},
            ),
        ),
        (
            REFUSE,
            "forbidden character in a string attribute",
            lambda e: e.update({m.string_attribute(e): f"a{m.pick(FORBIDDEN_CHARS)}b"}),
        ),
        (REFUSE, "number overflows to infinity", lambda e: e.update(data=Raw(m.pick(OVERFLOWS)))),
        (
            REFUSE,
            "overflow deep in data",
            lambda e: e.update(data={"a": [1, Raw(m.pick(OVERFLOWS))]}),
        ),
        (REFUSE, "not a JSON token", lambda e: e.update(data=Raw(m.pick(NOT_JSON)))),
        (
            REFUSE,
            "extension overflows to infinity",
            lambda e: e.update(seq=Raw(m.pick(OVERFLOWS))),
        ),
        (REFUSE, "data and data_base64", lambda e: e.update(data=1, data_base64="AA==")),
        (REFUSE, "data_base64 not base64", lambda e: e.update(data_base64="!!!")),
        (REFUSE, "bad time", lambda e: e.update(time=m.pick(BAD_TIMES))),
        (REFUSE, "relative dataschema", lambda e: e.update(dataschema="/schema.json")),
        (REFUSE, "upper-case attribute name", lambda e: e.update(Region="eu")),
        (REFUSE, "attribute name with a dash", lambda e: e.update({"x-y": "1"})),
        (REFUSE, "empty attribute name", lambda e: e.update({"": "1"})),
        (REFUSE, "extension value a float", lambda e: e.update(seq=1.5)),
        (REFUSE, "extension value an object", lambda e: e.update(seq={"a": 1})),
        (None, "extension value beyond 32 bits", lambda e: e.update(seq=2**40)),
        (None, "extension value null", lambda e: e.update(seq=None)),
        (None, "long extension name", lambda e: e.update({"x" * m.pick([21, 300]): "1"})),
        (None, "data null", lambda e: e.update(data=None)),
        (None, "huge integer", lambda e: e.update(data=Raw("9" * m.pick([400, 4400, 20000])))),
        (None, "deep nesting", lambda e: e.update(data=Raw(_nested(m.rng.randrange(1, 4000))))),
        (None, "big data", lambda e: e.update(data=m.big_string())),
        (None, "lone surrogate in data", lambda e: e.update(data=Raw('"\\ud800"'))),
        (None, "duplicate key", lambda e: e.update(data=Raw('{"k":1,"k":2}'))),
        (None, "odd source", lambda e: e.update(source=m.pick(["a b", "é", "%", "//", "?"]))),
        (None, "long value", lambda e: e.update(subject="s" * m.pick([255, 70_000]))),
        (
            None,
            "quadratic-looking datacontenttype",
            lambda e: e.update(datacontenttype="a/a" + " " * m.pick([100, 20_000]) + "x"),
        ),
        (None, "odd datacontenttype", lambda e: e.update(datacontenttype=m.pick(ODD_TYPES))),
        (None, "leap second", lambda e: e.update(time="2016-12-31T23:59:60Z")),
    ]
    expect, name, apply = m.pick(rules)
    apply(event)
    return event, name, expect


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _encode(m: Maker, document: str, expect: str | None) -> tuple[bytes, str, str | None]:
    """The document as body bytes, now and then in an encoding or shape JSON forbids."""
    encodings = [
        (None, "utf-8", lambda d: d.encode("utf-8", "surrogatepass")),
        (None, "padded", lambda d: b" \n\t" + d.encode() + b"\r\n "),
        (None, "BOM", lambda d: b"\xef\xbb\xbf" + d.encode()),
        (REFUSE, "UTF-16", lambda d: d.encode("utf-16")),
        (REFUSE, "UTF-16-LE", lambda d: d.encode("utf-16-le")),
        (REFUSE, "truncated", lambda d: d.encode()[: m.rng.randrange(max(1, len(d) - 1))]),
        (REFUSE, "trailing garbage", lambda d: d.encode() + b" x"),
        (REFUSE, "raw control character", lambda d: _in_first_string(d, "\x01").encode()),
        (REFUSE, "empty", lambda d: b""),
        (
            REFUSE,
            "invalid UTF-8",
            lambda d: _in_first_string(d, "\xff").encode("latin-1", "replace"),
        ),
    ]
    weights = [60] + [4] * (len(encodings) - 1)
    (body_expect, name, encode) = m.rng.choices(encodings, weights)[0]
    body = encode(document)
    return body, name, REFUSE if body_expect == REFUSE else expect


def _in_first_string(document: str, character: str) -> str:
    """The document with `character` inside its first string (a string of its own if none)."""
    if '"' not in document:
        return f'"{character}"'
    return document.replace('"', '"' + character, 1)


def structured(m: Maker, index: int) -> FuzzRequest:
    if m.chance(0.3):
        event, broken, expect = m.event(), "valid", ACCEPT
    else:
        event, broken, expect = _broken_event(m)
    body, encoding, expect = _encode(m, dumps(event), expect)
    content_type = m.pick(STRUCTURED_TYPES)
    if m.chance(0.1):
        content_type = m.pick(ODD_TYPES)
        expect = None
    return _post(index, f"structured: {broken}, {encoding}", content_type, body, expect)


def batch(m: Maker, index: int) -> FuzzRequest:
    events, names, expect = [], [], ACCEPT
    for _ in range(m.pick([0, 1, 2, 5, 50, 150])):
        if m.chance(0.9):
            events.append(m.event())
            continue
        event, name, broken = _broken_event(m)
        events.append(event)
        names.append(name)
        expect = REFUSE if REFUSE in (expect, broken) else None
    if not events:
        expect = None  # whether an empty batch is an error is the server's to say
    label = f"batch of {len(events)}: {', '.join(names) or 'valid'}"
    if m.chance(0.05):
        events = m.pick([{}, Raw("1e400"), "x", None, [[]], [1]])
        expect, label = REFUSE, f"batch: not a list of events ({dumps(events)})"
    body, encoding, expect = _encode(m, dumps(events), expect)
    return _post(index, f"{label}, {encoding}", BATCH_TYPE, body, expect)


def _post(index, label, content_type, body, expect) -> FuzzRequest:
    if len(body) > MAX_EVENT_BYTES:
        expect = REFUSE
    return FuzzRequest(
        index, label, headers=[(b"content-type", content_type.encode())], body=body, expect=expect
    )


# Binary mode: attributes in ce-* headers, data in the body.


def header_value(value: str) -> bytes:
    """A ce-* value as the HTTP binding writes it: percent-encoded outside printable ASCII."""
    return quote(value, safe=" !#$&'()*+,/:;<=>?@[\\]^_`{|}~").encode("ascii")


def binary(m: Maker, index: int) -> FuzzRequest:
    event, expect, label = m.event(), ACCEPT, "valid"
    event.pop("data", None)
    event.pop("data_base64", None)
    event.pop("datacontenttype", None)
    event.setdefault("specversion", "1.0")
    headers = [(f"ce-{name}".encode(), header_value(str(value))) for name, value in event.items()]
    content_type, body = m.pick(
        [
            ("application/json", dumps(m.json_value()).encode()),
            ("text/plain; charset=utf-8", m.word().encode()),
            ("application/octet-stream", m.rng.randbytes(m.rng.randrange(64))),
            ("application/vnd.example+json", b'{"a":[1,2.5,null]}'),
        ]
    )
    if m.chance(0.7):
        label, expect, content_type, body = _break_binary(m, headers, content_type, body)
    headers.append((b"content-type", content_type.encode("latin-1")))
    m.rng.shuffle(headers)
    wire_ok = all(_field_value_ok(value) for _, value in headers)
    if len(body) > MAX_EVENT_BYTES:
        expect = REFUSE
    return FuzzRequest(
        index, f"binary: {label}", headers=headers, body=body, expect=expect, wire_ok=wire_ok
    )


def _field_value_ok(value: bytes) -> bool:
    """Whether RFC 9110 allows these bytes in a field value (no controls but tab)."""
    return all(byte >= 0x20 and byte != 0x7F or byte == 0x09 for byte in value)


def _break_binary(m: Maker, headers: list, content_type: str, body: bytes):
    """Break one thing in a binary-mode request; (label, expectation, content type, body)."""

    def set_header(name: bytes, value: bytes):
        headers[:] = [(n, v) for n, v in headers if n != name] + [(name, value)]

    def drop(name: bytes):
        headers[:] = [(n, v) for n, v in headers if n != name]

    target = m.pick([b"ce-id", b"ce-source", b"ce-type"])
    rules = [
        (
            REFUSE,
            "bad percent-encoding",
            lambda: set_header(target, b"a" + m.pick(BAD_PERCENT).encode()),
        ),
        (REFUSE, "required header missing", lambda: drop(target)),
        (REFUSE, "specversion 0.3", lambda: set_header(b"ce-specversion", b"0.3")),
        (REFUSE, "ce-datacontenttype", lambda: set_header(b"ce-datacontenttype", b"text/plain")),
        # (Header names arrive lower-cased, so the invalid name is one with a dash.)
        (REFUSE, "extension name with a dash", lambda: set_header(b"ce-trace-id", b"1")),
        (None, "percent-encoded noncharacter", lambda: set_header(target, b"a%EF%BF%BE")),
        (
            None,
            "raw latin-1 bytes",
            lambda: set_header(target, bytes(m.rng.randrange(0x80, 0x100) for _ in range(4))),
        ),
        (
            None,
            "raw control byte",
            lambda: set_header(target, b"a" + bytes([m.rng.randrange(0x20)]) + b"b"),
        ),
        (None, "duplicate header", lambda: headers.append((target, b"second"))),
        (None, "upper-case header name", lambda: headers.append((target.upper(), b"x"))),
        (None, "long value", lambda: set_header(target, b"v" * m.pick([255, 8000, 60_000]))),
        (None, "surrounding spaces", lambda: set_header(target, b"  a b  ")),
        (
            None,
            "extension header",
            lambda: set_header(b"ce-" + m.pick(EXTENSION_NAMES).encode(), b"%41%20b"),
        ),
        (
            None,
            "odd extension name",
            lambda: set_header(m.pick([b"ce-", b"ce--", b"ce-a.b", b"ce-x" * 30]), b"1"),
        ),
        (None, "encoded slash and space", lambda: set_header(b"ce-source", b"/a%2Fb%20c")),
    ]
    body_rules = [  # each made only when picked
        lambda: ("JSON body not JSON", REFUSE, "application/json", b"{nope"),
        lambda: ("JSON body 1e400", REFUSE, "application/json", b'{"n": 1e400}'),
        lambda: ("JSON body NaN", REFUSE, "application/json", b"[NaN]"),
        lambda: ("JSON body UTF-16", REFUSE, "application/json", '{"a":"é"}'.encode("utf-16")),
        lambda: ("unknown charset", REFUSE, "text/plain; charset=nope", b"hello"),
        lambda: ("UTF-16 text", None, "text/plain; charset=utf-16", "héllo".encode("utf-16")),
        lambda: ("odd content type", None, m.pick(ODD_TYPES), m.rng.randbytes(m.rng.randrange(40))),
        lambda: ("no content type", None, "", b'{"a": 1}'),
        lambda: ("huge content type", None, "a/a" + " " * m.pick([200, 16_000]) + "x", b"1"),
        lambda: (
            "deep JSON body",
            None,
            "application/json",
            _nested(m.rng.randrange(1, 4000)).encode(),
        ),
        lambda: ("big body", None, "application/octet-stream", m.big_string().encode()),
        lambda: ("empty body", None, content_type, b""),
    ]
    if m.chance(0.6):
        expect, label, apply = m.pick(rules)
        apply()
        return label, expect, content_type, body
    return m.pick(body_rules)()


# Requests around the events: other methods, paths, hosts, framing.


def oddity(m: Maker, index: int) -> FuzzRequest:
    event = dumps(m.event()).encode()
    json_type = [(b"content-type", b"application/json")]
    cases = [
        lambda: FuzzRequest(
            index, "other method", method=m.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
        ),
        lambda: FuzzRequest(
            index,
            "other path",
            target=m.pick(
                ["/events/", "/events?x=%ZZ", "/events%00", "/%2e%2e/events", "/nope", "/"]
            ),
            headers=json_type,
            body=event,
        ),
        lambda: FuzzRequest(
            index, "POST /healthz", target="/healthz", headers=json_type, body=event
        ),
        lambda: FuzzRequest(
            index, "plain GET of the socket path", method="GET", target="/socket/websocket"
        ),
        lambda: FuzzRequest(
            index,
            "odd Host",
            headers=json_type,
            body=event,
            host=m.pick([b"evil.example", b"a" * 300, b"[::1", b"127.0.0.1:99999", b"x y"]),
        ),
        lambda: FuzzRequest(
            index,
            "random bytes",
            headers=[(b"content-type", m.pick(ODD_TYPES).encode())],
            body=m.rng.randbytes(200),
        ),
        lambda: FuzzRequest(index, "chunked body", headers=json_type, body=event, chunked=True),
        lambda: FuzzRequest(
            index,
            "gzip body",
            headers=[*json_type, (b"content-encoding", b"gzip")],
            body=gzip.compress(event),
        ),
        lambda: FuzzRequest(
            index,
            "Expect: 100-continue",
            headers=[*json_type, (b"expect", b"100-continue")],
            body=event,
        ),
        lambda: FuzzRequest(
            index,
            "many headers",
            headers=[*json_type, *((f"x-h{i}".encode(), b"v") for i in range(200))],
            body=event,
        ),
        lambda: FuzzRequest(
            index,
            "declared length over the limit, little sent",
            headers=json_type,
            body=b'{"id":',
            content_length=2 * 1024**3,
            expect=REFUSE,
            timeout=10.0,
        ),
    ]
    return m.pick(cases)()


GENERATORS = ((structured, 35), (batch, 15), (binary, 35), (oddity, 15))


def request_for(run_seed_rng: random.Random, index: int) -> FuzzRequest:
    m = Maker(run_seed_rng)
    generate = m.rng.choices([g for g, _ in GENERATORS], [w for _, w in GENERATORS])[0]
    return generate(m, index)


# The raw client.


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class NoAnswer(Exception):
    """The server closed the connection, or kept it, without an HTTP answer."""


def wire_bytes(request: FuzzRequest, port: int) -> tuple[bytes, bytes]:
    """The request head and body as they go on the wire."""
    host = request.host if request.host is not None else f"127.0.0.1:{port}".encode()
    lines = [f"{request.method} {request.target} HTTP/1.1".encode(), b"host: " + host]
    lines += [name + b": " + value for name, value in request.headers]
    body = request.body
    if request.chunked:
        lines.append(b"transfer-encoding: chunked")
        body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in _parts(body)) + b"0\r\n\r\n"
    elif body or request.method == "POST" or request.content_length is not None:
        length = len(body) if request.content_length is None else request.content_length
        lines.append(b"content-length: %d" % length)
    lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n", body


def _parts(body: bytes, size: int = 7) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def parse_answer(data: bytes) -> Answer:
    """The final answer in what the server sent, past any interim 1xx (100 Continue)."""
    head, _, body = data.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 1"):
        head, _, body = body.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise NoAnswer(f"not an HTTP answer: {clip(data[:200])}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return Answer(int(parts[1]), headers, body)


def _dechunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(data[:size])
        data = data[size + 2 :]
    return b"".join(out)


async def exchange(request: FuzzRequest, port: int) -> Answer:
    """Send one request on its own connection; the answer, or NoAnswer within its timeout."""
    head, body = wire_bytes(request, port)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        raise NoAnswer(f"could not connect: {exc}") from None
    sending = asyncio.create_task(_send(writer, head + body))
    received = bytearray()
    try:
        async with asyncio.timeout(request.timeout):
            while chunk := await reader.read(65536):
                received += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass  # a server may answer early, then reset a connection it will read no more from
    except TimeoutError:
        raise NoAnswer(f"no answer within {request.timeout} s") from None
    finally:
        sending.cancel()
        writer.close()
    if not received:
        raise NoAnswer("connection closed without an answer")
    return parse_answer(bytes(received))


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    try:
        writer.write(data)
        await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
