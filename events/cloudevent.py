"""CloudEvents 1.0 attribute rules (JSON event format), free of Django.

`validate_event` takes one decoded JSON value and returns the normalized event or raises
`InvalidEvent` with one human-readable message per offending attribute (`validate_batch` does
the same for a batch). It is pure so that the HTTP serializers, the Python publish API and the
fuzz tests all share exactly the same rules.

Every rule runs in time linear in the size of what it judges, whatever a producer sends. The
patterns below use possessive quantifiers only (`*+`, `++`, `?+`: what one consumed is never
given back), and the branches of each alternation start with different characters, so a match
reads each character once; tests/test_ingest_linear.py times the worst inputs up to 1 MiB.
"""

import base64
import binascii
import re
import sys
from datetime import date
from functools import partial

SPECVERSION = "1.0"

REQUIRED = ("id", "source", "type")
_REQUIRED = frozenset(REQUIRED)
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# Errors are keyed by attribute name; a longer invalid name is cut, so that an answer quoting
# producer input stays small (its JSON escapes would multiply a long name's size).
KEY_LIMIT = 100
# Error messages an answer lists (about): judging stops there, because 1 MiB of tiny invalid
# items (`[1,1,...]`, `{"A1":1,"A2":1,...}`) would otherwise cost a second of the event loop and
# an answer thirty times the body's size.
ERRORS_LISTED = 100
# Subscribers join a source as the Phoenix topic "source:<source>", of at most 2,048 characters
# (sockets.session's cap): a longer source could be published but never joined.
MAX_SOURCE_LENGTH = 2048 - len("source:")

_NAME = re.compile(r"[a-z0-9]++")
# re.ASCII: RFC 3339 digits and RFC 2045 whitespace are ASCII, while Python's \d and \s are not.
# Each field's range is in the pattern (a leap second, :60, included), which leaves the calendar
# alone to check: the 29th to 31st of a month, and the year 0000.
_RFC3339 = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ](?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)"
    r"(?:\.\d++)?+(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)
# RFC 3986 scheme followed by ':' and no whitespace or control characters anywhere.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*+:[^\s\x00-\x1f\x7f]*+")
# RFC 9110 media type: token "/" token, then ";" parameters (token "=" token or quoted-string),
# optional whitespace around each ";" and one trailing ";" tolerated.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]++"
_QUOTED_STRING = r'"(?:\\.|[^"\\])*+"'
_PARAMETER = rf"[ \t]*+;[ \t]*+{_TOKEN}=(?:{_TOKEN}|{_QUOTED_STRING})"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:{_PARAMETER})*+[ \t]*+(?:;[ \t]*+)?+", re.ASCII)

# CloudEvents 1.0's String type excludes these code points: controls, surrogates, noncharacters.
_EXCLUDED = (
    [(0x00, 0x1F, "a control character"), (0x7F, 0x9F, "a control character")]
    + [(0xD800, 0xDFFF, "a surrogate"), (0xFDD0, 0xFDEF, "a noncharacter")]
    + [((plane << 16) | 0xFFFE, (plane << 16) | 0xFFFF, "a noncharacter") for plane in range(17)]
)


def _character_class(ranges) -> str:
    return (
        "["
        + "".join(f"{re.escape(chr(first))}-{re.escape(chr(last))}" for first, last, _ in ranges)
        + "]"
    )


# The sixteen noncharacter pairs beyond the BMP are checked only behind one cheap range: in one
# class with the others, every character would be tested against each of them (3 times slower).
_EXCLUDED_CHARACTER = re.compile(
    _character_class(r for r in _EXCLUDED if r[1] <= 0xFFFF)
    + "|[\U0001fffe-\U0010ffff](?<="
    + _character_class(r for r in _EXCLUDED if r[0] > 0xFFFF)
    + ")"
)


class InvalidEvent(ValueError):
    """An event broke one or more attribute rules; `errors` maps attribute name to message
    (for a batch: the index of each invalid event to its errors)."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


def validate_event(value) -> dict:
    """Return the normalized event (null attributes dropped, specversion filled) or raise
    InvalidEvent. `"data": null` is kept: an explicit null payload is not absent data."""
    if not isinstance(value, dict):
        raise InvalidEvent({"event": f"an event must be a JSON object, not {json_type(value)}"})
    if None in value.values():
        event = {name: v for name, v in value.items() if v is not None or name == "data"}
    else:
        event = dict(value)
    event.setdefault("specversion", SPECVERSION)
    errors = {}
    plain_limit = _PLAIN_STRINGS.get
    for name, v in event.items():
        # The common cases, judged without a call: what their checks would pass.
        if v.__class__ is str:
            if v and len(v) <= plain_limit(name, -1) and v.isprintable():
                continue
            if v == SPECVERSION and name == "specversion":
                continue
        elif name == "data":
            continue  # any JSON value
        check = _CHECKS.get(name)
        message = check(v) if check else _check_extension(name, v)
        if message:
            errors[shorten(name, KEY_LIMIT)] = message
            if len(errors) == ERRORS_LISTED:
                unjudged = len(event) - list(event).index(name) - 1
                if unjudged:
                    errors["event"] = _stopped(f"attribute {_show(name)}", unjudged, "attributes")
                    break
    if not event.keys() >= _REQUIRED:
        for name in REQUIRED:
            if name not in event:
                errors[name] = f"'{name}' is required"
    if "data_base64" in event and "data" in event:
        errors["data_base64"] = "'data' and 'data_base64' are mutually exclusive: send one of them"
    if errors:
        raise InvalidEvent(errors)
    return event


def validate_batch(value) -> list[dict]:
    """Return the normalized events of a batch, all or nothing, or raise InvalidEvent keyed by
    the index of each invalid event (up to about ERRORS_LISTED messages)."""
    if not isinstance(value, list):
        raise InvalidEvent(
            {"batch": f"a batch must be a JSON array of events, not {json_type(value)}"}
        )
    events, errors, listed = [], {}, 0
    for index, item in enumerate(value):
        try:
            events.append(validate_event(item))
        except InvalidEvent as exc:
            errors[str(index)] = exc.errors
            listed += len(exc.errors)
            if listed >= ERRORS_LISTED and index + 1 < len(value):
                errors["batch"] = _stopped(f"index {index}", len(value) - index - 1, "events")
                break
    if errors:
        raise InvalidEvent(errors)
    return events


def _stopped(where: str, unjudged: int, what: str) -> str:
    return (
        f"judging stopped at {where}, with {ERRORS_LISTED} errors listed; the {unjudged} {what} "
        "after it were not judged"
    )


def json_type(value) -> str:
    """Name a decoded JSON value's type the way a producer would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _check_specversion(v):
    if v != SPECVERSION:
        return f"'specversion' must be \"{SPECVERSION}\", got {_show(v)}"


def _non_empty_string(name):
    return partial(_non_empty_string_problem, name)


def _non_empty_string_problem(name, v):
    if v == "":
        return f"'{name}' must not be empty"
    return _string_problem(name, v)


def _string_problem(name, v):
    """Why `v` is not a CloudEvents String, or None.

    isprintable() is false for every excluded character (Unicode puts them in categories Cc, Cs
    and Cn) and is a fast single pass, so the exact search runs only for the rare text it does
    not clear (such as one with a no-break space).
    """
    if not isinstance(v, str):
        return f"'{name}' must be a string, not {json_type(v)}"
    if v.isprintable():
        return None
    found = _EXCLUDED_CHARACTER.search(v)
    if found is None:
        return None
    code = ord(found.group())
    kind = next(kind for first, last, kind in _EXCLUDED if first <= code <= last)
    return (
        f"'{name}' contains {kind}, U+{code:04X}, at index {found.start()}: CloudEvents strings "
        "exclude control characters (U+0000-U+001F, U+007F-U+009F), surrogates (U+D800-U+DFFF) "
        "and noncharacters (U+FDD0-U+FDEF, and U+FFFE and U+FFFF of every plane)"
    )


def _check_source(v):
    message = _non_empty_string_problem("source", v)
    if message is None and len(v) > MAX_SOURCE_LENGTH:
        return (
            f"'source' is {len(v)} characters long; the limit is {MAX_SOURCE_LENGTH} characters, "
            "so that subscribers can join it as the topic 'source:<source>' (2048 at most)"
        )
    return message


def _check_time(v):
    # What matches is printable ASCII, a valid String: the String rules judge only the rest.
    match = _RFC3339.fullmatch(v) if isinstance(v, str) else None
    if match and (match[3] > "28" or match[1] == "0000"):
        try:
            date(*map(int, match.group(1, 2, 3)))
        except ValueError:
            match = None
    if not match:
        return _non_empty_string_problem("time", v) or (
            f"'time' must be an RFC 3339 timestamp such as 2024-05-01T12:00:00Z, got {_show(v)}"
        )


def _matching_string(name, pattern, expected):
    """A non-empty string that matches `pattern`; `expected` says what in the error."""

    def check(v):
        message = _non_empty_string_problem(name, v)
        if message is None and not pattern.fullmatch(v):
            return f"'{name}' must be {expected}, got {_show(v)}"
        return message

    return check


def _check_data(v):
    return None  # any JSON value, null included


def _check_data_base64(v):
    if not isinstance(v, str):
        return f"'data_base64' must be a base64 string, not {json_type(v)}"
    try:
        base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return "'data_base64' is not valid base64 (RFC 4648, with padding)"


def _check_extension(name, v):
    if not _NAME.fullmatch(name):
        return (
            f"attribute name {_show(name)} is invalid: names are lower-case ASCII letters "
            "and digits only"
        )
    if isinstance(v, str):
        return _string_problem(name, v)
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        if INT_MIN <= v <= INT_MAX:
            return None
        return f"extension '{name}' is an integer out of range ({INT_MIN} to {INT_MAX})"
    return f"extension '{name}' must be a string, an integer or a boolean, not {json_type(v)}"


def shorten(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters, ending in "...": error messages quote producer input."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(v) -> str:
    """A value quoted for an error message, cheaply however long it is."""
    return shorten(repr(v[:61] if isinstance(v, str) else v))


_CHECKS = {
    "specversion": _check_specversion,
    "id": _non_empty_string("id"),
    "source": _check_source,
    "type": _non_empty_string("type"),
    "subject": _non_empty_string("subject"),
    "time": _check_time,
    "dataschema": _matching_string("dataschema", _ABSOLUTE_URI, "an absolute URI with a scheme"),
    "datacontenttype": _matching_string(
        "datacontenttype", _MEDIA_TYPE, "a media type such as application/json"
    ),
    "data": _check_data,
    "data_base64": _check_data_base64,
}
# Attributes whose whole rule is a non-empty String of at most so many characters: a printable
# one passes (see _string_problem), so validate_event passes it without calling the check.
_PLAIN_STRINGS = {
    "id": sys.maxsize,
    "source": MAX_SOURCE_LENGTH,
    "type": sys.maxsize,
    "subject": sys.maxsize,
}
