"""The server's middleware and POST /events: a request that uses no session never leaves the event
loop (no thread hop per event), and the admin's sessions, logins, CSRF checks, messages and
X-Frame-Options work as with Django's own classes.

Everything goes through the async middleware chain, as under daphne: Django's AsyncClient, or
the handler's `get_response_async` (the middleware, the view and the response, without the two
thread hops Django's ASGI handler itself makes per request, for its request_started signal and
for closing the response).
"""

import gc
import json
import re
import uuid
from contextlib import contextmanager
from unittest import mock

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.contrib import messages
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.core import checks
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest
from django.test import AsyncClient, AsyncRequestFactory
from django.urls import resolve

from events import producer_keys, snapshot
from relayman_project.middleware import (
    AuthenticationMiddleware,
    MessageMiddleware,
    SessionMiddleware,
)
from tests.host_project.settings import MIDDLEWARE as DJANGO_MIDDLEWARE  # Django's stock stack

get_host = HttpRequest.get_host  # Django's, counted below

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
USERNAME, PASSWORD = "operator", "a-long-test-password"


@contextmanager
def thread_hops():
    """The functions run in a worker thread (`sync_to_async`) while the block runs."""
    hops = []
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    with mock.patch.object(SyncToAsync, "__call__", counted):
        yield hops


async def respond(request):
    handler = BaseHandler()
    handler.load_middleware(is_async=True)
    return await handler.get_response_async(request)


def with_host(host: str, request):
    request.META["HTTP_HOST"] = host  # the factory's own Host header would be sent beside one
    return request


def event() -> dict:
    unique = uuid.uuid4().hex
    return {"id": unique, "source": f"/tests/{unique}", "type": "created"}


REQUESTS = {
    "one event": lambda rf: rf.post("/events", event(), "application/cloudevents+json"),
    "a batch": lambda rf: rf.post(
        "/events", json.dumps([event()] * 100), "application/cloudevents-batch+json"
    ),
    "binary mode": lambda rf: rf.post(
        "/events",
        b"{}",
        "application/json",
        headers={f"ce-{k}": v for k, v in {**event(), "specversion": "1.0"}.items()},
    ),
    "liveness": lambda rf: rf.get("/healthz"),
    "readiness": lambda rf: rf.get("/readyz"),
}


@pytest.mark.parametrize("make_request", REQUESTS.values(), ids=REQUESTS.keys())
async def test_relay_requests_never_leave_the_event_loop(make_request):
    request = make_request(AsyncRequestFactory())

    with thread_hops() as hops:
        response = await respond(request)

    assert response.status_code in (200, 201), response.content
    assert hops == []
    assert response["X-Frame-Options"] == "DENY"  # the middleware did run
    assert response["X-Content-Type-Options"] == "nosniff"


async def test_a_request_that_never_touches_messages_makes_no_message_storage():
    request = REQUESTS["one event"](AsyncRequestFactory())
    with mock.patch("relayman_project.middleware.default_storage") as make_storage:
        response = await respond(request)
    assert response.status_code == 201, response.content
    make_storage.assert_not_called()  # a cookie signer and two backends, for nothing


async def test_a_post_with_a_producer_key_never_leaves_the_event_loop(settings, monkeypatch):
    key, key_id = producer_keys.new_key()
    key_hash = producer_keys.hash_key(key)
    record = producer_keys.KeyRecord(key_id, "shop", key_hash, ("/tests/",), active=True)
    monkeypatch.setattr(snapshot, "key", {key_id: record}.get)
    monkeypatch.setattr(snapshot, "_used", {})
    settings.RELAYMAN_REQUIRE_PRODUCER_KEYS = True
    request = AsyncRequestFactory().post(
        "/events", event(), "application/json", headers={"Authorization": f"Bearer {key}"}
    )

    with thread_hops() as hops:
        response = await respond(request)

    assert response.status_code == 201, response.content
    assert hops == []
    assert key_id in snapshot._used  # the key was checked


async def test_a_post_leaves_no_reference_cycle_for_the_garbage_collector():
    # DRF's Request and view refer to each other; left so, each request, its body and its
    # response would wait for the cyclic collector, which the served process runs rarely.
    request = AsyncRequestFactory().post("/events", event(), "application/cloudevents+json")
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        response = await resolve("/events").func(request)
        gc.collect()
        left = {type(garbage).__qualname__ for garbage in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()

    assert response.status_code == 201, response.content
    assert not left & {"EventsView", "Request", "ASGIRequest", "HttpResponse"}, left


@pytest.mark.django_db(transaction=True)
async def test_auser_and_the_message_storage_are_the_requests_though_they_hold_it_weakly(operator):
    request = AsyncRequestFactory().get("/admin/")
    for middleware in (SessionMiddleware, AuthenticationMiddleware, MessageMiddleware):
        middleware(lambda request: None).process_request(request)
    assert (await request.auser()).is_anonymous
    request.session[SESSION_KEY] = str(operator.pk)
    request.session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    request.session[HASH_SESSION_KEY] = operator.get_session_auth_hash()
    del request._acached_user
    assert (await request.auser()).username == USERNAME
    messages.info(request, "noted")
    assert [str(m) for m in messages.get_messages(request)] == ["noted"]


async def test_djangos_own_middleware_would_make_13_thread_hops_per_request(settings):
    settings.MIDDLEWARE = DJANGO_MIDDLEWARE

    with thread_hops() as hops:
        response = await respond(AsyncRequestFactory().get("/healthz"))

    assert response.status_code == 200
    assert len(hops) == 13, hops


async def test_a_post_validates_its_host_once_and_a_bad_host_is_still_refused(settings):
    with mock.patch.object(HttpRequest, "get_host", autospec=True, side_effect=get_host) as calls:
        response = await respond(REQUESTS["one event"](AsyncRequestFactory()))
        refused = await respond(with_host("evil.example", AsyncRequestFactory().get("/healthz")))

    assert response.status_code == 201, response.content
    assert refused.status_code == 400
    assert "evil.example" in json.loads(refused.content)["detail"]
    assert calls.call_count == 2  # once per request
    first = settings.MIDDLEWARE.index("events.errors.quiet_bad_hosts")
    assert first < settings.MIDDLEWARE.index("relayman_project.middleware.CommonMiddleware")


async def test_prepend_www_and_disallowed_user_agents_work_as_djangos(settings):
    settings.ALLOWED_HOSTS = ["relay.example", "www.relay.example"]
    settings.PREPEND_WWW = True
    rf = AsyncRequestFactory()
    redirected = await respond(with_host("relay.example", rf.get("/healthz")))
    settings.PREPEND_WWW = False
    settings.DISALLOWED_USER_AGENTS = [re.compile("scanner")]
    scanner = rf.get("/healthz", headers={"User-Agent": "scanner"})
    forbidden = await respond(with_host("relay.example", scanner))
    served = await respond(with_host("relay.example", rf.get("/healthz")))

    assert redirected.status_code == 301
    assert redirected["Location"] == "http://www.relay.example/healthz"
    assert forbidden.status_code == 403
    assert served.status_code == 200


def test_the_admins_system_checks_accept_the_middleware():
    assert checks.run_checks(tags=[checks.Tags.admin]) == []


# The admin, in-process through the async middleware chain. Its views are sync: Django runs them
# in a thread, which needs a transactional test database.


@pytest.fixture
async def operator(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return await sync_to_async(User.objects.create_superuser)(USERNAME, "op@example.com", PASSWORD)


async def login(client: AsyncClient):
    page = await client.get("/admin/login/")
    token = CSRF.search(page.content.decode())[1]
    form = {"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token}
    return page, await client.post("/admin/login/", form)


VARIANTS = {
    "defaults": {},
    "CSRF_USE_SESSIONS": {"CSRF_USE_SESSIONS": True},
    "SESSION_SAVE_EVERY_REQUEST": {"SESSION_SAVE_EVERY_REQUEST": True},
}


@pytest.fixture(params=VARIANTS.values(), ids=VARIANTS.keys())
def variant(request, settings):
    for name, value in request.param.items():
        setattr(settings, name, value)
    return request.param


@pytest.mark.django_db(transaction=True)
async def test_the_admin_logs_in_with_a_session_and_a_csrf_token(operator, variant):
    client = AsyncClient(enforce_csrf_checks=True)

    page, logged_in = await login(client)

    assert page.status_code == 200
    assert page["X-Frame-Options"] == "DENY"
    assert logged_in.status_code == 302, logged_in.content
    assert logged_in.cookies["sessionid"]["httponly"]
    index = await client.get("/admin/")
    assert index.status_code == 200
    assert f"<strong>{USERNAME}</strong>" in index.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_a_form_without_the_csrf_token_is_refused(operator, variant):
    client = AsyncClient(enforce_csrf_checks=True)
    await client.get("/admin/login/")

    refused = await client.post("/admin/login/", {"username": USERNAME, "password": PASSWORD})

    assert refused.status_code == 403
    assert b"CSRF verification failed" in refused.content
    assert (await client.get("/admin/")).status_code == 302  # not logged in


@pytest.mark.django_db(transaction=True)
async def test_a_saved_change_shows_its_message_once_then_logout_ends_the_session(
    operator, variant
):
    client = AsyncClient(enforce_csrf_checks=True)
    await login(client)
    form_page = await client.get("/admin/relayman_events/relaysettings/", follow=True)
    url = form_page.redirect_chain[-1][0]  # the one row's change page
    form = {"idle_timeout": "30", "csrfmiddlewaretoken": CSRF.search(form_page.content.decode())[1]}

    saved = await client.post(url, form, follow=True)

    assert b'class="messagelist"' in saved.content
    assert b"was changed successfully" in saved.content
    again = await client.get(url)
    assert b"was changed successfully" not in again.content
    token = CSRF.search(again.content.decode())[1]
    assert (await client.post("/admin/logout/", {"csrfmiddlewaretoken": token})).status_code == 200
    assert (await client.get("/admin/")).status_code == 302
