"""The OpenAPI schema of Relayman's HTTP endpoints, as drf-spectacular builds it.

Everything here is read when the schema is generated (`manage.py spectacular`, `/api/schema`),
never per request: `EVENTS_SCHEMA` annotates `POST /events` (the view keeps no reference to
it), `complete_schema` adds the bodies' JSON Schema and documents `/healthz` and `/readyz`, plain
Django views drf-spectacular does not see, and `ProducerKeyScheme` names the producer key's
scheme. The settings and the bodies' JSON Schema are in `openapi_settings.py`.
"""

import copy

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema

from .openapi_settings import COMPONENTS, ref

ONE_EVENT = {
    "id": "8f7d6a4e-0c1b-4a52-9d55-2e6a2f1d1c10",
    "source": "/outlets/1/orders",
    "type": "created",
    "subject": "1",
    "data": {"id": "1"},
}


def detail(description: str) -> OpenApiResponse:
    """A `{"detail": ...}` answer."""
    return OpenApiResponse(ref("Detail"), description=description)


def answer_header(name: str, status: int, description: str) -> OpenApiParameter:
    """A header every answer of this status carries."""
    return OpenApiParameter(
        name,
        str,
        OpenApiParameter.HEADER,
        required=True,
        description=description,
        response=[status],
    )


BINARY_HEADERS = [
    OpenApiParameter(
        f"ce-{name}",
        str,
        OpenApiParameter.HEADER,
        description=(
            f"Binary mode: the event's {name}{' (required in binary mode)' if required else ''}. "
            "Percent-encoded UTF-8; a literal % is %25."
        ),
    )
    for name, required in (
        ("specversion", True),
        ("id", True),
        ("source", True),
        ("type", True),
        ("time", False),
        ("subject", False),
        ("dataschema", False),
    )
]

EVENTS_SCHEMA = extend_schema(
    operation_id="publish_events",
    summary="Publish CloudEvents to every socket joined to source:<source>",
    description=(
        "Accepts CloudEvents 1.0 in the three content modes of the HTTP binding. Structured: "
        "one event, `application/cloudevents+json` (or `application/json` without ce- "
        "headers). Batched: `application/cloudevents-batch+json`, an array of events, all or "
        "nothing. Binary: the attributes in `ce-*` headers (other `ce-<name>` headers are "
        "extension attributes) and the event's data as the body, of any media type: a JSON "
        "body becomes parsed data, `text/*` string data, anything else data_base64; its "
        "Content-Type becomes datacontenttype. Every answer is JSON, whatever Accept says; "
        "nothing is published for a refused request. A 201 means delivered to every "
        "subscriber connected and reading at that moment."
    ),
    tags=["events"],
    parameters=[
        *BINARY_HEADERS,
        answer_header("WWW-Authenticate", 401, 'Bearer realm="relayman"'),
        answer_header("Allow", 405, "POST"),
        answer_header("Retry-After", 503, "Seconds to wait before retrying: 1 or 5"),
    ],
    request={
        "application/cloudevents+json": ref("CloudEvent"),
        "application/json": ref("CloudEvent"),
        "application/cloudevents-batch+json": {"type": "array", "items": ref("CloudEvent")},
        "*/*": {"description": "Binary mode: the event's data, of any media type"},
    },
    responses={
        201: OpenApiResponse(
            {"oneOf": [ref("CloudEvent"), {"type": "array", "items": ref("CloudEvent")}]},
            description=(
                "Published. The normalized event as subscribers receive it (specversion "
                "filled in, binary data as data or data_base64); an array for a batch."
            ),
            examples=[OpenApiExample("one event", {**ONE_EVENT, "specversion": "1.0"})],
        ),
        400: OpenApiResponse(
            {"anyOf": [ref("AttributeErrors"), ref("BatchErrors"), ref("Detail")]},
            description=(
                "An attribute breaks a rule (keyed by attribute, and by index in a batch), or "
                '{"detail"}: the body is not JSON or not UTF-8, holds a number JSON cannot '
                "carry, the request is not valid HTTP, or a Content-Type or Accept header is "
                "over 1,024 bytes or 32 ';'."
            ),
            examples=[
                OpenApiExample("an attribute", {"source": "'source' is required"}),
                OpenApiExample("in a batch", {"1": {"source": "'source' is required"}}),
                OpenApiExample(
                    "not JSON",
                    {"detail": "the body is not valid JSON: Expecting value: line 1 column 1"},
                ),
            ],
        ),
        401: detail(
            "Producer keys are required (RELAYMAN_REQUIRE_PRODUCER_KEYS) and the bearer key "
            "is missing, unknown or deactivated; answered before the body is read."
        ),
        403: detail("The key's allowed source prefixes do not cover every event's source."),
        405: detail("Any method but POST."),
        408: detail(
            "The headers took longer than RELAYMAN_HEADER_TIMEOUT, or the body longer than "
            "RELAYMAN_BODY_TIMEOUT."
        ),
        413: detail(
            "The body is larger than RELAYMAN_MAX_EVENT_BYTES: answered from Content-Length, "
            "or as soon as a chunked body passes it, without reading the rest."
        ),
        415: detail("None of the three content modes."),
        503: detail(
            "Redis is unreachable or refuses this node (the detail says how many events of a "
            "batch were published first; Retry-After: 1), or the server holds "
            "RELAYMAN_MAX_CONNECTIONS connections already (Retry-After: 5)."
        ),
    },
    examples=[OpenApiExample("one event", ONE_EVENT, request_only=True)],
)


def probe(name: str, summary: str, ready: bool) -> dict:
    """The operation of a GET probe: 200 `ProbeStatus`, 503 too for readiness, 405 with Allow."""
    status = {"content": {"application/json": {"schema": ref("ProbeStatus")}}}
    responses = {"200": {"description": "Serving", **status}}
    if ready:
        why = "Events cannot be published (Redis), or the server is draining (SIGTERM)"
        responses["503"] = {"description": why, **status}
    responses["405"] = {
        "description": "Any method but GET and HEAD",
        "headers": {"Allow": {"schema": {"type": "string"}, "required": True}},
        "content": {"application/json": {"schema": ref("Detail")}},
    }
    return {
        "get": {
            "operationId": name,
            "summary": summary,
            "tags": ["probes"],
            "security": [{}],
            "responses": responses,
        }
    }


def complete_schema(result, generator, request, public):
    """Postprocessing hook: the bodies' components, and `/healthz` and `/readyz` beside the paths
    drf-spectacular found, at the prefix `/events` was found under (the standalone server's root,
    or a host's include). Listed after a project's other hooks, it is all a project adds; the
    components are fresh copies, so no hook can alter the next schema by rewriting them (as
    drf-spectacular's enum hook rewrites APPEND_COMPONENTS in place)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(copy.deepcopy(COMPONENTS))
    events = next((path for path in result["paths"] if path.endswith("/events")), "/events")
    prefix = events.removesuffix("events")
    result["paths"][f"{prefix}healthz"] = probe(
        "healthz", "Liveness, 200 while the process serves", False
    )
    result["paths"][f"{prefix}readyz"] = probe(
        "readyz", "Readiness, 503 while events cannot be published or the server drains", True
    )
    return result


class ProducerKeyScheme(OpenApiAuthenticationExtension):
    """Producer keys as a bearer scheme (`Authorization: Bearer <key>`)."""

    target_class = "events.auth.ProducerKeyAuthentication"
    name = "producerKey"

    def get_security_requirement(self, auto_schema):
        # A key, or none: no key is asked for unless RELAYMAN_REQUIRE_PRODUCER_KEYS is on.
        return [{self.name: []}, {}]

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A producer key (admin: Producer keys), when keys are required",
        }
