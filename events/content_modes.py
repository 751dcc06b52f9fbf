"""The CloudEvents HTTP protocol binding's three content modes, free of Django.

`mode_for` picks the mode from the request's Content-Type and headers; `decode_json` and
`binary_event` turn a request body (and headers) into decoded event values that
`cloudevent.validate_event` then judges.

Only RFC 8259 JSON gets in, so only RFC 8259 JSON goes out to browsers: a body is UTF-8 (a BOM
is skipped), and a number is finite (`1e400` would become Infinity, which no JSON carries).
"""

import base64
import functools
import json
import re
import sys
import threading
from collections.abc import Container, Mapping
from math import inf, isfinite
from urllib.parse import unquote_to_bytes

import orjson

from .cloudevent import KEY_LIMIT, InvalidEvent, shorten

STRUCTURED, BATCH, BINARY = "structured", "batch", "binary"
HEADER_PREFIX = "ce-"


class MalformedBody(ValueError):
    """The body could not be decoded at all (not JSON, not UTF-8)."""


class NumberOutOfRange(MalformedBody):
    """The body holds a number JSON cannot carry: `literal` (1e400 overflows to infinity; NaN
    and Infinity are not JSON at all) at `path`, the keys and indices that lead to the first
    such number from the top of the document (only part of the way unless `exact`)."""

    def __init__(self, literal: str, path: tuple, exact: bool = True):
        self.literal, self.path, self.exact = literal, path, exact
        super().__init__(self.message("the body", path))

    def message(self, holder: str, path: tuple) -> str:
        """Says where the number is: "at" a pointer, or, when the search settled for part of
        the path in a very large document, "somewhere inside" it."""
        pointer = f" {json_pointer(path)}" if path else ""
        where = f" somewhere inside{pointer}" if not self.exact else f" at{pointer}" if path else ""
        return (
            f"{holder} holds {shorten(self.literal)}{where}, which JSON cannot carry: numbers "
            f"must be finite, between {-_MAX_DOUBLE!r} and {_MAX_DOUBLE!r} (JSON has no "
            "Infinity or NaN)"
        )

    def errors(self, *levels: str) -> dict:
        """Errors shaped like the rules' (`InvalidEvent.errors`), keyed by the first
        `len(levels)` steps of the path (an event's attribute; a batch's index, then the
        attribute), or by the level's own name ("batch", "event") where the number stands in
        the place of a batch or an event."""
        keys = [shorten(str(step), KEY_LIMIT) for step in self.path[: len(levels)]]
        if len(keys) < len(levels):
            keys.append(levels[len(keys)])
        errors = self.message(f"'{keys[-1]}'", self.path[len(keys) :])
        for key in reversed(keys):
            errors = {key: errors}
        return errors


_MAX_DOUBLE = sys.float_info.max


def json_pointer(path: tuple) -> str:
    """RFC 6901 pointer to a value: "/items/3" for key "items" then index 3."""
    return shorten("".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in path))


def mode_for(content_type: str, headers: Container[str]) -> str | None:
    """Content mode per the HTTP binding; None when the request is none of the three. `headers`
    holds the request's header names, in lower case (only ce-specversion is looked for)."""
    media_type = media_type_of(content_type)
    if media_type.startswith("application/cloudevents"):
        if not _is_json(media_type):
            return None  # an event format other than JSON (e.g. +xml): not supported
        return BATCH if media_type.startswith("application/cloudevents-batch") else STRUCTURED
    if "ce-specversion" in headers:
        return BINARY
    if media_type == "application/json":
        return STRUCTURED  # the original service's plain-JSON structured events
    return None


def mode_of_environ(environ: Mapping[str, str]) -> str | None:
    """`mode_for` a request given as its CGI-style environ (Django's `request.META`), which
    already holds what the mode depends on: no mapping of its headers need be built."""
    return _mode_of(environ.get("CONTENT_TYPE", ""), "HTTP_CE_SPECVERSION" in environ)


@functools.lru_cache(maxsize=64)
def _mode_of(content_type: str, binary_header: bool) -> str | None:
    """Asked twice per POST (the parser's choice, the metrics' label), for a handful of
    Content-Types: kept, bounded, as a producer may send any Content-Type."""
    return mode_for(content_type, ("ce-specversion",) if binary_header else ())


def media_type_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


# The first number JSON cannot carry that the decoder met in this thread's current document.
_first_not_finite = threading.local()


def _not_finite(literal: str) -> float:
    """Let the number in, noting it: the document is refused once decoded, which is when the
    path to the number can be found."""
    if _first_not_finite.literal is None:
        _first_not_finite.literal = literal
    return float(literal)


def _float(literal: str) -> float:
    # Called by the decoder for each literal with a fraction or an exponent: the one place that
    # sees an overflow to infinity, at the cost of a function call per such number.
    value = float(literal)
    return _not_finite(literal) if value in _INFINITIES else value


_INFINITIES = (inf, -inf)
# Built once: json.loads(text, **hooks) would build a decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_not_finite, parse_float=_float)


def decode_json(body: bytes):
    """Decode an RFC 8259 JSON document, or raise MalformedBody: UTF-8 only (a BOM is skipped)
    and finite numbers only (NumberOutOfRange).

    orjson decodes it first, two to four times as fast (a tenth of a batch's CPU). The json
    module decodes what orjson refuses (a BOM, an infinity, a lone surrogate, anything
    malformed), to say why or let it in as before, and any document where the two could differ:
    one with a run of 19 digits (orjson gives a float for an integer beyond 64 bits), or with
    more than FAST_BRACKETS brackets and braces (the json module's depth limit is what is left
    of the stack, orjson's is 1,024). Otherwise both give the same value, keys in the same order
    (tests/test_content_modes.py). Both checks are linear, in C.
    """
    if _orjson_reads_alike(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return _decode_exactly(body)


def _orjson_reads_alike(body: bytes) -> bool:
    folded = body.translate(_FOLDED)  # digits as 0, braces as brackets: two searches in one copy
    return folded.count(b"[") <= FAST_BRACKETS and _LONG_RUN not in folded


# Well within the depth the json module reaches from a view (the default recursion limit, 1,000,
# less the frames of the server, Django and DRF), and above a batch of 100 events' brackets.
FAST_BRACKETS = 500
# An integer of 18 digits or fewer fits in 64 bits; one of 19 or 20 may not.
_LONG_RUN = b"0" * 19
_FOLDED = bytes.maketrans(b"123456789{", b"000000000[")


def _decode_exactly(body: bytes):
    if not body.strip():
        raise MalformedBody("the body is empty; expected a JSON document")
    encoding = json.detect_encoding(body)
    if encoding not in ("utf-8", "utf-8-sig"):
        raise MalformedBody(
            f"the body must be UTF-8 (RFC 8259), and this one looks like {encoding.upper()}"
        )
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise MalformedBody(
            f"the body is not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    _first_not_finite.literal = None
    value = _decode(_DECODER, text)
    literal = _first_not_finite.literal
    if literal is not None:
        raise NumberOutOfRange(literal, *non_finite_path(value))
    return value


def _decode(decoder: json.JSONDecoder, text: str):
    try:
        return decoder.decode(text)
    except RecursionError:
        raise MalformedBody("the JSON document is nested too deeply") from None
    except ValueError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None


def non_finite_path(value) -> tuple[tuple, bool]:
    """Where the first infinity or NaN sits in a decoded JSON value: the keys and indices that
    lead to it, and whether that path goes all the way. The exact search visits containers in
    document order, in Python; past WALK_BUDGET of their members (a body of many small arrays,
    where it would cost several times the decoding), the C encoder finds which member of the top
    two levels holds the number instead, so the attribute, and in a batch the event, are always
    named."""
    path = _walk(value, WALK_BUDGET)
    if path is None:
        return _halves(value, levels=2), False
    return path, True


WALK_BUDGET = 50_000  # members of containers (entries of objects, items of arrays)


def _walk(value, budget: int) -> tuple | None:
    """The exact path, () when there is no such number, None past `budget` members."""
    stack = [(None, value)]  # (trail, item): a trail is (the parent's trail, key), or None
    while stack:
        trail, item = stack.pop()
        if item.__class__ is dict:
            pairs = item.items()
        elif item.__class__ is list:
            pairs = enumerate(item)
        else:
            continue
        budget -= len(item)
        if budget < 0:
            return None
        nested = []
        for key, child in pairs:
            kind = child.__class__
            if kind is float and not isfinite(child):
                trail, path = (trail, key), []
                while trail:
                    trail, step = trail
                    path.append(step)
                return tuple(reversed(path))
            if (kind is dict or kind is list) and child:
                nested.append(((trail, key), child))
        stack.extend(reversed(nested))
    return ()


def _halves(value, levels: int) -> tuple:
    """The path through the first `levels` containers to the first member holding an infinity
    or NaN, found by bisecting each container's members with the encoder, which refuses them."""
    path, node = [], value
    for _ in range(levels):
        if node.__class__ is dict:
            keys, members = list(node), list(node.values())
        elif node.__class__ is list:
            keys, members = None, node
        else:
            break
        low, high = 0, len(members)  # the first such member is in members[low:high], if any
        while high - low > 1:
            middle = (low + high) // 2
            if _holds_non_finite(members[low:middle]):
                high = middle
            else:
                low = middle
        if high - low != 1 or not _holds_non_finite(members[low : low + 1]):
            break
        path.append(low if keys is None else keys[low])
        node = members[low]
    return tuple(path)


def _holds_non_finite(members: list) -> bool:
    try:
        _encode_finite(members)
    except ValueError:
        return True
    except RecursionError:  # too deep to tell: not this way
        return False
    return False


_encode_finite = json.JSONEncoder(allow_nan=False, check_circular=False).encode


def binary_event(headers: Mapping[str, str], content_type: str, body: bytes) -> dict:
    """Build the event of a binary-mode request: attributes from `ce-*` headers, data from body.

    `headers` maps lower-case header names to values as the server decoded them (latin-1).
    """
    event, errors = {}, {}
    for header, raw in headers.items():
        if not header.startswith(HEADER_PREFIX):
            continue
        name = header[len(HEADER_PREFIX) :]
        if name == "datacontenttype":
            errors[name] = (
                "send the data's media type as Content-Type, not as a ce-datacontenttype header"
            )
            continue
        try:
            event[name] = _percent_decode(raw)
        except ValueError as exc:
            errors[name] = f"header '{header}' {exc}"
    if content_type:
        event["datacontenttype"] = content_type
    if body:
        try:
            event.update(_body_data(media_type_of(content_type), content_type, body))
        except MalformedBody as exc:
            errors["data"] = str(exc)
    if errors:
        raise InvalidEvent(errors)
    return event


def _percent_decode(raw: str) -> str:
    """The attribute value of a `ce-` header, or ValueError saying what is wrong with it."""
    # Servers hand header bytes over as latin-1; the binding says: percent-decode, then UTF-8.
    # Only the header's own surrounding whitespace (space, tab) goes: a percent-encoded space is
    # content, and so is a byte like 0xA0, which may end a UTF-8 character ("à" is C3 A0).
    value = raw.strip(" \t")
    malformed = _MALFORMED_PERCENT.search(value)
    if malformed:
        raise ValueError(
            f"has a '%' not followed by two hex digits at index {malformed.start()}: "
            "percent-encoding is '%' and two hex digits (a literal '%' is sent as %25)"
        )
    try:
        return unquote_to_bytes(value.encode("latin-1")).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("is not valid UTF-8 once percent-decoded") from None


_MALFORMED_PERCENT = re.compile("%(?![0-9A-Fa-f]{2})")


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _body_data(media_type: str, content_type: str, body: bytes) -> dict:
    if _is_json(media_type):
        return {"data": decode_json(body)}
    if not media_type:
        # No Content-Type: JSON is assumed (JSON event format, 3.1), as the cloudevents SDK
        # sends it; a body that is not JSON still travels, as bytes.
        try:
            return {"data": decode_json(body)}
        except MalformedBody:
            pass
    if media_type.startswith("text/"):
        charset = _charset(content_type) or "utf-8"
        try:
            return {"data": body.decode(charset)}
        except (LookupError, UnicodeDecodeError):
            raise MalformedBody(f"the body is not valid text in charset {charset!r}") from None
    return {"data_base64": base64.b64encode(body).decode("ascii")}


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None
