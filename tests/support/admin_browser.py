"""The Django admin of a running Relayman, driven over HTTP as an operator's browser drives it."""

import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.server import ROOT, Server
from tests.support.wait import wait_until

USERNAME, PASSWORD = "operator", "a-long-test-password"
KEY = re.compile(r'<code id="producer-key">([^<]+)</code>')
KEY_CHANGE_URL = re.compile(r'href="(/admin/relayman_events/producerkey/\d+/change/)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SETTINGS_URL = "/admin/relayman_events/relaysettings/"  # redirects to the one row
SETTINGS_FIELDS = (
    "allowed_origins",
    "private_sources",
    "require_producer_keys",
    "max_event_bytes",
    "idle_timeout",
    "max_channels",
)


@contextmanager
def two_nodes_one_admin(env: dict | None = None):
    """Two servers sharing one database (so one admin), with its first user made on the first."""
    database = Path(tempfile.mkstemp(suffix=".sqlite3")[1])
    node_a = Server(env=env, database=database).start()
    node_b = Server(env=env, database=database).start()
    try:
        create_superuser(node_a)
        yield node_a, node_b
    finally:
        node_b.close()  # removes the shared database too
        node_a.close()


def create_superuser(server: Server) -> None:
    """The first admin user, as the README says: createsuperuser with DJANGO_SUPERUSER_*."""
    env = {
        **server.env,
        "DJANGO_SUPERUSER_USERNAME": USERNAME,
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "DJANGO_SUPERUSER_EMAIL": "operator@example.com",
    }
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


class AdminBrowser:
    """A logged-in admin session on one server."""

    def __init__(self, url: str):
        self.http = httpx.Client(base_url=url, timeout=10, follow_redirects=False)
        login = self.submit("/admin/login/", {"username": USERNAME, "password": PASSWORD})
        assert login.status_code == 302, _errors(login.text)

    def submit(self, path: str, form: dict) -> httpx.Response:
        """GET the form page (following redirects), then POST it with its CSRF token."""
        page = self.http.get(path, follow_redirects=True)
        assert page.status_code == 200, page.text
        response = self.http.post(page.url, data={**form, "csrfmiddlewaretoken": _csrf(page.text)})
        assert response.status_code in (200, 302), response.text
        return response

    def save_settings(self, **values) -> None:
        """Save the Relay settings page: the given fields set, every other one emptied."""
        form = {name: str(values.get(name, "")) for name in SETTINGS_FIELDS}
        response = self.submit(SETTINGS_URL, form)
        assert response.status_code == 302, _errors(response.text)

    def add_key(self, name: str, prefixes: str) -> tuple[str, str]:
        """Add a producer key; the key shown once, and the URL of its change page."""
        response = self.submit(
            "/admin/relayman_events/producerkey/add/",
            {"name": name, "source_prefixes": prefixes, "active": "on"},
        )
        return KEY.search(response.text)[1], KEY_CHANGE_URL.search(response.text)[1]

    def edit_key(self, change_url: str, name: str, prefixes: str, active: bool) -> None:
        form = {"name": name, "source_prefixes": prefixes, **({"active": "on"} if active else {})}
        response = self.submit(change_url, form)
        assert response.status_code == 302, _errors(response.text)

    def page(self, path: str) -> str:
        return self.http.get(path).text

    def close(self) -> None:
        self.http.close()


def eventually(check, what: str, timeout: float = 5.0) -> float:
    """`wait_until`, returning the seconds it took: how long a change took to reach a node."""
    start = time.monotonic()
    wait_until(check, what, timeout)
    return time.monotonic() - start


def _csrf(html: str) -> str:
    return CSRF.search(html)[1]


def _errors(html: str) -> str:
    return " | ".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)) or html
