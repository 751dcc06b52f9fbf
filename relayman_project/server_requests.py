"""What the server decides from a request's head alone: media-type headers, the limit on its
body, producer keys, and a WebSocket upgrade while the server drains.

Refusing there costs nothing: no byte of the body is read (Twisted would otherwise take a whole
body, to a temporary file past 100 kB, before daphne passes the request on), and a client that
sent `Expect: 100-continue` is answered before it sends one. The answers match the
application's own: the view's 413 and DRF's 401 with the same `WWW-Authenticate`.

Django parses every request's Content-Type with the standard library's email header parser, whose
cost grows with the square of the number of ';' (Python 3.11: a 16 KB `a/a; x="` followed by
semicolons costs 150 ms of CPU, on any route, before any view runs). Accept goes through the same
parser in DRF's content negotiation and Django's `HttpRequest.accepts()`: not on Relayman's own
routes, but on a host project's. A media-type header longer or with more ';' than any real one is
refused here with a 400.
"""

from dataclasses import dataclass
from urllib.parse import unquote

from django.conf import global_settings, settings
from django.urls import NoReverseMatch, reverse

from events import config, content_modes, metrics, producer_keys, snapshot
from events.auth import REALM

from . import server_answers

OTHER_LIMIT = "DATA_UPLOAD_MAX_MEMORY_SIZE: the limit for bodies other than events"

# The media-type headers Django and DRF parse, and what one may hold: a browser's Accept has about
# 140 bytes and 7 ';'.
MEDIA_TYPE_HEADERS = ("Content-Type", "Accept")
MAX_MEDIA_TYPE_BYTES = 1024
MAX_MEDIA_TYPE_SEMICOLONS = 32


@dataclass(frozen=True)
class BodyLimit:
    size: int
    origin: str  # where the limit comes from, as the 413 names it

    def refusal(self, size: int | None = None) -> bytes:
        """The 413 for a body of `size` bytes, or for a streamed one that passed the limit."""
        return server_answers.response(413, config.too_large(self.size, self.origin, size))


@dataclass(frozen=True)
class Verdict:
    refusal: bytes | None  # the answer refusing the request now, or None
    limit: BodyLimit  # what its body is held to
    events_headers: object | None  # its (Twisted) headers when it is a POST /events, else None
    status: int | None = None  # the refusal's status code, where POST /events counts it

    def count_refusal(self, status: int | None = None) -> None:
        """A POST /events answered here, before the view: counted as the view counts its own
        answers (relayman_ingest_requests_total), so that a producer refused for a missing key
        or an oversized body shows in the metrics. The content mode is read only then: an
        accepted request leaves that to the view."""
        status = status or self.status
        if self.events_headers is not None and status is not None:
            mode = _events_mode(self.events_headers)
            metrics.series(metrics.INGEST_REQUESTS, mode, status).inc()


# A new socket while the server drains (server_drain): the client's reconnection goes elsewhere.
DRAINING_REFUSAL = server_answers.response(
    503, "The server is shutting down (draining its sockets): connect to another node"
)


class RequestRules:
    """The rules for one server's requests; the events route's follow the live settings."""

    draining = False  # set when the server begins to drain: new sockets are refused

    def __init__(self, root_path: str = ""):
        try:
            self.events_path = root_path.rstrip("/") + reverse("relayman-events")
        except NoReverseMatch:  # a host project that serves no events route
            self.events_path = None
        # Django's own default when the project sets none (the standalone project sets None).
        other = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or global_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        self.other_limit = BodyLimit(other, OTHER_LIMIT)

    def judge(self, target: bytes, headers, length: int | None) -> Verdict:
        """What to do with a request whose head is in.

        `target` is the request line's target, `headers` Twisted's, `length` the declared
        Content-Length (None when the body is chunked).
        """
        events = headers if self._is_events(target) else None
        limit = self.other_limit
        if self.draining and headers.hasHeader(b"upgrade"):
            return Verdict(DRAINING_REFUSAL, limit, events)
        refusal = _media_type_refusal(headers)
        if refusal:
            return Verdict(refusal, limit, events, 400)
        if events is not None:
            limit = BodyLimit(config.get("MAX_EVENT_BYTES"), config.EVENT_SIZE_ORIGIN)
            refusal = self._producer_key_refusal(headers)
            if refusal:
                return Verdict(refusal, limit, events, 401)
        if length is not None and length > limit.size:
            return Verdict(limit.refusal(length), limit, events, 413)
        return Verdict(None, limit, events)

    def _is_events(self, target: bytes) -> bool:
        path = target.split(b"?", 1)[0]
        if self.events_path is None or not path.isascii():
            return False
        return unquote(path.decode("ascii")) == self.events_path  # as daphne gives it to Django

    @staticmethod
    def _producer_key_refusal(headers) -> bytes | None:
        if not config.get("REQUIRE_PRODUCER_KEYS"):
            return None
        values = headers.getRawHeaders(b"authorization")
        # Django reads header bytes as Latin-1 and joins repeated headers with commas.
        authorization = ",".join(v.decode("latin-1") for v in values) if values else None
        try:
            producer_keys.check(authorization, snapshot.key)
        except producer_keys.KeyRefused as refused:
            return server_answers.response(401, str(refused), (("WWW-Authenticate", REALM),))
        return None


def _events_mode(headers) -> str:
    """The content mode a POST /events' head says, as the metrics label it."""
    values = headers.getRawHeaders(b"content-type")
    content_type = b",".join(values).decode("latin-1") if values else ""
    ce = ("ce-specversion",) if headers.hasHeader(b"ce-specversion") else ()
    return content_modes.mode_for(content_type, ce) or metrics.NO_MODE


def _media_type_refusal(headers) -> bytes | None:
    for name in MEDIA_TYPE_HEADERS:
        values = headers.getRawHeaders(name.encode())
        if not values:
            continue
        value = b",".join(values)  # as Django joins repeated headers
        size, semicolons = len(value), value.count(b";")
        if size > MAX_MEDIA_TYPE_BYTES or semicolons > MAX_MEDIA_TYPE_SEMICOLONS:
            return server_answers.response(
                400,
                f"The {name} header has {size} bytes and {semicolons} ';'; the limit is "
                f"{MAX_MEDIA_TYPE_BYTES} bytes and {MAX_MEDIA_TYPE_SEMICOLONS} ';' (parsing a "
                "longer media type costs the server too much)",
            )
    return None
