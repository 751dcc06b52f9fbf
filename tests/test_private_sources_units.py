"""Private sources in process: the session's verdict handling and expiries, finding a socket's
token, the keys' and the settings' checks, and minting."""

import base64

import jwt
import pytest

from events import config, subscriber_tokens
from events.private_sources import subscriber_token
from events.subscriber_tokens import Keyring, SubscriberKey, TokenRefused
from sockets.access import AUTH_TOKEN_PREFIX, socket_token, without_token
from sockets.serializers import V2Serializer
from sockets.session import Authorize, Close, CloseCode, Limits, Send, Session, Subscribe

SECRET = "k" * 32
LIMITS = Limits(max_frame_bytes=65536, max_channels=100, idle_timeout=60, private_sources=("/p/",))


def join(session: Session, ref: str, source: str, payload=None) -> list:
    frame = f'["{ref}","{ref}","source:{source}","phx_join",{payload or "{}"}]'
    return session.receive(frame, 0.0, LIMITS)


def test_a_private_join_asks_for_a_verdict_and_a_public_one_does_not():
    session = Session(V2Serializer, 0.0)
    (request,) = join(session, "1", "/p/1", '{"token":"t"}')
    assert request == Authorize(request.message, "/p/1", "t")
    assert isinstance(join(session, "2", "/public")[0], Subscribe)


def test_expiries_end_a_channel_or_the_whole_socket():
    session = Session(V2Serializer, 0.0)
    for ref, source, by_socket in (("1", "/p/a", False), ("2", "/p/b", True)):
        (request,) = join(session, ref, source)
        session.admit(request, 10.0 if ref == "1" else 20.0, by_socket, LIMITS)
    assert session.next_expiry() == 10.0

    actions = session.check_expiry(10.0)

    assert actions[1] == Send('["1","1","source:/p/a","phx_error",{"reason":"token expired"}]')
    assert "/p/a" not in session.joined and session.next_expiry() == 20.0
    closing = session.check_expiry(20.0)
    assert closing[-1] == Close(CloseCode.TOKEN_EXPIRED, "token expired")


def test_the_socket_token_comes_from_the_query_or_phoenix_18s_subprotocol():
    token = "a.b+c/d"  # btoa's alphabet, as phoenix.js encodes
    encoded = base64.b64encode(token.encode()).decode().rstrip("=")
    assert socket_token(b"vsn=2.0.0&token=q", []) == "q"
    assert socket_token(b"vsn=2.0.0", ["phoenix", AUTH_TOKEN_PREFIX + encoded]) == token
    assert socket_token(b"vsn=2.0.0", ["phoenix"]) is None
    with pytest.raises(TokenRefused):
        socket_token(b"", [AUTH_TOKEN_PREFIX + "*"])
    assert without_token("vsn=9&token=secret&x=1") == "vsn=9&token=(hidden)&x=1"


def test_a_kid_picks_its_key_and_an_inactive_key_verifies_nothing():
    ring = Keyring(
        [SubscriberKey("new", "HS256", SECRET), SubscriberKey("old", "HS256", SECRET, False)]
    )
    claims = {"sources": ["/p/"], "exp": 2**31}
    assert ring.verify(jwt.encode(claims, SECRET, headers={"kid": "new"})).covers("/p/x")
    with pytest.raises(TokenRefused, match="no active subscriber key"):
        ring.verify(jwt.encode(claims, SECRET, headers={"kid": "old"}))
    with pytest.raises(TokenRefused, match="'sources' claim"):
        ring.verify(jwt.encode({**claims, "sources": ["*", "/p/"]}, SECRET, headers={"kid": "new"}))


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("SUBSCRIBER_JWT_SECRET", "short", "at least 32 bytes"),
        ("SUBSCRIBER_JWT_PUBLIC_KEY", "/no/such.pem", "cannot read"),
        ("JOIN_AUTHORIZER", "no.such.module.function", "RELAYMAN_JOIN_AUTHORIZER"),
        ("PRIVATE_SOURCES", ("*", "/p/"), "write '*' alone"),
    ],
)
def test_the_system_check_names_a_bad_private_sources_setting(settings, name, value, problem):
    setattr(settings, f"RELAYMAN_{name}", value)
    assert any(problem in error.msg for error in config.check_settings())


def test_django_code_mints_tokens_the_relay_accepts(settings):
    settings.RELAYMAN_SUBSCRIBER_JWT_SECRET = SECRET
    token = subscriber_token(["/p/"], expires_in=60)
    assert Keyring([SubscriberKey("", "HS256", SECRET)]).verify(token).sources == ("/p/",)
    with pytest.raises(ValueError, match="only its private key"):
        subscriber_tokens.mint(["/p/"], 60, SubscriberKey("rs", "RS256", "pem"))
