"""Handshake decisions: serializer from `vsn`, Origin check, `phoenix` subprotocol."""

import pytest

from sockets.handshake import (
    choose_subprotocol,
    header,
    negotiate_serializer,
    origin_allowed,
)
from sockets.serializers import V1Serializer, V2Serializer


@pytest.mark.parametrize(
    ("query", "serializer"),
    [
        (b"vsn=2.0.0", V2Serializer),
        (b"token=abc&vsn=2.0.0", V2Serializer),
        (b"vsn=1.0.0", V1Serializer),
        (b"", V1Serializer),
        (b"token=abc", V1Serializer),
        (b"vsn=3.0.0", None),
        (b"vsn=%FF", None),
    ],
)
def test_negotiate_serializer(query, serializer):
    assert negotiate_serializer(query) is serializer


@pytest.mark.parametrize(
    ("origin", "allowed", "verdict"),
    [
        ("https://evil.example", [], True),
        ("https://app.example", ["https://app.example"], True),
        ("HTTPS://App.Example/", ["https://app.example"], True),
        ("https://app.example:8443", ["https://app.example"], False),
        ("http://app.example", ["https://app.example"], False),
        ("https://evil.example", ["https://app.example", "https://admin.example"], False),
        ("null", ["https://app.example"], False),
        (None, ["https://app.example"], True),
    ],
)
def test_origin_allowed(origin, allowed, verdict):
    assert origin_allowed(origin, allowed) is verdict


def test_header_reads_the_first_value_of_a_lowercase_name():
    headers = [(b"host", b"x"), (b"origin", b"https://a.example"), (b"origin", b"https://b")]
    assert header(headers, b"origin") == "https://a.example"
    assert header(headers, b"cookie") is None


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["phoenix", "base64url.bearer.phx.dG9rZW4"], "phoenix"),
        (["base64url.bearer.phx.dG9rZW4", "phoenix"], "phoenix"),
        (["graphql-ws"], None),
        ([], None),
    ],
)
def test_choose_subprotocol(offered, chosen):
    assert choose_subprotocol(offered) == chosen
