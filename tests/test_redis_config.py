"""REDIS_URL and the REDIS_* variables: what they configure, how bad values are refused, and TLS,
passwords and database numbers against a real redis-server."""

import asyncio
import re
import subprocess
import sys
from urllib.parse import quote

import httpx
import pytest

from relayman_project import settings as project_settings
from tests.support.redis import RedisSentinel, RedisServer
from tests.support.server import ROOT
from tests.support.sockets_client import new_source, phoenix, post_event

# Sentinel waits 300 ms before it calls the master down, then promotes the replica.
FAILOVER_WITHIN = 15
SSL_VARIABLES = ("REDIS_SSL_CA_CERTS", "REDIS_SSL_CERTFILE", "REDIS_SSL_KEYFILE")


@pytest.fixture(autouse=True)
def no_ssl_variables(monkeypatch):
    for name in (*SSL_VARIABLES, "REDIS_SSL_CERT_REQS", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "url", ["redis://localhost", "redis://:p%40ss@redis.internal:6380/2", "rediss://h:6379/15"]
)
def test_a_redis_url_is_handed_to_channels_redis_whole(url):
    assert project_settings.redis_host(url) == {"address": url}


def test_tls_options_come_from_the_environment(monkeypatch, tmp_path):
    paths = {}
    for name in SSL_VARIABLES:
        paths[name] = tmp_path / f"{name.lower()}.pem"
        paths[name].write_text("a PEM file\n")  # the settings check each is a readable file
        monkeypatch.setenv(name, str(paths[name]))
    monkeypatch.setenv("REDIS_SSL_CERT_REQS", "optional")
    assert project_settings.redis_host("rediss://redis:6379/0") == {
        "address": "rediss://redis:6379/0",
        "ssl_ca_certs": str(paths["REDIS_SSL_CA_CERTS"]),
        "ssl_certfile": str(paths["REDIS_SSL_CERTFILE"]),
        "ssl_keyfile": str(paths["REDIS_SSL_KEYFILE"]),
        "ssl_cert_reqs": "optional",
    }


def test_sentinels_name_the_master_and_redis_url_gives_the_rest(monkeypatch):
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.1:26379, [fd00::2]:26380")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "relay")
    assert project_settings.redis_host("redis://app:p%40ss@sentinel/4") == {
        "sentinels": [("10.0.0.1", 26379), ("fd00::2", 26380)],
        "master_name": "relay",
        "username": "app",
        "password": "p@ss",
        "db": 4,
        "ssl": False,
    }


@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        ("http://redis:6379", {}, "REDIS_URL must look like redis://"),
        ("localhost:6379", {}, "got scheme 'localhost'"),
        (
            "redis://redis:6379/zero",
            {},
            "REDIS_URL's database number must be an integer, got 'zero'",
        ),
        (
            "redis://redis",
            {"REDIS_SSL_CA_CERTS": "/ca.pem"},
            "REDIS_SSL_CA_CERTS needs a rediss://",
        ),
        (
            "rediss://redis",
            {"REDIS_SSL_CERT_REQS": "yes"},
            "REDIS_SSL_CERT_REQS must be required, ",
        ),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(monkeypatch, url, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(project_settings.ImproperlyConfigured, match=message):
        project_settings.redis_host(url)


def test_a_node_with_a_bad_redis_url_does_not_start():
    env = {"REDIS_URL": "http://redis:6379", "SECRET_KEY": "x", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: REDIS_URL must look like redis://" in result.stderr


async def test_without_redis_url_a_node_is_ready(server):
    """The embedded layer needs no Redis: readiness is 200, as liveness is."""
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{server.url}/readyz")
    assert (response.status_code, response.json()) == (200, {"status": 200, "message": "OK"})


@pytest.fixture(scope="module")
def tls_redis():
    """Redis over TLS only, with a password, requiring a client certificate."""
    with RedisServer(password="pass word", tls=True) as running:
        yield running


def _tls_env(redis, password="pass word", **overrides):
    env = {
        "REDIS_URL": redis.url(db=5).replace(quote(redis.password), quote(password)),
        "REDIS_SSL_CA_CERTS": str(redis.dir / "ca.pem"),
        "REDIS_SSL_CERTFILE": str(redis.dir / "client.pem"),
        "REDIS_SSL_KEYFILE": str(redis.dir / "client.key"),
        **overrides,
    }
    return {name: value for name, value in env.items() if value is not None}


async def test_events_travel_through_redis_over_tls(tls_redis, make_server):
    node = make_server(env=_tls_env(tls_redis))
    source = new_source()
    async with httpx.AsyncClient(timeout=5) as http, phoenix(node) as client:
        assert (await http.get(f"{node.url}/readyz")).status_code == 200
        await client.join(f"source:{source}")
        event = await post_event(node, source)
        assert await client.recv() == [None, None, f"source:{source}", "created", event]


@pytest.mark.parametrize(
    ("overrides", "logged"),
    [
        (
            {"REDIS_SSL_CERTFILE": None, "REDIS_SSL_KEYFILE": None},
            # The server's TLS alert, or the reset that follows it, depending on timing.
            "certificate required|Connection reset by peer",
        ),
        ({"REDIS_SSL_CA_CERTS": None}, "certificate verify failed"),
        ({"password": "wrong"}, "invalid username-password pair"),
    ],
    ids=["no client certificate", "unknown CA", "wrong password"],
)
async def test_a_node_redis_refuses_is_alive_but_not_ready(
    tls_redis, make_server, overrides, logged
):
    node = make_server(env=_tls_env(tls_redis, **overrides))
    source = new_source()
    async with httpx.AsyncClient(timeout=5) as http, phoenix(node) as client:
        await client.join(f"source:{source}")  # sockets still join; events wait for Redis
        assert (await http.get(f"{node.url}/healthz")).status_code == 200
        assert (await http.get(f"{node.url}/readyz")).status_code == 503
        response = await http.post(
            f"{node.url}/events", json={"id": "1", "source": source, "type": "created"}
        )
        assert response.status_code == 503
        assert response.json()["detail"].startswith("Redis is unreachable")
    assert "event=publish_unavailable" in node.logs()
    assert re.search(logged, node.logs()), node.logs()


async def test_through_sentinel_delivery_survives_a_failover(make_server):
    """Nodes find the master through Sentinel; when it dies, a replica takes over and the same
    sockets, without rejoining, get the next events."""
    with (
        RedisServer(password="pw") as master,
        RedisServer(password="pw", replica_of=master),
        RedisSentinel(master, "relay") as sentinel,
    ):
        env = {
            "REDIS_URL": "redis://:pw@unused-behind-sentinel/2",
            "REDIS_SENTINELS": f"127.0.0.1:{sentinel.port}",
            "REDIS_SENTINEL_MASTER": "relay",
        }
        a, b = make_server(env=env), make_server(env=env)
        source = new_source()
        async with httpx.AsyncClient(timeout=5) as http, phoenix(b) as client:
            assert (await http.get(f"{a.url}/readyz")).status_code == 200
            await client.join(f"source:{source}")
            event = await post_event(a, source)
            assert await client.recv() == [None, None, f"source:{source}", "created", event]

            master.kill()
            async with asyncio.timeout(FAILOVER_WITHIN):
                while True:  # 503s until Sentinel has promoted the replica
                    response = await http.post(
                        f"{a.url}/events", json={"id": "1", "source": source, "type": "after"}
                    )
                    if response.status_code == 201:
                        try:
                            async with asyncio.timeout(0.5):
                                if (await client.recv())[3] == "after":
                                    break
                        except TimeoutError:
                            pass
                    else:
                        assert response.status_code == 503
                        await asyncio.sleep(0.1)
