"""POST /events: the content mode picks the decoder, the CloudEvents rules judge, `publish` relays.

A plain async Django view, so that a POST runs on the event loop from end to end: no thread hop
per request, and nothing done that a CloudEvent does not need (adrf's view went to a thread for
DRF's checks, and DRF's negotiation, parsers and serializer took 70 of its 114 µs per event even
without that). Any answer but 201 is a `Refusal`.
"""

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from . import config, content_modes
from .auth import check_sources, producer_key
from .cloudevent import InvalidEvent, validate_batch, validate_event
from .publishing import LayerUnavailable, publish
from .refusal import Refusal


@csrf_exempt
async def post_events(request):
    """Publish the event, or the batch, of a POST; answer with what subscribers receive."""
    try:
        key = producer_key(request)  # before the body is read
        if request.method != "POST":
            raise Refusal(405, f'Method "{request.method}" not allowed.', headers={"Allow": "POST"})
        content_type = request.META.get("CONTENT_TYPE", "")
        mode = content_modes.mode_for(content_type, request.headers)
        if mode is None:
            raise Refusal(415, _unsupported(content_type or "(none)"))
        events = _events(mode, content_type, request)
        check_sources(key, events)
        payloads = await publish(events)
    except Refusal as refusal:
        return refusal.response()
    except LayerUnavailable as unavailable:
        return Refusal(503, str(unavailable.detail), headers={"Retry-After": "1"}).response()
    text = "[" + ",".join(payloads) + "]" if mode == content_modes.BATCH else payloads[0]
    return HttpResponse(text, status=201, content_type="application/json")


def _events(mode: str, content_type: str, request) -> list[dict]:
    """The request's events, validated; a Refusal (400, 413) names what is wrong."""
    body = _body(request)
    try:
        if mode == content_modes.BINARY:
            headers = {name.lower(): value for name, value in request.headers.items()}
            return [validate_event(content_modes.binary_event(headers, content_type, body))]
        value = content_modes.decode_json(body)
        return validate_batch(value) if mode == content_modes.BATCH else [validate_event(value)]
    except content_modes.MalformedBody as exc:
        raise Refusal(400, str(exc)) from None
    except InvalidEvent as exc:
        raise Refusal(400, errors=exc.errors) from None


def _body(request) -> bytes:
    """The body within the limit; a chunked request declares no length, so count it too."""
    limit = config.get("MAX_EVENT_BYTES")
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    body = b"" if declared > limit else request.body
    size = max(declared, len(body))
    if size > limit:
        raise Refusal(
            413,
            f"The body is {size} bytes; the limit is {limit} bytes (RELAYMAN_MAX_EVENT_BYTES, "
            "or 'maximum event size' in the admin's relay settings)",
        )
    return body


def _unsupported(media_type: str) -> str:
    return (
        f"Unsupported media type {media_type!r}: send application/cloudevents+json, "
        "application/cloudevents-batch+json, application/json, or a binary-mode event with "
        "ce-* headers"
    )
