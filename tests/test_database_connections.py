"""Views on PostgreSQL under concurrent load: the connections they open are reused or closed as
Django promises, never left behind, whichever thread served the request.

Relayman's admin (CONN_MAX_AGE 60 s: connections kept for reuse), a host project's sync view and
its async view that queries through Django's async ORM (CONN_MAX_AGE 0: closed at the end of
each request) are loaded by concurrent clients, with POST /events beside them; PostgreSQL's own
count of the connections to a database made for the test (pg_stat_activity) must stay within the
server's worker threads, and fall to zero where Django closes them. Needs PostgreSQL at
$RELAYMAN_TEST_POSTGRES (by default the local server).
"""

import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.admin_browser import AdminBrowser, create_superuser
from tests.support.server import Server
from tests.support.wait import wait_until

psycopg = pytest.importorskip("psycopg")

POSTGRES = os.environ.get("RELAYMAN_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")
CLIENTS = 8
ROUNDS = 15  # requests per client and round


def connect():
    try:
        return psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as missing:
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {missing}")


@pytest.fixture
def database():
    """The URL of a new, empty database, and a function counting the connections to it."""
    name = f"relayman_{uuid.uuid4().hex[:12]}"
    with connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES.rsplit("/", 1)[0]

    def connections() -> int:
        with connect() as conn:
            query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
            return conn.execute(query, (name,)).fetchone()[0]

    yield f"{base}/{name}", connections
    with connect() as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def load(request, rounds: int = ROUNDS) -> None:
    """`request(client)` from CLIENTS clients at once, `rounds` times each."""

    def client(_):
        for _ in range(rounds):
            request()

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))


def post_event(url: str) -> None:
    event = {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/tests/db", "type": "t"}
    headers = {"Content-Type": "application/cloudevents+json"}
    assert httpx.post(url, content=json.dumps(event), headers=headers).status_code == 201


def test_the_admin_reuses_its_connections_under_load(database):
    url, connections = database
    with Server(env={"DATABASE_URL": url}) as server:
        create_superuser(server)
        browsers = [AdminBrowser(server.url) for _ in range(CLIENTS)]
        pages = iter(browsers * ROUNDS * 2)

        def admin_page():
            browser = next(pages)
            page = browser.http.get("/admin/relayman_events/producerkey/")
            assert page.status_code == 200, page.text
            post_event(f"{server.url}/events")

        load(admin_page)
        after_one = connections()
        load(admin_page)
        after_two = connections()
        for browser in browsers:
            browser.close()
        # Kept for reuse (CONN_MAX_AGE), one per worker thread at most: as many as requests
        # were served at once, not one per request.
        assert 0 < after_one <= CLIENTS + 1, after_one
        assert after_two <= after_one + 1, (after_one, after_two)
    wait_until(lambda: connections() == 0, "the stopped server's connections to close")


@pytest.mark.parametrize("view", ["sync", "async"])
def test_a_host_projects_view_closes_its_connections_under_load(database, view):
    url, connections = database
    host = Server(
        env={"DATABASE_URL": url},
        application="tests.host_project.asgi:application",
        settings="tests.host_project.settings",
    )
    with host as server:

        def order():
            if view == "sync":
                answer = httpx.post(f"{server.url}/orders", json={"item": "book"})
                assert answer.status_code == 201, answer.text
            else:
                answer = httpx.get(f"{server.url}/orders/count")
                assert answer.status_code == 200 and "orders" in answer.json(), answer.text
            post_event(f"{server.url}/relay/events")

        wait_until(lambda: connections() == 0, "no connection before the load")
        load(order)
        # CONN_MAX_AGE 0: each request's connection is closed as it ends, in its thread.
        # Not asked again after: the settings refresher opens and closes one connection a second.
        wait_until(lambda: connections() == 0, "the host's connections to close", timeout=10)
