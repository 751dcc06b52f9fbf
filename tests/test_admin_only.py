"""The standalone server's session, CSRF, authentication and message middleware act for its admin
alone: every other request passes them untouched, and the admin works wherever it is mounted.

In process, through the async middleware chain as under daphne (the admin's own logins, forms and
messages, with these classes, are tested in tests/test_middleware.py).
"""

import json
import uuid
from unittest import mock

import pytest
from django.contrib import admin
from django.contrib.auth import middleware as auth
from django.contrib.sessions import middleware as sessions
from django.core.handlers.base import BaseHandler
from django.middleware import csrf
from django.test import AsyncClient, AsyncRequestFactory, RequestFactory, override_settings
from django.urls import get_resolver, include, path, set_script_prefix

from relayman_project import admin_only, middleware

# The hooks the standalone's classes call when they act: Django's, and for messages its own.
HOOKS = {
    "session": (sessions.SessionMiddleware, "process_request"),
    "csrf": (csrf.CsrfViewMiddleware, "process_request"),
    "csrf view": (csrf.CsrfViewMiddleware, "process_view"),
    "authentication": (auth.AuthenticationMiddleware, "process_request"),
    "messages": (middleware.MessageMiddleware, "process_request"),  # Django's makes the storage
}

# A host-like layout: the admin under /ops/, Relayman's routes under /relay/.
urlpatterns = [
    path("relay/", include("events.urls")),
    path("ops/", admin.site.urls),
]


class NoAdmin:
    urlpatterns = [path("", include("events.urls"))]


async def respond(request):
    handler = BaseHandler()
    handler.load_middleware(is_async=True)
    return await handler.get_response_async(request)


def one_event(url: str):
    unique = uuid.uuid4().hex
    body = {"id": unique, "source": f"/tests/{unique}", "type": "created"}
    return AsyncRequestFactory().post(url, json.dumps(body), "application/cloudevents+json")


async def hooks_run_for(request) -> tuple[object, set[str]]:
    """The response, and which of Django's hooks the standalone's middleware ran for it."""
    patches = {
        name: mock.patch.object(cls, hook, autospec=True, side_effect=getattr(cls, hook))
        for name, (cls, hook) in HOOKS.items()
    }
    mocks = {name: patch.start() for name, patch in patches.items()}
    try:
        response = await respond(request)
    finally:
        for patch in patches.values():
            patch.stop()
    return response, {
        name
        for name, hook in mocks.items()
        # Django's 404 and 403 views call the CSRF hooks themselves, as decorators: not counted.
        if any(isinstance(call.args[0], admin_only.AdminOnly) for call in hook.call_args_list)
    }


@pytest.mark.parametrize(
    "make_request",
    [lambda: one_event("/events"), lambda: AsyncRequestFactory().get("/healthz")],
    ids=["POST /events", "GET /healthz"],
)
async def test_relaymans_routes_pass_the_admins_middleware_untouched(make_request):
    request = make_request()

    response, ran = await hooks_run_for(request)

    assert response.status_code in (200, 201), response.content
    assert ran == set()
    assert not hasattr(request, "session") and not hasattr(request, "_messages")
    assert response["X-Frame-Options"] == "DENY"  # the other layers did run
    assert "Cookie" not in response.get("Vary", "")


@pytest.mark.django_db
async def test_the_admins_requests_get_every_hook():
    response, ran = await hooks_run_for(AsyncRequestFactory().get("/admin/login/"))

    assert response.status_code == 200
    assert ran == set(HOOKS)
    assert "csrftoken" in response.cookies


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
async def test_the_admin_mounted_elsewhere_is_found_by_its_prefix():
    login, at_login = await hooks_run_for(AsyncRequestFactory().get("/ops/login/"))
    posted, at_events = await hooks_run_for(one_event("/relay/events"))
    # /admin/ is no longer the admin's: a 404 of Relayman's, past untouched layers.
    missing, at_old_prefix = await hooks_run_for(AsyncRequestFactory().get("/admin/login/"))

    assert login.status_code == 200 and at_login == set(HOOKS)
    assert posted.status_code == 201 and at_events == set()
    assert missing.status_code == 404 and at_old_prefix == set()


@override_settings(ROOT_URLCONF=NoAdmin)
async def test_without_an_admin_the_middleware_acts_on_every_request():
    response, ran = await hooks_run_for(one_event("/events"))

    assert response.status_code == 201, response.content
    assert ran == set(HOOKS)


def test_the_admins_prefix_leaves_out_the_script_prefix():
    set_script_prefix("/relay/")
    try:
        assert admin_only.admin_prefix.__wrapped__(get_resolver()) == "/admin/"
    finally:
        set_script_prefix("/")


@pytest.mark.django_db(transaction=True)
async def test_with_csrf_in_the_session_relaymans_routes_still_answer(settings):
    """CSRF_USE_SESSIONS makes Django's CSRF check read the session: both skip these routes."""
    settings.CSRF_USE_SESSIONS = True

    posted = await respond(one_event("/events"))
    login = await AsyncClient(enforce_csrf_checks=True).get("/admin/login/")

    assert posted.status_code == 201, posted.content
    assert login.status_code == 200
    assert b"csrfmiddlewaretoken" in login.content


def noting_layers(called: list):
    """A patch of the admin-only layers' `__call__` that notes each layer called."""
    original = admin_only.AdminOnly.__call__

    def noted(self, request):
        called.append(type(self).__name__)
        return original(self, request)

    return mock.patch.object(admin_only.AdminOnly, "__call__", noted)


async def layers_called(request):
    """The response, and which of the admin-only layers were called for it."""
    called = []
    with noting_layers(called):
        return await respond(request), called


def layers_called_in_sync_mode(request):
    called = []
    handler = BaseHandler()
    handler.load_middleware(is_async=False)
    with noting_layers(called):
        return handler.get_response(request), called


# The standalone's order before the admin's four were put in a row: CommonMiddleware between.
APART = [
    "events.errors.quiet_bad_hosts",
    "relayman_project.middleware.SecurityMiddleware",
    "relayman_project.admin_only.SessionMiddleware",
    "relayman_project.middleware.CommonMiddleware",
    "relayman_project.admin_only.CsrfViewMiddleware",
    "relayman_project.admin_only.AuthenticationMiddleware",
    "relayman_project.admin_only.MessageMiddleware",
    "relayman_project.middleware.XFrameOptionsMiddleware",
]


@pytest.mark.django_db
async def test_another_request_skips_the_four_in_a_row_at_once():
    posted, for_post = await layers_called(one_event("/events"))
    login, for_login = await layers_called(AsyncRequestFactory().get("/admin/login/"))

    assert posted.status_code == 201
    assert login.status_code == 200
    assert for_post == ["SessionMiddleware"]
    assert for_login == [
        "SessionMiddleware",
        "CsrfViewMiddleware",
        "AuthenticationMiddleware",
        "MessageMiddleware",
    ]


@pytest.mark.django_db
@override_settings(MIDDLEWARE=APART)
async def test_layers_apart_are_skipped_one_by_one():
    posted, for_post = await layers_called(one_event("/events"))
    response, ran = await hooks_run_for(one_event("/events"))
    login, at_login = await hooks_run_for(AsyncRequestFactory().get("/admin/login/"))

    assert posted.status_code == 201 and "Content-Length" in posted  # CommonMiddleware ran
    assert for_post == ["SessionMiddleware", "CsrfViewMiddleware"]
    assert response.status_code == 201 and ran == set()
    assert login.status_code == 200 and at_login == set(HOOKS)


@pytest.mark.django_db
def test_a_sync_chain_skips_them_too():
    """Django's test client and a WSGI server build the chain in sync mode."""
    response, called = layers_called_in_sync_mode(RequestFactory().get("/healthz"))
    login, at_login = layers_called_in_sync_mode(RequestFactory().get("/admin/login/"))

    assert response.status_code == 200 and called == ["SessionMiddleware"]
    assert login.status_code == 200 and len(at_login) == 4
    assert "csrftoken" in login.cookies
