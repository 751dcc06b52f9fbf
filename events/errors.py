"""JSON answers for what no Relayman view handles: unknown routes, bad requests, bad Hosts, CSRF.

Producers, load balancers and scripts read every answer of Relayman's routes as JSON, in the shape
`POST /events` gives its own errors: `{"detail": "<message>"}`. Django's stock error pages are
HTML, so the standalone project names the views below as its `handler400`, `handler403`,
`handler404` and `handler500`, and its CSRF_FAILURE_VIEW `csrf_failure` (a POST to /healthz has
no CSRF token); a host project may do the same in its ROOT_URLCONF and settings: they answer JSON
under the prefix Relayman's routes are mounted at, and Django's own pages elsewhere and under the
admin.

A request whose Host is not in ALLOWED_HOSTS makes Django log an ERROR with a traceback, once per
request: a scanner fills the log. `quiet_bad_hosts`, first in MIDDLEWARE, answers it with a JSON
400 and logs it as one episode instead (`events.episodes`). Django logs any other request it
finds suspicious (a form with too many fields, say) the same way: `QuietSuspiciousRequests`, a
filter on the log handler, turns those into episodes too. A WebSocket to a path no route matches
is a 500 and a traceback from Channels' router; `SocketRouteNotFound`, the last WebSocket route,
refuses it quietly.
"""

import functools
import json
import logging
import threading

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import JsonResponse
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.decorators import sync_and_async_middleware
from django.views import csrf, defaults

from . import config
from .episodes import Episode

logger = logging.getLogger(__name__)

# How much of a client's Host header or path a log line quotes.
LOGGED_CHARS = 100


def error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def bad_request(request, exception=None):
    if not _relaymans(request):
        return defaults.bad_request(request, exception)
    return error(400, _with_reason("Bad request", exception))


def permission_denied(request, exception=None):
    if not _relaymans(request):
        return defaults.permission_denied(request, exception)
    return error(403, _with_reason("Forbidden", exception))


def page_not_found(request, exception=None):
    if not _relaymans(request):
        return defaults.page_not_found(request, exception)
    detail = f"No route for {request.method} {request.path}"
    if request.path.endswith("/") and _routed(request.path_info[:-1]):
        detail += f"; did you mean {request.path[:-1]}?"
    # A scanner's 404s are one episode, not Django's WARNING line per request. Django calls this
    # view from a worker thread, where no loop's timer can notice the quiet: the end is logged at
    # the first 404 after it.
    with _not_found_lock:
        _not_found_episode().occurred(path=request.path[:LOGGED_CHARS])
    response = error(404, detail)
    response._has_been_logged = True  # see quiet_bad_hosts
    return response


_not_found_lock = threading.Lock()


@functools.cache
def _not_found_episode() -> Episode:
    quiet = config.default("EPISODE_QUIET")
    return Episode(logger, "not_found", quiet=quiet, level=logging.INFO)


def server_error(request):
    if not _relaymans(request):
        return defaults.server_error(request)
    return error(500, "Internal server error: the server's log says what went wrong")


def csrf_failure(request, reason=""):
    if not _relaymans(request):
        return csrf.csrf_failure(request, reason)
    return error(403, _with_reason("Forbidden: CSRF verification failed", reason))


def _with_reason(what: str, exception) -> str:
    reason = str(exception or "")
    return f"{what}: {reason}" if reason else what


def _relaymans(request) -> bool:
    """Whether the path is under Relayman's routes' prefix and not the admin's ("/" and "/admin/"
    in the standalone project; both may be mounted anywhere)."""
    relayman, admin = _prefix("relayman-healthz"), _prefix("admin:index")
    path = request.path
    return (
        relayman is not None
        and path.startswith(relayman)
        and not (admin is not None and path.startswith(admin))
    )


def _prefix(route: str) -> str | None:
    try:
        return reverse(route).rpartition("/")[0] + "/"
    except NoReverseMatch:  # not in this project
        return None


def _routed(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


@sync_and_async_middleware
def quiet_bad_hosts(get_response):
    """A request for a host the server does not serve gets a JSON 400 and no log line of its own:
    the first of a run is logged, with the host and ALLOWED_HOSTS, and the run's count once no
    such request has come for RELAYMAN_EPISODE_QUIET seconds."""
    episode = Episode(logger, "bad_host", quiet=config.default("EPISODE_QUIET"))

    def refusal(request):
        try:
            request.get_host()
        except DisallowedHost:
            host = _raw_host(request)
            episode.occurred(host=host[:LOGGED_CHARS], allowed_hosts=settings.ALLOWED_HOSTS)
            response = error(
                400,
                f"Host {host!r} is not served here: the server answers only to the host names "
                "in its ALLOWED_HOSTS setting",
            )
            # Django's handler logs every 4xx (one WARNING line) unless the response says it was
            # logged: `django.utils.log.log_response`, tested with Django 5.2. Were the mark
            # ignored, each refusal would add that line back, never a traceback.
            response._has_been_logged = True
            return response
        return None

    if iscoroutinefunction(get_response):

        async def middleware(request):
            return refusal(request) or await get_response(request)

        markcoroutinefunction(middleware)
    else:

        def middleware(request):
            return refusal(request) or get_response(request)

    return middleware


class QuietSuspiciousRequests(logging.Filter):
    """A log handler's filter: each kind of suspicious request (Django's `django.security.<kind>`
    loggers) is an episode, logged without the traceback Django attaches to every one; other
    records pass. (On a logger, a filter would not see its children's records.)

    Django logs these from a worker thread, where no event loop runs: an episode's end is noticed
    at the first occurrence after RELAYMAN_EPISODE_QUIET seconds without one.
    """

    def __init__(self):
        super().__init__()
        self._episodes: dict[str, Episode] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("django.security."):
            return True
        kind = record.name.rpartition(".")[2]
        with self._lock:
            episode = self._episodes.get(kind)
            if episode is None:
                quiet = config.default("EPISODE_QUIET")
                episode = self._episodes[kind] = Episode(
                    logger, "suspicious_request", quiet=quiet, labels={"kind": kind}
                )
            episode.occurred(reason=record.getMessage()[:LOGGED_CHARS])
        return False


def _raw_host(request) -> str:
    """The Host the client sent, as Django reads it (X-Forwarded-Host when it is trusted)."""
    meta = request.META
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in meta:
        return meta["HTTP_X_FORWARDED_HOST"]
    return meta.get("HTTP_HOST") or meta.get("SERVER_NAME", "")


class SocketRouteNotFound:
    """An ASGI app for the end of the WebSocket routes: a path none of them matches is refused
    before the handshake, logged as an episode (the first path, then a count).

    Where the server offers the ASGI denial-response extension (Relayman's server does:
    `sockets.daphne_protocol`), the refusal is a 404 with a JSON body; stock daphne does not, and
    answers the close before the handshake with a 403.
    """

    def __init__(self):
        self.episode = Episode(
            logger, "socket_no_route", quiet=config.default("EPISODE_QUIET"), level=logging.INFO
        )

    async def __call__(self, scope, receive, send):
        if (await receive())["type"] != "websocket.connect":
            return  # the client left before it could be refused
        path = scope.get("path", "")
        self.episode.occurred(path=path[:LOGGED_CHARS])
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close"})
            return
        body = json.dumps({"detail": f"No WebSocket route for {path}"}).encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
