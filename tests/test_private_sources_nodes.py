"""Private sources across two nodes: one database (the admin's), one Redis (the events).

The operator makes `/tenant/` private and adds an ES256 subscriber key on node A's admin; node B
takes both up within seconds, from its in-memory mirror, and its subscribers receive, through
Redis, what producers post to node A.
"""

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.admin_browser import AdminBrowser, two_nodes_one_admin
from tests.support.redis import RedisServer
from tests.support.server import Server
from tests.support.sockets_client import phoenix, post_event
from tests.support.wait import await_until

WITHIN = 5.0
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_PUBLIC_PEM = (
    EC_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


@pytest.fixture(scope="module")
def nodes():
    with RedisServer() as redis, two_nodes_one_admin({"REDIS_URL": redis.url()}) as both:
        yield both


@pytest.fixture
def admin(nodes):
    browser = AdminBrowser(nodes[0].url)
    yield browser
    browser.save_settings()
    browser.close()


def es256_token(key_id: str, sources: list[str]) -> str:
    claims = {"sources": sources, "exp": int(time.time()) + 60}
    return jwt.encode(claims, EC_KEY, algorithm="ES256", headers={"kid": key_id})


def add_subscriber_key(admin: AdminBrowser, key_id: str, algorithm: str, key: str) -> None:
    form = {"key_id": key_id, "algorithm": algorithm, "key": key, "active": "on"}
    response = admin.submit("/admin/relayman_events/subscriberkey/add/", form)
    assert response.status_code == 302, response.text


async def join_status(node: Server, source: str, token: str | None = None) -> dict:
    async with phoenix(node) as client:
        ref = client.next_ref()
        payload = {"token": token} if token else {}
        await client.send(ref, ref, f"source:{source}", "phx_join", payload)
        return (await client.recv())[4]


async def test_settings_and_a_key_saved_on_node_a_govern_node_bs_joins(nodes, admin):
    node_a, node_b = nodes
    source = f"/tenant/{uuid.uuid4().hex}"
    key_id = f"es-{uuid.uuid4().hex[:8]}"
    assert (await join_status(node_b, source))["status"] == "ok"  # public for now

    admin.save_settings(private_sources="/tenant/")
    add_subscriber_key(admin, key_id, "ES256", EC_PUBLIC_PEM)

    async def refused_without_token():
        return (await join_status(node_b, source))["status"] == "error"

    await await_until(refused_without_token, "node B to make /tenant/ private", WITHIN)
    token = es256_token(key_id, ["/tenant/"])
    await await_until(
        lambda: _ok(join_status(node_b, source, token)), "node B to know the new key", WITHIN
    )
    async with phoenix(node_b, vsn=f"2.0.0&token={token}") as client:
        await client.join(f"source:{source}")
        sent = await post_event(node_a, source)  # through Redis to node B's subscriber
        assert await client.recv() == [None, None, f"source:{source}", "created", sent]
    for node in nodes:
        assert token not in node.logs() and token.rpartition(".")[2] not in node.logs()


async def test_an_hs256_key_with_a_short_secret_is_refused_by_the_admin(admin):
    form = {"key_id": "short", "algorithm": "HS256", "key": "too short", "active": "on"}
    response = admin.submit("/admin/relayman_events/subscriberkey/add/", form)
    assert response.status_code == 200
    assert "an HS256 secret must be at least 32 bytes long" in response.text


async def _ok(status) -> bool:
    return (await status)["status"] == "ok"
