"""The CloudEvents HTTP protocol binding's three content modes, free of Django.

`mode_for` picks the mode from the request's Content-Type and headers; `decode_json` and
`binary_event` turn a request body (and headers) into decoded event values that
`cloudevent.validate_event` then judges.
"""

import base64
import json
from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from .cloudevent import InvalidEvent

STRUCTURED, BATCH, BINARY = "structured", "batch", "binary"
HEADER_PREFIX = "ce-"


class MalformedBody(ValueError):
    """The body could not be decoded at all (not JSON, not UTF-8)."""


def mode_for(content_type: str, headers: Mapping[str, str]) -> str | None:
    """Content mode per the HTTP binding; None when the request is none of the three."""
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


def media_type_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def decode_json(body: bytes):
    """Decode a JSON document strictly (no NaN/Infinity), or raise MalformedBody."""
    if not body.strip():
        raise MalformedBody("the body is empty; expected a JSON document")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise MalformedBody("the JSON document is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the body is not valid UTF-8: {exc.reason}") from None
    except ValueError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None


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
        except UnicodeDecodeError:
            errors[name] = f"header '{header}' is not valid UTF-8 once percent-decoded"
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
    # Servers hand header bytes over as latin-1; the binding says: percent-decode, then UTF-8.
    # Only the header's own surrounding whitespace (space, tab) goes: a percent-encoded space is
    # content, and so is a byte like 0xA0, which may end a UTF-8 character ("à" is C3 A0).
    return unquote_to_bytes(raw.strip(" \t").encode("latin-1")).decode("utf-8")


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
