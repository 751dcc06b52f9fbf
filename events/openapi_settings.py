"""The settings of Relayman's OpenAPI schema, and the bodies it describes, free of Django.

A project's settings module imports `SPECTACULAR_SETTINGS` from here (drf-spectacular itself
cannot be imported while settings load), or lists `events.openapi.complete_schema` last among
its own POSTPROCESSING_HOOKS. The bodies are JSON Schema written out: the attribute
rules live in plain functions (cloudevent.py), not in serializer fields drf-spectacular could
read. `events/openapi.py` holds the annotations that refer to them.
"""

from .cloudevent import MAX_SOURCE_LENGTH


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


TEXT = {"type": "string", "minLength": 1}
EXTENSION_VALUE = {
    "description": "An extension attribute: a string, a 32-bit integer or a boolean",
    "oneOf": [
        {"type": "string"},
        {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
        {"type": "boolean"},
    ],
}

COMPONENTS = {
    "CloudEvent": {
        "type": "object",
        "description": (
            "A CloudEvent 1.0 in the JSON event format. A null attribute counts as absent, "
            "except data: null, an explicit null payload. Strings exclude control characters, "
            "surrogates and noncharacters. Extension attributes (names of lower-case ASCII "
            "letters and digits) are relayed untouched."
        ),
        "required": ["id", "source", "type"],
        "properties": {
            "specversion": {"type": "string", "enum": ["1.0"], "default": "1.0"},
            "id": TEXT,
            "source": {
                **TEXT,
                "maxLength": MAX_SOURCE_LENGTH,
                "description": "A URI-reference; subscribers join the channel source:<source>",
            },
            "type": {**TEXT, "description": "The name of the push subscribers receive"},
            "subject": TEXT,
            "time": {"type": "string", "format": "date-time", "description": "RFC 3339"},
            "dataschema": {"type": "string", "format": "uri", "description": "An absolute URI"},
            "datacontenttype": {"type": "string", "description": "A media type"},
            "data": {"description": "Any JSON value, null included"},
            "data_base64": {
                "type": "string",
                "format": "byte",
                "description": "Binary data in base64; never together with data",
            },
        },
        "additionalProperties": EXTENSION_VALUE,
    },
    "Detail": {
        "type": "object",
        "description": "What was wrong with the request, or why the server could not serve it",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}},
    },
    "AttributeErrors": {
        "type": "object",
        "description": (
            "Each attribute that breaks a rule, with the messages saying which rule; at most "
            "about 100, then a key saying where judging stopped"
        ),
        "additionalProperties": {"type": "string"},
    },
    "BatchErrors": {
        "type": "object",
        "description": (
            "The errors of each refused event of a batch, keyed by its index; under the key "
            "batch, why the body is not a batch, or where judging stopped"
        ),
        "additionalProperties": {"oneOf": [ref("AttributeErrors"), {"type": "string"}]},
    },
    "ProbeStatus": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {
            "status": {"type": "integer"},
            "message": {"type": "string"},
            "draining": {"type": "boolean", "description": "true from a SIGTERM to the exit"},
        },
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Relayman",
    "DESCRIPTION": (
        "Relays CloudEvents from producers to browsers: POST /events, and every Phoenix "
        "Channels socket joined to source:<source> receives each event as a push."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from validator.swagger.io: the page loads nothing from another host.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    # drf-spectacular's default hook, then Relayman's: the last adds the bodies and the probes.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "events.openapi.complete_schema",
    ],
}
