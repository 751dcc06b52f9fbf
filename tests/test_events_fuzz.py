"""Property: no body, in any content mode, makes POST /events answer with a server error.

Hypothesis drives Django's test client in-process for speed (FUZZ_EXAMPLES per property; `make
fuzz` raises it); JSON nested right at the decoder's depth limit also goes through a real daphne
process. tests/test_fuzz_http.py sends thousands of generated requests through a real server.
"""

import json

import httpx
import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.cloudevent import validate_event
from events.publishing import encode
from tests.support.fuzz import count

ANSWERS = {201, 400, 413, 415}
ATTRIBUTES = [
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "dataschema",
    "datacontenttype",
    "subject",
    "data",
    "data_base64",
    "traceparent",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "application/vnd.example+json",
    "text/plain",
    "text/plain; charset=latin-1",
    "text/plain; charset=nope",
    "application/octet-stream",
    "",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Values that pass some rules, so that examples get past the first check.
plausible = st.sampled_from(
    ["1.0", "", "/s", "2024-05-01T12:00:00Z", "https://x/y", "application/json", "AP8=", "t"]
)
attribute_values = plausible | json_values
# Random keys, attribute keys, and events that have the three required attributes.
events = st.dictionaries(
    st.sampled_from(ATTRIBUTES) | st.text(max_size=12), attribute_values, max_size=8
) | st.fixed_dictionaries(
    {"id": plausible | st.text(), "source": plausible | st.text(), "type": plausible},
    optional={name: attribute_values for name in ATTRIBUTES[4:]},
)
structured_bodies = events | json_values
batch_bodies = st.lists(events | json_values, max_size=4) | json_values

# Header values as servers hand them over (latin-1 text), often with percent-escapes.
header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=20
) | st.lists(st.sampled_from(["%", "%2F", "%C3", "%BC", "%FF", "%20", "a", " ", "é"])).map("".join)
header_names = st.sampled_from([f"ce-{name}" for name in ATTRIBUTES]) | st.from_regex(
    r"ce-[A-Za-z0-9-]{1,10}", fullmatch=True
)
binary_headers = st.fixed_dictionaries(
    {"ce-specversion": st.just("1.0") | header_values},
    optional={"ce-id": header_values, "ce-source": header_values, "ce-type": header_values},
).flatmap(
    lambda required: st.dictionaries(header_names, header_values, max_size=5).map(
        lambda extra: {**extra, **required}
    )
)
binary_bodies = st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode())

fuzz = settings(
    max_examples=count("FUZZ_EXAMPLES", 60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def assert_answered(response) -> dict | list:
    """A documented answer, never a 5xx, always with a JSON body."""
    assert response.status_code in ANSWERS, (response.status_code, response.content[:500])
    body = json.loads(response.content)
    if response.status_code != 201:
        assert isinstance(body, dict) and body
    return body


def post(content: bytes, content_type: str, headers: dict | None = None):
    return Client().generic("POST", "/events", content, content_type, headers=headers or {})


@fuzz
@given(value=structured_bodies, content_type=st.sampled_from(CONTENT_TYPES[:3]))
def test_structured_bodies_never_fail_the_server(value, content_type):
    response = post(json.dumps(value).encode(), content_type)
    body = assert_answered(response)
    if response.status_code == 201:
        assert body == validate_event(value)


@fuzz
@given(value=batch_bodies)
def test_batch_bodies_never_fail_the_server(value):
    response = post(json.dumps(value).encode(), "application/cloudevents-batch+json")
    body = assert_answered(response)
    if response.status_code == 201:
        assert body == [validate_event(event) for event in value]


@fuzz
@given(
    headers=binary_headers,
    content_type=st.sampled_from(CONTENT_TYPES),
    body=binary_bodies,
)
def test_binary_requests_never_fail_the_server(headers, content_type, body):
    assert_answered(post(body, content_type, headers))


@fuzz
@given(body=st.binary(max_size=256), content_type=st.sampled_from(CONTENT_TYPES))
def test_arbitrary_bytes_never_fail_the_server(body, content_type):
    assert_answered(post(body, content_type))


# Through a real server.


@fuzz
@given(data=json_values | st.integers(min_value=-(2**70), max_value=2**70))
def test_a_payload_is_what_the_standard_library_would_encode(data):
    """orjson's fast path and the standard encoder agree on the value, the text being ASCII."""
    event = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": data}
    payload = encode(event)
    assert payload.isascii()
    assert json.loads(payload) == json.loads(json.dumps(event, allow_nan=False))


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


MODES = {
    "structured": lambda data: (b'{"id":"1","source":"/d","type":"t","data":' + data + b"}", {}),
    "batch": lambda data: (b'[{"id":"1","source":"/d","type":"t","data":' + data + b"}]", {}),
    "binary": lambda data: (
        data,
        {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/d", "ce-type": "t"},
    ),
}


@pytest.mark.parametrize("mode", MODES)
def test_json_nested_at_the_depth_limit_is_never_a_server_error(http, mode):
    """Decoding and encoding share the recursion limit: the deepest accepted event must encode."""

    def status(depth: int) -> int:
        content, headers = MODES[mode](nested(depth))
        content_type = (
            "application/cloudevents-batch+json" if mode == "batch" else "application/json"
        )
        response = http.post(
            "/events", content=content, headers={**headers, "content-type": content_type}
        )
        assert_answered(response)
        return response.status_code

    accepted, rejected = 1, 5000
    assert (status(accepted), status(rejected)) == (201, 400)
    while rejected - accepted > 1:  # bisect to the deepest accepted nesting
        middle = (accepted + rejected) // 2
        if status(middle) == 201:
            accepted = middle
        else:
            rejected = middle
    for depth in range(accepted - 3, accepted + 4):
        status(depth)
