"""Publish CloudEvents from Python code in the same project, without an HTTP round trip.

An event is given as a dict, as keyword attributes, or both (keywords win). It is judged by the
same rules as POST /events (`cloudevent.validate_event`, after the same strict JSON decoding),
gets an `id` (a UUID4) and a `time` (now, UTC) when it has none, and is published once through
`publishing.publish`. Values JSON cannot carry directly (datetimes, decimals, UUIDs...) are
converted as Django's JSON encoder does, so `time=timezone.now()` or
`data=model_to_dict(order)` just work; NaN and infinities are refused. No producer key is
checked: code in the project is trusted.
"""

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from .cloudevent import InvalidEvent, validate_event
from .content_modes import NumberOutOfRange, decode_json
from .publishing import LayerUnavailable
from .publishing import publish as publish_events

__all__ = ["InvalidEvent", "LayerUnavailable", "apublish", "publish", "publish_on_commit"]


def publish(event: Mapping | None = None, /, **attributes) -> dict:
    """Publish one event now and return it as subscribers receive it. From sync code only:
    in async code, `await apublish(...)`."""
    prepared = prepare(event, attributes)
    async_to_sync(publish_events)([prepared])
    return prepared


async def apublish(event: Mapping | None = None, /, **attributes) -> dict:
    """Publish one event now and return it as subscribers receive it."""
    prepared = prepare(event, attributes)
    await publish_events([prepared])
    return prepared


def publish_on_commit(event: Mapping | None = None, /, **attributes) -> dict:
    """Validate now; publish once the current transaction of the default database commits
    (at once outside a transaction), never if it rolls back. Returns the event to be published.
    """
    prepared = prepare(event, attributes)
    # robust: a failure to publish is logged and does not stop the other on-commit callbacks.
    transaction.on_commit(lambda: async_to_sync(publish_events)([prepared]), robust=True)
    return prepared


def prepare(event: Mapping | None, attributes: dict) -> dict:
    """The normalized event to publish, or InvalidEvent naming every bad attribute."""
    if event is not None and not isinstance(event, Mapping):
        raise InvalidEvent({"event": f"an event must be a dict, not {type(event).__name__}"})
    values, errors = {}, {}
    for name, value in {**(event or {}), **attributes}.items():
        if not isinstance(name, str):
            errors[repr(name)] = f"attribute names are strings, not {type(name).__name__}"
            continue
        try:
            values[name] = _as_json(value)
        except NumberOutOfRange as exc:
            errors[name] = f"'{name}' cannot be encoded as JSON: {exc.message('it', exc.path)}"
        except (TypeError, ValueError) as exc:
            errors[name] = f"'{name}' cannot be encoded as JSON: {exc}"
        except RecursionError:
            errors[name] = f"'{name}' cannot be encoded as JSON: it is nested too deeply"
    if errors:
        raise InvalidEvent(errors)
    if values.get("id") is None:
        values["id"] = str(uuid.uuid4())
    if values.get("time") is None:
        values["time"] = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return validate_event(values)


def _as_json(value):
    """The value as it would arrive in a POSTed body, decoded as strictly; a fresh copy the
    caller cannot mutate."""
    return decode_json(json.dumps(value, cls=DjangoJSONEncoder).encode())
