"""CloudEvents 1.0 attribute rules (JSON event format), free of Django.

`validate_event` takes one decoded JSON value and returns the normalized event or raises
`InvalidEvent` with one human-readable message per offending attribute (`validate_batch` does
the same for a batch). It is pure so that the HTTP serializers, the Python publish API and the
fuzz tests all share exactly the same rules.
"""

import base64
import binascii
import re
from datetime import datetime

SPECVERSION = "1.0"

REQUIRED = ("id", "source", "type")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

_NAME = re.compile(r"[a-z0-9]+")
# re.ASCII: RFC 3339 digits and RFC 2045 whitespace are ASCII, while Python's \d and \s are not.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
# RFC 3986 scheme followed by ':' and no whitespace or control characters anywhere.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]*")
# RFC 2045/6838 token "/" token, then optional ";" parameters.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=({_TOKEN}|\"([^\"\\]|\\.)*\"))*\s*;?\s*",
    re.ASCII,
)


class InvalidEvent(ValueError):
    """An event broke one or more attribute rules; `errors` maps attribute name to message
    (for a batch: the index of each invalid event to its errors)."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


def validate_event(value) -> dict:
    """Return the normalized event (nulls dropped, specversion filled) or raise InvalidEvent."""
    if not isinstance(value, dict):
        raise InvalidEvent({"event": f"an event must be a JSON object, not {json_type(value)}"})
    event = {name: v for name, v in value.items() if v is not None}
    event.setdefault("specversion", SPECVERSION)
    errors = {}
    for name, v in event.items():
        check = _CHECKS.get(name)
        message = check(v) if check else _check_extension(name, v)
        if message:
            errors[name] = message
    for name in REQUIRED:
        if name not in event:
            errors[name] = f"'{name}' is required"
    if "data" in event and "data_base64" in event:
        errors["data_base64"] = "'data' and 'data_base64' are mutually exclusive: send one of them"
    if errors:
        raise InvalidEvent(errors)
    return event


def validate_batch(value) -> list[dict]:
    """Return the normalized events of a batch, all or nothing, or raise InvalidEvent keyed by
    the index of each invalid event."""
    if not isinstance(value, list):
        raise InvalidEvent(
            {"batch": f"a batch must be a JSON array of events, not {json_type(value)}"}
        )
    events, errors = [], {}
    for index, item in enumerate(value):
        try:
            events.append(validate_event(item))
        except InvalidEvent as exc:
            errors[str(index)] = exc.errors
    if errors:
        raise InvalidEvent(errors)
    return events


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
    def check(v):
        if not isinstance(v, str):
            return f"'{name}' must be a string, not {json_type(v)}"
        if not v:
            return f"'{name}' must not be empty"

    return check


def _routing_string(name):
    """`source` and `type` travel outside the payload (group names, frame fields): valid UTF-8."""
    base = _non_empty_string(name)

    def check(v):
        message = base(v)
        if message is None and not _encodable(v):
            return f"'{name}' must be valid Unicode text (it contains a lone surrogate)"
        return message

    return check


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_time(v):
    message = _non_empty_string("time")(v)
    if message:
        return message
    match = _RFC3339.fullmatch(v)
    if match:
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        try:
            # RFC 3339 allows a leap second (:60); datetime does not.
            datetime(year, month, day, hour, minute, min(second, 59))
        except ValueError:
            match = None
        else:
            offset = match.group(8)
            if second > 60 or (
                offset not in "Zz" and (int(offset[1:3]) > 23 or int(offset[4:]) > 59)
            ):
                match = None
    if not match:
        return f"'time' must be an RFC 3339 timestamp such as 2024-05-01T12:00:00Z, got {_show(v)}"


def _matching_string(name, pattern, expected):
    """A non-empty string that matches `pattern`; `expected` says what in the error."""
    base = _non_empty_string(name)

    def check(v):
        message = base(v)
        if message is None and not pattern.fullmatch(v):
            return f"'{name}' must be {expected}, got {_show(v)}"
        return message

    return check


def _check_data(v):
    return None  # any JSON value


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
    if isinstance(v, bool) or isinstance(v, str):
        return None
    if isinstance(v, int):
        if INT_MIN <= v <= INT_MAX:
            return None
        return f"extension '{name}' is an integer out of range ({INT_MIN} to {INT_MAX})"
    return f"extension '{name}' must be a string, an integer or a boolean, not {json_type(v)}"


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


_CHECKS = {
    "specversion": _check_specversion,
    "id": _non_empty_string("id"),
    "source": _routing_string("source"),
    "type": _routing_string("type"),
    "subject": _non_empty_string("subject"),
    "time": _check_time,
    "dataschema": _matching_string("dataschema", _ABSOLUTE_URI, "an absolute URI with a scheme"),
    "datacontenttype": _matching_string(
        "datacontenttype", _MEDIA_TYPE, "a media type such as application/json"
    ),
    "data": _check_data,
    "data_base64": _check_data_base64,
}
