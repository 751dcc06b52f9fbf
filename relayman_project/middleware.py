"""Django's middleware, with its hooks run on the event loop unless they may reach the database.

Under ASGI, Django runs every hook of a sync-only middleware in a worker thread and back: for the
stack in settings.MIDDLEWARE, 13 round trips per request, whatever the view, which cost most of a
request's time (`POST /events` as much as a bare async view). Yet these hooks only read the
request and set response headers, except where a session or stored messages are loaded or saved.
Each subclass below runs its hooks inline and sends only those cases to a thread; they arise only
on requests that use the session (the admin's), whose views run in a thread anyway.

The subclasses keep Django's names and behaviour, so the admin's checks and tests see Django's.
"""

import weakref
from functools import partial

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.messages.storage import default_storage
from django.contrib.sessions import middleware as sessions
from django.middleware import clickjacking, common, csrf, security
from django.utils.functional import SimpleLazyObject, empty

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


class OnTheLoop:
    """Mixed into a `MiddlewareMixin` subclass: its hooks run inline when they do no I/O."""

    def needs_thread(self, request) -> bool:
        """Whether the hooks may load or save something for this request (asked once per hook)."""
        return False

    async def __acall__(self, request):
        if self.needs_thread(request):
            return await super().__acall__(request)
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if not hasattr(self, "process_response"):
            return response
        if self.needs_thread(request):  # the view used the session or messages
            return await sync_to_async(self.process_response)(request, response)
        return self.process_response(request, response)


class SecurityMiddleware(OnTheLoop, security.SecurityMiddleware):
    """HTTPS redirects and security headers."""


class CommonMiddleware(OnTheLoop, common.CommonMiddleware):
    """Slash redirects (a URL resolve, in memory), Content-Length, and Django's checks of the
    user agent and the "www." prefix when DISALLOWED_USER_AGENTS or PREPEND_WWW ask for them.

    Django's validates the host on every request only to prepend "www.": `quiet_bad_hosts`,
    first in settings.MIDDLEWARE, has validated it already, and a second time cost 3 % of
    POST /events.
    """

    def process_request(self, request):
        if settings.PREPEND_WWW or settings.DISALLOWED_USER_AGENTS:
            return super().process_request(request)
        return None


class XFrameOptionsMiddleware(OnTheLoop, clickjacking.XFrameOptionsMiddleware):
    """The X-Frame-Options header."""


class AuthenticationMiddleware(OnTheLoop, auth.AuthenticationMiddleware):
    """`request.user` is lazy: the user is loaded only by a view that reads it.

    Django's `request.auser` holds the request that holds it: a reference cycle per request,
    freed (with all the request refers to) only by the cyclic collector. Here it refers to the
    request weakly. (`request.user` holds it too; DRF replaces it, so POST /events makes none.)
    """

    def process_request(self, request):
        super().process_request(request)
        request.auser = partial(_auser, weakref.ref(request))


async def _auser(request_ref):
    return await auth.auser(request_ref())


class SessionMiddleware(OnTheLoop, sessions.SessionMiddleware):
    """The session is loaded on first use; only a session that was used may need saving."""

    def needs_thread(self, request) -> bool:
        session = getattr(request, "session", None)
        return settings.SESSION_SAVE_EVERY_REQUEST or (session is not None and session.accessed)


class MessageMiddleware(OnTheLoop, messages.MessageMiddleware):
    """Messages are read from the session on first use; only used or new ones are stored.

    The storage itself is made on first use too: building it (a cookie signer, a fallback of
    two backends) cost a request that never touches messages, such as POST /events, about 30 µs.
    """

    def process_request(self, request):
        # Weakly: the request holds the lazy storage, which would hold it (a reference cycle).
        request._messages = SimpleLazyObject(partial(_storage, weakref.ref(request)))

    def process_response(self, request, response):
        if not _made(request):
            return response
        return super().process_response(request, response)

    def needs_thread(self, request) -> bool:
        if not _made(request):
            return False
        storage = request._messages
        return storage.used or storage.added_new


def _storage(request_ref):
    return default_storage(request_ref())


def _made(request) -> bool:
    """Whether the request's message storage was made: used, or replaced by a view."""
    storage = getattr(request, "_messages", None)
    if isinstance(storage, SimpleLazyObject):  # tells without making it
        return storage._wrapped is not empty
    return storage is not None


class CsrfViewMiddleware(OnTheLoop, csrf.CsrfViewMiddleware):
    """The CSRF secret travels in a cookie; a form's token is checked in a thread (it reads
    the form, and a failure renders a template). With CSRF_USE_SESSIONS, all of it does."""

    def needs_thread(self, request) -> bool:
        return settings.CSRF_USE_SESSIONS

    async def process_view(self, request, callback, callback_args, callback_kwargs):
        args = (request, callback, callback_args, callback_kwargs)
        reads_nothing = request.method in SAFE_METHODS or getattr(callback, "csrf_exempt", False)
        if reads_nothing and not settings.CSRF_USE_SESSIONS:
            return super().process_view(*args)
        return await sync_to_async(super().process_view)(*args)
