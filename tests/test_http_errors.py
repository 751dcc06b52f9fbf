"""What a client sees when no Relayman view handles its request, and what the log shows.

Every answer of Relayman's HTTP routes is JSON, `{"detail": "<message>"}` like POST /events's own
errors; the admin keeps its HTML pages. A bad Host and a WebSocket to an unknown path are refused
without a traceback, and a run of them is logged as one episode (`events.episodes`): a line when
it starts, a line with the count when it ends.
"""

import asyncio
import json
import logging
import time

import httpx
import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import get_resolver, include, path
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from events import errors
from events.episodes import Episode
from tests.host_project.settings import MIDDLEWARE as HOST_PROJECT_MIDDLEWARE
from tests.support.sockets_client import new_source, phoenix
from tests.support.wait import await_until, wait_until

QUIET = 2  # RELAYMAN_EPISODE_QUIET of the servers below, in seconds (a gap this long ends a run)


@pytest.fixture
def quiet_server(make_server):
    return make_server(env={"RELAYMAN_EPISODE_QUIET": str(QUIET)})


def lines(server, text: str) -> list[str]:
    return [line for line in server.logs().splitlines() if text in line]


# The standalone server, end to end


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("POST", "/events/", "No route for POST /events/; did you mean /events?"),
        ("GET", "/healthz/", "No route for GET /healthz/; did you mean /healthz?"),
        ("GET", "/nowhere", "No route for GET /nowhere"),
        ("DELETE", "/static/missing.css", "No route for DELETE /static/missing.css"),
    ],
)
def test_an_unknown_route_is_a_json_404(server, method, path, detail):
    response = httpx.request(method, server.url + path, json={})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": detail}


def test_the_admin_keeps_its_html_pages(server):
    response = httpx.get(server.url + "/admin/login/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_a_probe_takes_get_and_head_only_and_says_so_in_json(quiet_server, method, path):
    response = httpx.request(method, quiet_server.url + path, json={})

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/json"
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json() == {
        "detail": f"Method {method} not allowed: {path} answers GET and HEAD"
    }
    assert httpx.head(quiet_server.url + path).status_code == 200
    assert lines(quiet_server, "Method Not Allowed") == []


def test_a_scan_of_unknown_routes_is_one_episode_not_a_line_each(quiet_server):
    with httpx.Client(base_url=quiet_server.url) as client:
        answers = {client.get(f"/wp-admin/{n}.php").status_code for n in range(50)}

    assert answers == {404}
    assert len(lines(quiet_server, "event=not_found_started")) == 1
    # Django answers a 404 from a worker thread: the end shows at the first 404 after the quiet.
    time.sleep(QUIET + 0.5)
    assert httpx.get(quiet_server.url + "/wp-login.php").status_code == 404
    ended = wait_until(lambda: lines(quiet_server, "event=not_found_ended"), "the scan's end")
    assert "count=50 " in ended[0]
    assert len(lines(quiet_server, "event=not_found_started")) == 2
    assert lines(quiet_server, "Not Found:") == []


def test_the_admin_keeps_djangos_csrf_page(server):
    response = httpx.post(server.url + "/admin/login/", data={"username": "a"})

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "CSRF verification failed" in response.text
    assert "Traceback" not in server.logs()


def test_a_burst_of_bad_hosts_is_refused_in_json_and_logged_as_one_episode(quiet_server):
    with httpx.Client(base_url=quiet_server.url, headers={"Host": "evil.example"}) as client:
        responses = [client.get("/healthz") for _ in range(100)]

    assert {response.status_code for response in responses} == {400}
    assert {response.headers["content-type"] for response in responses} == {"application/json"}
    assert responses[0].json() == {
        "detail": "Host 'evil.example' is not served here: the server answers only to the host "
        "names in its ALLOWED_HOSTS setting"
    }
    ended = wait_until(
        lambda: lines(quiet_server, "event=bad_host_ended"), "the episode's end", timeout=QUIET + 5
    )
    assert len(ended) == 1
    assert "level=WARNING" in ended[0] and "count=100 " in ended[0]
    started = lines(quiet_server, "event=bad_host_started")
    assert len(started) == 1
    assert "host='evil.example' allowed_hosts=['localhost', '127.0.0.1', '[::1]']" in started[0]
    assert lines(quiet_server, "Traceback") == []
    assert lines(quiet_server, "django.security") == []
    assert lines(quiet_server, "Bad Request") == []
    # The server still answers to its own host names.
    assert httpx.get(quiet_server.url + "/healthz").status_code == 200


def test_other_suspicious_requests_are_logged_as_episodes_without_a_traceback(quiet_server):
    """Django logs these from a worker thread, with no event loop to time the quiet: an episode's
    end shows at its first occurrence after the quiet period."""
    too_many_fields = {f"field{i}": "x" for i in range(1100)}  # Django allows 1000
    posts = []

    def post_and_look_for_the_end():
        posts.append(client.post("/admin/login/", data=too_many_fields))
        return lines(quiet_server, "event=suspicious_request_ended")

    with httpx.Client(base_url=quiet_server.url) as client:
        client.get("/admin/login/")  # the CSRF cookie: without it, the form is refused first
        for _ in range(4):
            post_and_look_for_the_end()
        # Polled less often than the quiet period, so the next post comes after a quiet one.
        [ended] = wait_until(
            post_and_look_for_the_end,
            "the end of the episode",
            timeout=2 * QUIET + 5,
            interval=QUIET + 0.2,
        )

    assert {response.status_code for response in posts} == {400}
    kind = "kind='TooManyFieldsSent'"
    assert f"{kind} count={len(posts) - 1} " in ended  # the last post began a new episode
    started = lines(quiet_server, "event=suspicious_request_started")
    assert len(started) == 2 and all(kind in line for line in started)
    assert "reason='The number of GET/POST parameters exceeded" in started[0]
    assert lines(quiet_server, "Traceback") == []
    assert lines(quiet_server, "level=ERROR") == []


async def test_a_websocket_to_an_unknown_path_is_a_json_404_without_a_traceback(quiet_server):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(quiet_server.ws_url + "/nowhere/websocket", proxy=None):
            pass

    response = refused.value.response
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == {"detail": "No WebSocket route for /nowhere/websocket"}
    async with phoenix(quiet_server) as client:  # the socket route is unaffected
        await client.join(f"source:{new_source()}")
    ended = await await_until(
        lambda: lines(quiet_server, "event=socket_no_route_ended"),
        "the episode's end",
        timeout=QUIET + 5,
    )
    assert "count=1 " in ended[0]
    started = lines(quiet_server, "event=socket_no_route_started")
    assert len(started) == 1 and "level=INFO" in started[0]
    assert "path='/nowhere/websocket'" in started[0]
    assert lines(quiet_server, "Traceback") == []
    assert lines(quiet_server, "level=ERROR") == []


# The error views, in-process (a host project names them as its handlers)

rf = RequestFactory()


def test_the_standalone_projects_handlers_are_relaymans():
    resolver = get_resolver("relayman_project.urls")

    assert resolver.resolve_error_handler(400) is errors.bad_request
    assert resolver.resolve_error_handler(403) is errors.permission_denied
    assert resolver.resolve_error_handler(404) is errors.page_not_found
    assert resolver.resolve_error_handler(500) is errors.server_error


@pytest.mark.parametrize(
    ("view", "status", "detail"),
    [
        (
            lambda request: errors.bad_request(request, SuspiciousOperation("Too many fields")),
            400,
            "Bad request: Too many fields",
        ),
        (
            lambda request: errors.permission_denied(request, PermissionDenied()),
            403,
            "Forbidden",
        ),
        (
            errors.server_error,
            500,
            "Internal server error: the server's log says what went wrong",
        ),
    ],
)
def test_error_views_answer_json(view, status, detail):
    response = view(rf.post("/events"))

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.content.decode() == f'{{"detail": "{detail}"}}'


@pytest.mark.parametrize(
    ("view", "status"),
    [
        (lambda request: errors.page_not_found(request, Http404()), 404),
        (lambda request: errors.bad_request(request, SuspiciousOperation()), 400),
        (lambda request: errors.permission_denied(request, PermissionDenied()), 403),
        (errors.server_error, 500),
    ],
)
def test_under_the_admin_the_error_pages_stay_html(view, status):
    response = view(rf.get("/admin/relayman_events/nothing/"))

    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")


# A host project's routes: Relayman under /relay/, beside pages of its own.
urlpatterns = [
    path("relay/", include("events.urls")),
    path("relay/form", lambda request: HttpResponse("posted")),  # a route that checks CSRF
    path("orders/form", lambda request: HttpResponse("posted")),
    path("admin/", admin.site.urls),
]


@override_settings(ROOT_URLCONF=__name__)
def test_in_a_host_project_json_answers_only_under_relaymans_prefix():
    """Its own pages and its admin keep Django's HTML."""
    relayman = errors.page_not_found(rf.post("/relay/events/"), Http404())
    own = errors.page_not_found(rf.get("/orders/7"), Http404())
    admin_page = errors.page_not_found(rf.get("/admin/nothing/"), Http404())

    assert relayman["Content-Type"] == "application/json"
    assert (
        relayman.content
        == b'{"detail": "No route for POST /relay/events/; did you mean /relay/events?"}'
    )
    assert own.status_code == 404 and own["Content-Type"].startswith("text/html")
    assert admin_page["Content-Type"].startswith("text/html")


# With a host project's middleware: the standalone server's checks CSRF only under its admin.
@override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=HOST_PROJECT_MIDDLEWARE)
def test_a_csrf_failure_is_json_under_relaymans_prefix_and_djangos_page_elsewhere():
    client = Client(enforce_csrf_checks=True)

    relayman = client.post("/relay/form")
    own = client.post("/orders/form")
    admin_page = client.post("/admin/login/")

    assert relayman.status_code == 403 and relayman["Content-Type"] == "application/json"
    assert relayman.json() == {
        "detail": "Forbidden: CSRF verification failed: CSRF cookie not set."
    }
    for page in (own, admin_page):
        assert page.status_code == 403 and page["Content-Type"].startswith("text/html")
        assert b"CSRF verification failed" in page.content


def test_the_log_filter_passes_every_record_but_suspicious_requests():
    quiet = errors.QuietSuspiciousRequests()

    def record(name):
        return logging.LogRecord(name, logging.ERROR, __file__, 1, "message", (), None)

    assert quiet.filter(record("django.request")) is True
    assert quiet.filter(record("events.publishing")) is True
    assert quiet.filter(record("django.security.TooManyFieldsSent")) is False
    assert quiet.filter(record("django.security.DisallowedHost")) is False


@override_settings(ALLOWED_HOSTS=["relay.example"])
def test_a_wsgi_host_project_gets_the_same_bad_host_answer(caplog):
    """The middleware works in a sync (WSGI) stack too."""
    middleware = errors.quiet_bad_hosts(lambda request: HttpResponse("served"))

    with caplog.at_level(logging.WARNING, logger="events.errors"):
        refused = middleware(rf.get("/relay/events", HTTP_HOST="evil.example"))
        served = middleware(rf.get("/relay/events", HTTP_HOST="relay.example"))

    assert refused.status_code == 400 and refused["Content-Type"] == "application/json"
    assert served.content == b"served"
    assert [record.getMessage() for record in caplog.records] == [
        "event=bad_host_started host='evil.example' allowed_hosts=['relay.example']"
    ]


class FakeSocket:
    """The ASGI side of a WebSocket handshake, as a server would drive it."""

    def __init__(self, extensions: dict | None = None, first: str = "websocket.connect"):
        self.scope = {"type": "websocket", "path": "/nowhere", "headers": []}
        self.first = first
        if extensions is not None:
            self.scope["extensions"] = extensions
        self.sent = []

    async def receive(self):
        return {"type": self.first}

    async def send(self, message):
        self.sent.append(message)


async def test_a_server_with_the_denial_response_extension_gets_a_json_404():
    socket = FakeSocket(extensions={"websocket.http.response": {}})

    await errors.SocketRouteNotFound()(socket.scope, socket.receive, socket.send)

    start, body = socket.sent
    assert start == {
        "type": "websocket.http.response.start",
        "status": 404,
        "headers": [(b"content-type", b"application/json")],
    }
    assert body == {
        "type": "websocket.http.response.body",
        "body": b'{"detail": "No WebSocket route for /nowhere"}',
    }


async def test_without_the_extension_the_socket_is_closed_before_the_handshake():
    socket = FakeSocket()

    await errors.SocketRouteNotFound()(socket.scope, socket.receive, socket.send)

    assert socket.sent == [{"type": "websocket.close"}]


async def test_a_client_gone_before_the_refusal_is_sent_nothing():
    socket = FakeSocket(first="websocket.disconnect")

    await errors.SocketRouteNotFound()(socket.scope, socket.receive, socket.send)

    assert socket.sent == []


# events.episodes


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="tests.episodes")
    return lambda: [record.getMessage() for record in caplog.records]


def test_an_episode_logs_its_start_once_and_its_end_with_the_count_and_duration(log):
    clock = Clock()
    episode = Episode(logging.getLogger("tests.episodes"), "redis_down", clock=clock)

    for _ in range(95):
        episode.occurred(error="ConnectionRefusedError")
        clock.now += 0.1
    episode.end()
    episode.end()  # nothing under way: nothing logged

    assert log() == [
        "event=redis_down_started error='ConnectionRefusedError'",
        "event=redis_down_ended count=95 seconds=9.5",
    ]
    assert not episode.active


def test_without_a_running_loop_the_quiet_is_noticed_at_the_next_occurrence(log):
    clock = Clock()
    episode = Episode(logging.getLogger("tests.episodes"), "bad_host", quiet=10, clock=clock)

    episode.occurred(host="a")
    clock.now += 2
    episode.occurred(host="b")
    clock.now += 10
    episode.occurred(host="c")

    assert log() == [
        "event=bad_host_started host='a'",
        "event=bad_host_ended count=2 seconds=2.0",
        "event=bad_host_started host='c'",
    ]


async def test_on_a_running_loop_a_timer_notices_the_quiet(log):
    episode = Episode(logging.getLogger("tests.episodes"), "bad_host", quiet=0.2)

    for _ in range(3):
        episode.occurred(host="a")
        await asyncio.sleep(0.05)  # occurrences keep the episode going
    assert log() == ["event=bad_host_started host='a'"]

    ended = await await_until(lambda: len(log()) == 2 and log()[1], "the episode's end")
    assert ended.startswith("event=bad_host_ended count=3 seconds=")
    assert not episode.active
