"""Private sources against a real server: each way of giving a token, each bad token's answer,
expiry during a session, and no token in the logs.

The server keeps `/private/` private, verifies HS256 tokens with its secret and RS256 tokens with
its public key file, and wants the audience `relay-tests`. Tokens are minted here with PyJWT, as
an application's backend would.
"""

import base64
import hashlib
import hmac
import json
import tempfile
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from websockets.exceptions import InvalidStatus

from tests.support.server import Server
from tests.support.sockets_client import PhoenixClient, phoenix, post_event
from tests.support.wait import await_until

SECRET = "s" * 40
AUDIENCE = "relay-tests"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_PEM = (
    RSA_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
AUTH_TOKEN_PREFIX = "base64url.bearer.phx."

# Every token a test gives the server: none may appear in its log.
GIVEN: list[str] = []


def token(sources=("/private/",), expires_in=60, key=SECRET, algorithm="HS256", **claims) -> str:
    payload = {"sources": list(sources), "exp": int(time.time() + expires_in), "aud": AUDIENCE}
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    minted = jwt.encode(payload, key, algorithm=algorithm)
    GIVEN.append(minted)
    return minted


def hand_made(header: dict, payload: dict, signature: bytes) -> str:
    """A token PyJWT refuses to make: `none`, or HS256 keyed with the RSA public key."""
    parts = [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode())]
    minted = ".".join([*parts, _b64(signature)])
    GIVEN.append(minted)
    return minted


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**extra) -> dict:
    return {"sources": ["/private/"], "exp": int(time.time() + 60), "aud": AUDIENCE, **extra}


def confused() -> str:
    """HS256 "signed" with the RSA public key as the secret: the classic algorithm confusion."""
    header, payload = {"alg": "HS256", "typ": "JWT"}, claims()
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(PUBLIC_PEM.encode(), signing.encode(), hashlib.sha256).digest()
    return hand_made(header, payload, signature)


def tampered() -> str:
    head, _, signature = token().split(".")
    forged = _b64(json.dumps(claims(sources=["*"])).encode())
    minted = f"{head}.{forged}.{signature}"
    GIVEN.append(minted)
    return minted


# Each bad token, and the reason the join's refusal gives for it.
BAD_TOKENS = {
    "expired": (lambda: token(expires_in=-120), "the token has expired"),
    "not yet valid": (lambda: token(nbf=int(time.time()) + 600), "not valid yet (nbf)"),
    "wrong key": (lambda: token(key="w" * 40), "signature does not verify"),
    "wrong algorithm": (confused, "signature does not verify"),
    "none": (
        lambda: hand_made({"alg": "none", "typ": "JWT"}, claims(), b""),
        "no subscriber key verifies 'none' tokens",
    ),
    "tampered": (tampered, "signature does not verify"),
    "wrong audience": (lambda: token(aud="another-relay"), "aud is not this relay's audience"),
    "no exp": (lambda: token(exp=None), "no 'exp' claim"),
    "RS256 signed by another key": (
        lambda: token(key=OTHER_RSA_KEY, algorithm="RS256"),
        "signature does not verify",
    ),
}


@pytest.fixture(scope="module")
def relay():
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as pem:
        pem.write(PUBLIC_PEM)
    env = {
        "RELAYMAN_PRIVATE_SOURCES": "/private/",
        "RELAYMAN_SUBSCRIBER_JWT_SECRET": SECRET,
        "RELAYMAN_SUBSCRIBER_JWT_PUBLIC_KEY": pem.name,
        "RELAYMAN_SUBSCRIBER_JWT_AUDIENCE": AUDIENCE,
        "RELAYMAN_LOG_LEVEL": "DEBUG",
    }
    with Server(env=env) as running:
        yield running
    Path(pem.name).unlink()
    assert GIVEN, "the tests gave tokens"


def private_source() -> str:
    return f"/private/{uuid.uuid4().hex}"


async def join_reply(client: PhoenixClient, source: str, payload=None) -> list:
    join_ref = client.next_ref()
    await client.send(join_ref, join_ref, f"source:{source}", "phx_join", payload or {})
    return await client.recv()


def refused(reply: list, detail: str) -> bool:
    response = reply[4]["response"]
    return (
        reply[4]["status"] == "error"
        and response["reason"] == "unauthorized"
        and (detail in response["detail"])
    )


async def receives(client: PhoenixClient, relay: Server, source: str) -> None:
    sent = await post_event(relay, source)
    assert await client.recv() == [None, None, f"source:{source}", "created", sent]


# The three ways of giving a token, and public sources without one.


async def test_a_public_source_needs_no_token_and_a_private_one_is_refused_without(relay):
    async with phoenix(relay) as client:
        public = f"/public/{uuid.uuid4().hex}"
        await client.join(f"source:{public}")
        await receives(client, relay, public)

        reply = await join_reply(client, private_source())

        assert refused(reply, "no subscriber token covers this source"), reply
        assert await client.request("phoenix", "heartbeat") == [
            None, "3", "phoenix", "phx_reply", {"status": "ok", "response": {}}
        ]  # fmt: skip


async def test_a_socket_token_in_the_query_lets_the_socket_join_what_it_covers(relay):
    source = private_source()
    async with phoenix(relay, vsn=f"2.0.0&token={token(sources=[source])}") as client:
        await client.join(f"source:{source}")
        await receives(client, relay, source)

        reply = await join_reply(client, private_source())

        assert refused(reply, "no subscriber token covers this source"), reply


async def test_a_socket_token_as_phoenix_18s_auth_token_subprotocol(relay):
    source = private_source()
    encoded = base64.b64encode(token(sources=[source]).encode()).decode().rstrip("=")  # btoa
    protocols = ["phoenix", AUTH_TOKEN_PREFIX + encoded]
    async with phoenix(relay, subprotocols=protocols) as client:
        assert client.ws.subprotocol == "phoenix"
        await client.join(f"source:{source}")
        await receives(client, relay, source)


async def test_a_join_payload_token_wins_over_the_sockets_for_its_channel(relay):
    source, other = private_source(), private_source()
    async with phoenix(relay, vsn=f"2.0.0&token={token(sources=[other])}") as client:
        reply = await join_reply(client, source, {"token": token(sources=[source])})
        assert reply[4] == {"status": "ok", "response": {"messages": []}}
        await receives(client, relay, source)
        await client.join(f"source:{other}")  # the socket's token still serves its own


async def test_an_rs256_token_verifies_with_the_public_key_file(relay):
    source = private_source()
    rs256 = token(sources=["*"], key=RSA_KEY, algorithm="RS256")
    async with phoenix(relay, vsn=f"2.0.0&token={rs256}") as client:
        await client.join(f"source:{source}")
        await receives(client, relay, source)


# Bad tokens: refused at the handshake (403) for the socket, `unauthorized` for a join.


@pytest.mark.parametrize("case", BAD_TOKENS)
async def test_a_bad_socket_token_is_refused_at_the_handshake(relay, case):
    make, _ = BAD_TOKENS[case]
    with pytest.raises(InvalidStatus) as refusal:
        async with phoenix(relay, vsn=f"2.0.0&token={make()}"):
            pass
    assert refusal.value.response.status_code == 403


@pytest.mark.parametrize("case", BAD_TOKENS)
async def test_a_bad_join_token_is_unauthorized_and_the_socket_stays(relay, case):
    make, detail = BAD_TOKENS[case]
    source = private_source()
    async with phoenix(relay) as client:
        reply = await join_reply(client, source, {"token": make()})

        assert refused(reply, detail), reply
        await client.join(f"source:/public/{uuid.uuid4().hex}")


async def test_a_token_whose_sources_do_not_cover_the_source_is_unauthorized(relay):
    async with phoenix(relay) as client:
        reply = await join_reply(client, private_source(), {"token": token(sources=["/other/"])})
        assert refused(reply, "the join's token does not cover this source"), reply


async def test_an_undecodable_auth_token_subprotocol_is_refused_at_the_handshake(relay):
    with pytest.raises(InvalidStatus) as refusal:
        async with phoenix(relay, subprotocols=["phoenix", AUTH_TOKEN_PREFIX + "!!!"]):
            pass
    assert refusal.value.response.status_code == 403


# Expiry during a session.


async def test_at_a_join_tokens_exp_its_channel_errors_and_gets_no_more_events(relay):
    source = private_source()
    async with phoenix(relay) as client:
        reply = await join_reply(client, source, {"token": token(sources=[source], expires_in=2)})
        join_ref = reply[0]
        assert reply[4]["status"] == "ok"

        notice = await await_until(client.recv, "the channel's phx_error", timeout=10)

        topic = f"source:{source}"
        assert notice == [join_ref, join_ref, topic, "phx_error", {"reason": "token expired"}]
        await post_event(relay, source)
        assert await client.request("phoenix", "heartbeat") == [
            None, "2", "phoenix", "phx_reply", {"status": "ok", "response": {}}
        ]  # fmt: skip  # the heartbeat's reply came next: no push in between
        reply = await join_reply(client, source, {"token": token(sources=[source])})
        assert reply[4]["status"] == "ok"  # a rejoin with a fresh token
        await receives(client, relay, source)


async def test_at_a_socket_tokens_exp_a_channel_it_allowed_closes_the_socket_with_4001(relay):
    source = private_source()
    async with phoenix(relay, vsn=f"2.0.0&token={token(expires_in=2)}") as client:
        await client.join(f"source:{source}")

        notice = await await_until(client.recv, "the socket's phx_error", timeout=10)

        assert notice == [None, None, "phoenix", "phx_error", {"reason": "token expired"}]
        assert (await client.closed())[0] == 4001


async def test_a_join_on_an_expired_socket_token_closes_the_socket_with_4001(relay):
    # Within the leeway at the handshake, past its exp at the join.
    async with phoenix(relay, vsn=f"2.0.0&token={token(expires_in=-5)}") as client:
        await join_reply(client, private_source())
        assert (await client.closed())[0] == 4001


# The log.


async def test_the_log_holds_no_token(relay):
    """Checked last, over every token the module gave; it gives a refused one of each kind."""
    with pytest.raises(InvalidStatus):
        async with phoenix(relay, vsn=f"2.0.0&token={token(expires_in=-120)}"):
            pass
    with pytest.raises(InvalidStatus):  # a refused vsn's query is logged, its token hidden
        async with phoenix(relay, vsn=f"9.0.0&token={token()}"):
            pass
    async with phoenix(relay) as client:
        assert refused(
            await join_reply(client, private_source(), {"token": token(key="w" * 40)}), ""
        )
    await await_until(lambda: "event=join_unauthorized" in relay.logs(), "the refusal's log line")

    logs = relay.logs()
    assert "event=handshake_refused" in logs and "event=join_unauthorized" in logs
    signatures = [given.rpartition(".")[2] for given in GIVEN]
    leaked = [given for given in GIVEN if given in logs]
    leaked += [signature for signature in signatures if signature and signature in logs]
    assert not leaked
