"""Django's ASGI handler, with a worker thread for a request only when something sync runs.

Django gives each ASGI request a new worker thread (asgiref's `ThreadSensitiveContext`), so that
a sync view's database connections are used and closed in one thread: Django's receivers of
request_finished (`close_old_connections` among them), run there by `response.close()`, close
or keep them as CONN_MAX_AGE says. It starts that thread at the request's first sync call, and
request_started's receivers are one, whatever the view: for an async view such as POST /events,
an OS thread started per request and two hops to it, for receivers that then find nothing to do.

Here a request gets a thread at the first sync call its view or middleware make, if any (a sync
view such as the admin's, a hook that loads the session), and Django's receivers of both signals
run in it as Django runs them, request_started's just before that first call. The thread is lent
for the request and taken back at its end (`Workers`), so its connections are reused as
CONN_MAX_AGE promises, where a thread per request leaves each one behind.

A request that ran nothing sync gets neither signal while only Django's receivers are connected:
they would find nothing to do. The ORM refuses to connect on the event loop, and what a request
makes there (a connection's wrapper, a cache client, its URLconf) lives in its task's context,
which ends with it (daphne and uvicorn run each request in a task of its own), so it goes with
the request. Sent on the loop anyway, request_finished cost 8 % of POST /events' instructions. A
project that connects receivers of its own to either signal gets them sent as Django sends them.
"""

import asyncio
import contextvars
import io
import logging
import weakref
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial

import asgiref
import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.cache import close_caches
from django.core.exceptions import RequestAborted
from django.core.handlers import asgi
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, reset_queries
from django.http.response import HttpResponseBase
from django.urls import get_resolver, set_script_prefix, set_urlconf

from . import resolved_paths

# What Django itself connects to request_started and request_finished. The database ones act on
# the connections of the thread that runs them (the loop's: none, as the ORM refuses to run on
# it); `close_caches` on the cache clients the request's context made, through Django's sync
# cache API (its async methods run it in the request's thread); `reset_urlconf` on the request's
# context. For a request that ran nothing sync they have nothing to do: it is sent neither.
DJANGOS_RECEIVERS = frozenset({close_old_connections, reset_queries, close_caches, reset_urlconf})

_request_thread: contextvars.ContextVar["RequestThread"] = contextvars.ContextVar("request_thread")


class Workers:
    """Idle worker threads, each lent to one request at a time and taken back when it ends.

    A thread keeps its database connections from one request to the next, so CONN_MAX_AGE
    reuses them as Django promises (a thread per request would leave each one behind, open);
    there are as many as requests have needed at once, never one per request.
    """

    def __init__(self):
        self._idle: list[ThreadPoolExecutor] = []

    def lend(self) -> ThreadPoolExecutor:
        if self._idle:
            return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="django-request")

    def take_back(self, worker: ThreadPoolExecutor) -> None:
        self._idle.append(worker)  # a call still running there (its view was cancelled) goes first


WORKERS = Workers()


class RequestThread(Executor):
    """One request's worker thread, lent at its first sync call; none if it makes none.

    `on_lend`, if set, runs in the thread before that first call: request_started's receivers,
    which were Django's to run there.
    """

    _worker: ThreadPoolExecutor | None = None
    on_lend = None

    @property
    def started(self) -> bool:
        return self._worker is not None

    def submit(self, fn, /, *args, **kwargs):
        if self._worker is None:
            self._worker = WORKERS.lend()
            if self.on_lend is not None:
                return self._worker.submit(_in_turn, self.on_lend, partial(fn, *args, **kwargs))
        return self._worker.submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        """The request is over: its thread goes back to the idle ones."""
        if self._worker is not None:
            WORKERS.take_back(self._worker)
            self._worker = None


TESTED_ASGIREF = ("3.13.0",)
logger = logging.getLogger("events")


def routing_internals_known(version: str | None = None) -> bool:
    """Whether asgiref keeps a context's thread where `ThreadRouting` puts it (tested versions)."""
    version = version or asgiref.__version__
    return (
        version in TESTED_ASGIREF
        and isinstance(
            getattr(SyncToAsync, "thread_sensitive_context", None), contextvars.ContextVar
        )
        and isinstance(
            getattr(SyncToAsync, "context_to_thread_executor", None), weakref.WeakKeyDictionary
        )
    )


ROUTE_DIRECTLY = routing_internals_known()
if not ROUTE_DIRECTLY:
    logger.warning(
        "event=fallback asgiref=%s tested=%s: requests enter asgiref's ThreadSensitiveContext",
        asgiref.__version__,
        ",".join(TESTED_ASGIREF),
    )


class ThreadRouting:
    """Sends the thread-sensitive sync calls of the current context to a request's thread.

    What `ThreadSensitiveContext(executor=thread)` does on entering and leaving, less one thing:
    it also hides the thread of an enclosing `async_to_sync`, kept in an asgiref `Local`, whose
    three accesses (each takes a lock; a write copies a dict) cost 5 % of POST /events. A
    request is never served inside `async_to_sync` by daphne or uvicorn; where it is (an async
    Django test), that enclosing thread takes its sync calls, as in Django's own handler. Reads
    asgiref's internals, so used only with the versions it was tested on (`ROUTE_DIRECTLY`).
    """

    __slots__ = ("_key", "_token")

    def __init__(self, thread: Executor):
        self._key = ThreadSensitiveContext()
        self._token = SyncToAsync.thread_sensitive_context.set(self._key)
        SyncToAsync.context_to_thread_executor[self._key] = thread

    def end(self) -> None:
        SyncToAsync.context_to_thread_executor.pop(self._key, None)
        SyncToAsync.thread_sensitive_context.reset(self._token)
        # A task the request started and left running is refused a thread-sensitive call, as
        # asgiref refuses it after a context with an executor, rather than given a new thread.
        self._key._exited = True


def _replaying(first: dict, receive):
    """`receive`, giving `first` again before what follows it."""
    pending = [first]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


def _in_turn(*calls):
    for call in calls:
        result = call()
    return result


def only_djangos_receivers(signal, sender) -> bool:
    """Whether `signal` would reach Django's database housekeeping and nothing else.

    Asked twice per request: the answer is kept per list of connected receivers (their lookup
    keys: the ids of receiver and sender), so a receiver connected or disconnected is seen at once.
    A dead weak receiver whose id a new one takes cannot turn a "no" into a "yes": Django's own
    receivers are module functions, which never die.
    """
    key = (sender, tuple(receiver[0] for receiver in signal.receivers))
    known = _only_djangos.get(signal)
    if known is None or known[0] != key:
        sync_receivers, async_receivers = signal._live_receivers(sender)
        only = not async_receivers and all(r in DJANGOS_RECEIVERS for r in sync_receivers)
        known = _only_djangos[signal] = (key, only)
    return known[1]


_only_djangos: dict = {}  # signal -> (its receivers' key, the answer for them)


class _DisconnectWatch:
    """Cancels a request's task when its client disconnects before the response is complete.

    It listens only once the request lets the event loop run: a view that answers without
    waiting for anything (POST /events on the embedded layer) is never interrupted by the loop,
    so a listener could not act before its end, and starting one (a task, woken again to be
    cancelled) cost 5 % of such a request. `_start` is scheduled as the request begins: it runs
    at the loop's first turn while the request waits, and the listener listens from the next.
    """

    aborted = False
    complete = False
    _listener: asyncio.Task | None = None

    def __init__(self, receive, request_task: asyncio.Task):
        self._receive = receive
        self._request_task = request_task
        self._starting = asyncio.get_running_loop().call_soon(self._start)

    def _start(self):
        self._listener = asyncio.create_task(self._listen())

    async def _listen(self):
        while (await self._receive())["type"] != "http.disconnect":
            pass  # nothing else may follow a complete body (Django asserts so); not worth a task
        if not self.complete:
            self.aborted = True
            self._request_task.cancel()

    def stop(self):
        """The response is complete (or abandoned): stop listening, or never start."""
        self.complete = True
        self._starting.cancel()
        if self._listener is not None:
            self._listener.cancel()


class ASGIHandler(asgi.ASGIHandler):
    """Django's handler, lending a request a thread only when it needs one (module docstring)."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)  # Django's refusal
        thread = RequestThread()
        token = _request_thread.set(thread)
        try:
            if ROUTE_DIRECTLY:
                routing = ThreadRouting(thread)
                try:
                    await self.handle(scope, receive, send)
                finally:
                    routing.end()
            else:
                async with ThreadSensitiveContext(executor=thread):
                    await self.handle(scope, receive, send)
        finally:
            _request_thread.reset(token)
            thread.shutdown()

    async def handle(self, scope, receive, send):
        """Django's `handle`: the body, the response with a disconnect listener, the signals."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(asgi.get_script_prefix(scope))
        if only_djangos_receivers(signals.request_started, self.__class__):
            thread = _request_thread.get()
            thread.on_lend = partial(signals.request_started.send, self.__class__, scope=scope)
        else:
            await signals.request_started.asend(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await self._close(error_response)
            return
        try:
            response = await self._respond_unless_disconnected(request, receive, send)
            if response is None:  # the client left before the answer
                await self._finished()
            else:
                await self._close(response)
        finally:
            body_file.close()

    async def read_body(self, receive):
        """Django's, but a body that comes whole in the first message and fits in memory is
        kept in a BytesIO: Django's SpooledTemporaryFile would keep it in memory too, for five
        times the cost (2 % of POST /events). Any other body is read as Django reads it."""
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            body = message.get("body", b"")
            if len(body) <= settings.FILE_UPLOAD_MAX_MEMORY_SIZE:
                return io.BytesIO(body)
        return await super().read_body(_replaying(message, receive))

    async def _respond_unless_disconnected(self, request, receive, send):
        """The response, sent; or None when the client disconnected before the view answered.

        Django runs the view and a listener for the disconnect as two tasks and waits for the
        first. Here the view runs in the request's own task and one watcher cancels it on a
        disconnect. A disconnect once the response is complete (daphne sends one at once) is no
        news: Django's listener raised RequestAborted there, in a traceback that held the request
        and the response in a reference cycle until a full collection, rare in the served
        process (relayman_project/gc_tuning.py).
        """
        request_task = asyncio.current_task()
        watch = _DisconnectWatch(receive, request_task)
        response = None
        try:
            response = await self.run_get_response(request)
            await self.send_response(response, send)
        except asyncio.CancelledError:
            # The watcher's cancellation is handled here; one from outside (the server
            # stopping), alone or besides it, goes on.
            if not watch.aborted or request_task.uncancel() > 0:
                raise
        finally:
            watch.stop()
        return response

    def resolve_request(self, request):
        """Django's, with the match of a path that captures nothing remembered
        (`resolved_paths`)."""
        if hasattr(request, "urlconf"):
            set_urlconf(request.urlconf)
            resolver = get_resolver(request.urlconf)
        else:
            resolver = get_resolver()
        request.resolver_match = resolved_paths.resolve(resolver, request.path_info)
        return request.resolver_match

    def _finish_in_thread(self) -> bool:
        """Whether request_finished has work, in the request's thread: the connections there, or
        receivers other than Django's. Otherwise it is not sent (module docstring)."""
        return _request_thread.get().started or not only_djangos_receivers(
            signals.request_finished, self.__class__
        )

    async def _close(self, response):
        """`response.close()`, which closes its files and sends request_finished; or, when that
        has no work, what Django's `close` does before sending it. A response class with a
        `close` of its own gets it called, on the loop as before."""
        if self._finish_in_thread():
            await sync_to_async(response.close)()
            return
        if type(response).close is not HttpResponseBase.close:
            response.close()
            return
        for closer in response._resource_closers:  # as HttpResponseBase.close, Django 5.2
            try:
                closer()
            except Exception:  # Django ignores a failing closer too
                pass
        response._resource_closers.clear()
        response.closed = True

    async def _finished(self):
        """request_finished without a response (the client left first)."""
        if self._finish_in_thread():
            await signals.request_finished.asend(sender=self.__class__)


def get_asgi_application() -> ASGIHandler:
    """As `django.core.asgi.get_asgi_application`, with this handler."""
    django.setup(set_prefix=False)
    return ASGIHandler()
