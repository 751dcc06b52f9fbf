"""Producer keys on POST /events against a real server: every 401 and 403, and what gets through.

The server requires keys from its environment (RELAYMAN_REQUIRE_PRODUCER_KEYS=true); the keys
are added in its admin, as an operator would. A subscriber's socket shows what was published.
"""

import subprocess
import sys
import uuid

import httpx
import pytest

from events import producer_keys
from tests.support.admin_browser import AdminBrowser, create_superuser, eventually
from tests.support.server import ROOT, Server
from tests.support.sockets_client import new_source, phoenix

BATCH = "application/cloudevents-batch+json"


@pytest.fixture(scope="module")
def relay():
    with Server(env={"RELAYMAN_REQUIRE_PRODUCER_KEYS": "true"}) as running:
        create_superuser(running)
        yield running


@pytest.fixture(scope="module")
def keys(relay):
    """Keys by name: "shop" (/shop/, /outlets/1/), "anything" (*), "revoked" (inactive)."""
    admin = AdminBrowser(relay.url)
    shop, _ = admin.add_key("shop", "/shop/\n/outlets/1/")
    anything, _ = admin.add_key("anything", "*")
    revoked, revoked_url = admin.add_key("revoked", "/shop/")
    admin.edit_key(revoked_url, "revoked", "/shop/", active=False)
    admin.close()
    # The server mirrors keys about every second: wait until it knows the last change.
    eventually(lambda: post(relay, event("/shop/1"), revoked).status_code == 401, "keys loaded")
    return {"shop": shop, "anything": anything, "revoked": revoked}


def event(source: str, **attributes) -> dict:
    return {"id": uuid.uuid4().hex, "source": source, "type": "created", **attributes}


def post(relay: Server, body, key: str | None = None, **headers) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(f"{relay.url}/events", json=body, headers=headers, timeout=5)


def assert_401(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="relayman"'
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": detail}


def assert_403(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 403, response.text
    assert "WWW-Authenticate" not in response.headers
    assert response.json() == {"detail": detail}


# The key format (pure functions)


def test_a_new_key_is_its_public_id_and_256_random_bits():
    key, key_id = producer_keys.new_key()

    assert key.startswith(f"rmk_{key_id}_") and len(key_id) == 16
    assert len(key[len("rmk_") + 17 :]) == 43  # token_urlsafe(32): 256 bits in base64url
    assert producer_keys.key_id_of(key) == key_id
    assert producer_keys.hash_key(key) != producer_keys.hash_key(producer_keys.new_key()[0])


@pytest.mark.parametrize("text", ["", "rmk_", "rmk_0123456789abcdef", "rmk_0123456789abcdef_", "x"])
def test_text_not_shaped_like_a_key_has_no_key_id(text):
    assert producer_keys.key_id_of(text) is None


def test_uncovered_sources_are_named_once_each_in_order():
    prefixes = ("/shop/", "/outlets/1/")
    sources = ["/shop/1", "/b", "/outlets/1/x", "/a", "/b", "/outlets/10"]

    assert producer_keys.uncovered(prefixes, sources) == ["/b", "/a", "/outlets/10"]
    assert producer_keys.uncovered(("*",), sources) == []
    assert producer_keys.uncovered((), ["/x"]) == ["/x"]


def test_check_names_why_a_header_lets_no_producer_in():
    key, key_id = producer_keys.new_key()
    active = producer_keys.KeyRecord(key_id, "shop", producer_keys.hash_key(key), ("*",), True)
    inactive = producer_keys.KeyRecord(key_id, "shop", active.key_hash, ("*",), False)

    def refusal(header, record=active):
        with pytest.raises(producer_keys.KeyRefused) as refused:
            producer_keys.check(header, {key_id: record}.get)
        return str(refused.value), refused.value.missing

    assert producer_keys.check(f"bearer  {key} ", {key_id: active}.get) is active
    assert refusal(None) == (
        "This relay requires a producer key: send 'Authorization: Bearer <key>'.",
        True,
    )
    assert refusal("Basic x") == ("The Authorization header must read 'Bearer <key>'.", False)
    assert refusal(f"Bearer {key}x") == ("Unknown producer key.", False)
    assert refusal(f"Bearer {key}", inactive) == (
        "The producer key 'shop' has been deactivated.",
        False,
    )


# 401: no usable key


def test_a_request_without_a_key_is_a_401(relay, keys):
    assert_401(
        post(relay, event("/shop/1")),
        "This relay requires a producer key: send 'Authorization: Bearer <key>'.",
    )


@pytest.mark.parametrize("authorization", ["Basic c2hvcDpzZWNyZXQ=", "Bearer", "Token rmk_0_x"])
def test_an_authorization_that_is_not_a_bearer_key_is_a_401(relay, keys, authorization):
    response = post(relay, event("/shop/1"), Authorization=authorization)

    assert_401(response, "The Authorization header must read 'Bearer <key>'.")


def test_an_unknown_key_is_a_401(relay, keys):
    stranger, _ = producer_keys.new_key()

    for key in ("not-a-relayman-key", stranger, keys["shop"][:-1], keys["shop"] + "x"):
        assert_401(post(relay, event("/shop/1"), key), "Unknown producer key.")


def test_a_known_key_id_with_another_secret_is_a_401(relay, keys):
    key_id = producer_keys.key_id_of(keys["shop"])
    forged, _ = producer_keys.new_key()
    forged = f"{producer_keys.PREFIX}{key_id}{forged[len(producer_keys.PREFIX) + 16 :]}"

    assert producer_keys.key_id_of(forged) == key_id
    assert_401(post(relay, event("/shop/1"), forged), "Unknown producer key.")


def test_a_deactivated_key_is_a_401(relay, keys):
    response = post(relay, event("/shop/1"), keys["revoked"])

    assert_401(response, "The producer key 'revoked' has been deactivated.")


def test_the_key_is_checked_before_the_body(relay, keys):
    response = httpx.post(
        f"{relay.url}/events", content=b"not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 401


# 403: a key whose prefixes do not cover the source


def test_a_source_outside_the_keys_prefixes_is_a_403(relay, keys):
    assert_403(
        post(relay, event("/shopping/1"), keys["shop"]),
        "The producer key 'shop' may not publish to source '/shopping/1': its allowed source "
        "prefixes are '/shop/', '/outlets/1/'.",
    )


async def test_a_batch_with_one_uncovered_source_is_a_403_and_publishes_nothing(relay, keys):
    source = f"/shop/{uuid.uuid4().hex}"
    async with phoenix(relay) as subscriber:
        await subscriber.join(f"source:{source}")
        batch = [event(source), event("/outlets/2/orders"), event(source), event("/other")]

        response = post(relay, batch, keys["shop"], **{"Content-Type": BATCH})

        assert_403(
            response,
            "The producer key 'shop' may not publish to source '/outlets/2/orders', '/other': "
            "its allowed source prefixes are '/shop/', '/outlets/1/'.",
        )
        sentinel = event(source, type="sentinel")
        assert post(relay, sentinel, keys["shop"]).status_code == 201
        push = await subscriber.recv()
        assert push[3:] == ["sentinel", sentinel | {"specversion": "1.0"}]


def test_a_binary_mode_event_outside_the_prefixes_is_a_403(relay, keys):
    headers = {
        "Authorization": f"Bearer {keys['shop']}",
        "ce-specversion": "1.0",
        "ce-id": "1",
        "ce-source": "/elsewhere",
        "ce-type": "created",
        "Content-Type": "text/plain",
    }

    response = httpx.post(f"{relay.url}/events", content=b"hello", headers=headers)

    assert response.status_code == 403
    assert "may not publish to source '/elsewhere'" in response.json()["detail"]


# What gets through


async def test_a_covered_event_is_published(relay, keys):
    source = f"/outlets/1/{uuid.uuid4().hex}"
    async with phoenix(relay) as subscriber:
        await subscriber.join(f"source:{source}")

        response = post(relay, event(source, data={"n": 1}), keys["shop"])

        assert response.status_code == 201, response.text
        push = await subscriber.recv()
        assert push == [None, None, f"source:{source}", "created", response.json()]


def test_a_batch_whose_every_source_is_covered_is_published(relay, keys):
    batch = [event("/shop/1"), event("/outlets/1/orders"), event("/shop/2")]

    response = post(relay, batch, keys["shop"], **{"Content-Type": BATCH})

    assert response.status_code == 201, response.text
    assert [e["id"] for e in response.json()] == [e["id"] for e in batch]


def test_a_star_key_publishes_to_any_source(relay, keys):
    for source in ("/anything", "urn:uuid:1", "https://example.com/x"):
        assert post(relay, event(source), keys["anything"]).status_code == 201


def test_the_scheme_is_case_insensitive(relay, keys):
    response = post(relay, event("/shop/1"), Authorization=f"bearer {keys['shop']}")

    assert response.status_code == 201, response.text


# Keys not required: as before


async def test_without_required_keys_an_authorization_header_changes_nothing(server):
    source = new_source()
    async with phoenix(server) as subscriber:
        await subscriber.join(f"source:{source}")

        response = post(server, event(source), Authorization="Bearer whatever")

        assert response.status_code == 201, response.text
        assert (await subscriber.recv())[3] == "created"


# Without a readable database


def test_keys_required_by_the_environment_stay_required_until_the_database_answers(tmp_path):
    relay = Server(env={"RELAYMAN_REQUIRE_PRODUCER_KEYS": "true"}, database=tmp_path / "db.sqlite3")
    relay._migrated = True  # start on an empty database: the admin's tables do not exist yet
    with relay:
        stranger, _ = producer_keys.new_key()

        assert_401(post(relay, event("/shop/1"), stranger), "Unknown producer key.")
        assert post(relay, event("/shop/1")).status_code == 401
        assert "event=settings_load_failed" in relay.logs()

        migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
        subprocess.run(migrate, cwd=ROOT, env=relay.env, check=True)

        eventually(lambda: "event=settings_load_recovered" in relay.logs(), "recovery logged")
        assert relay.logs().count("event=settings_load_failed") == 1  # once, not every second
