"""The request handler in process: Django's own receivers skip the thread a request does not need,
and are not sent for a request that ran nothing sync; a project's own receivers are sent as
Django sends them, in the request's thread; a sync view runs in a lent thread, taken back for the
next request, whether asgiref's internals are known or not; a client that leaves before the
answer cancels the view, one that leaves after it cancels nothing."""

import asyncio
import threading
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.core import signals
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from events import request_handler
from events.request_handler import ASGIHandler, only_djangos_receivers, routing_internals_known

pytestmark = pytest.mark.django_db(transaction=True)


def http_scope(url: str) -> dict:
    scope = {"type": "http", "method": "GET", "path": url, "query_string": b"", "headers": []}
    return scope | {"server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "scheme": "http"}


async def get(url: str) -> int:
    return (await get_page(url))[0]


async def get_page(url: str, *messages: dict, method: str = "GET") -> tuple[int, bytes]:
    """The status and body of a request to `url`: its body sent as `messages`, or empty."""
    communicator = ApplicationCommunicator(ASGIHandler(), http_scope(url) | {"method": method})
    for message in messages or [{"type": "http.request", "body": b""}]:
        await communicator.send_input(message)
    start = await communicator.receive_output(5)
    body = (await communicator.receive_output(5))["body"]
    await communicator.wait(5)
    return start["status"], body


@pytest.fixture(name="routing", params=["direct", "ThreadSensitiveContext"])
def routing_fixture(request, monkeypatch):
    """The request's thread found by asgiref through `ThreadRouting`, or, with asgiref versions
    it was not tested on, through asgiref's own `ThreadSensitiveContext`."""
    monkeypatch.setattr(request_handler, "ROUTE_DIRECTLY", request.param == "direct")
    return request.param


def test_asgirefs_internals_are_checked_before_they_are_read():
    assert routing_internals_known()
    assert not routing_internals_known("99.0.0")


def test_djangos_receivers_are_the_only_ones_connected():
    """What lets POST /events skip the thread (read from Django's private `_live_receivers`)."""
    for signal in (signals.request_started, signals.request_finished):
        assert only_djangos_receivers(signal, ASGIHandler)


async def test_a_projects_own_receivers_run_in_the_requests_thread(routing):
    threads = []

    def receiver(**kwargs):
        threads.append(threading.current_thread().name)

    for signal in (signals.request_started, signals.request_finished):
        signal.connect(receiver)
    try:
        assert not only_djangos_receivers(signals.request_finished, ASGIHandler)
        assert await get("/healthz") == 200
    finally:
        for signal in (signals.request_started, signals.request_finished):
            signal.disconnect(receiver)
    assert len(threads) == 2 and len(set(threads)) == 1, threads
    assert threads[0].startswith("django-request"), threads


class SlowView:
    """A view that waits until the test lets it answer, noting whether it was cancelled (made
    anew for each test: an asyncio.Event belongs to the loop that first waits on it)."""

    def __init__(self):
        self.started, self.may_answer, self.cancelled = asyncio.Event(), asyncio.Event(), []

    async def __call__(self, request):
        self.started.set()
        try:
            await self.may_answer.wait()
        except asyncio.CancelledError:
            self.cancelled.append(True)
            raise
        return HttpResponse(b"done")


async def slow_page(request):
    return await slow_view(request)


responses: list[HttpResponse] = []


async def async_page(request):
    responses.append(HttpResponse(b"async"))
    return responses[-1]


def sync_page(request):
    responses.append(HttpResponse(b"sync"))
    return responses[-1]


class OwnClose(HttpResponse):
    """A response class that releases something of its own when closed."""

    released = False

    def close(self):
        self.released = True
        super().close()


async def own_close_page(request):
    responses.append(OwnClose(b"own"))
    return responses[-1]


def thread_page(request):
    return HttpResponse(threading.current_thread().name)


left_running: list[asyncio.Task] = []


async def leaving_page(request):
    """Starts a task that makes a thread-sensitive sync call after the request has ended."""

    async def later():
        await asyncio.sleep(0.01)
        return await sync_to_async(threading.current_thread)()

    left_running.append(asyncio.create_task(later()))
    return HttpResponse(b"left")


@csrf_exempt
def echo_page(request):
    return HttpResponse(request.body)


urlpatterns = [
    path("echo", echo_page),
    path("thread", thread_page),
    path("leaving", leaving_page),
    path("slow", slow_page),
    path("async", async_page),
    path("sync", sync_page),
    path("own-close", own_close_page),
]
slow_view: SlowView


@pytest.mark.parametrize("view, finished_in", [("async", []), ("sync", ["django-request"])])
async def test_request_finished_is_sent_only_for_a_request_that_ran_something_sync(
    view, finished_in
):
    """With only Django's receivers connected, an async view's request (POST /events) has nothing
    for them, so request_finished is not sent; a sync view's is, in its thread. Either way the
    response is closed."""
    finished = []
    send = signals.request_finished.send

    def noted_send(*args, **kwargs):
        finished.append(threading.current_thread().name.rsplit("_", 1)[0])
        return send(*args, **kwargs)

    responses.clear()
    with (
        override_settings(ROOT_URLCONF=__name__),
        mock.patch.object(signals.request_finished, "send", noted_send),
    ):
        assert only_djangos_receivers(signals.request_finished, ASGIHandler)
        communicator = ApplicationCommunicator(ASGIHandler(), http_scope(f"/{view}"))
        await communicator.send_input({"type": "http.request", "body": b""})
        assert (await communicator.receive_output(5))["status"] == 200
        assert (await communicator.receive_output(5))["body"] == view.encode()
        await communicator.wait(5)
    assert finished == finished_in
    assert responses[0].closed


async def test_a_sync_view_runs_in_a_lent_thread_taken_back_for_the_next_request(routing):
    with override_settings(ROOT_URLCONF=__name__):
        first, second = [await get_page("/thread") for _ in range(2)]
    assert first[0] == second[0] == 200
    assert first[1].startswith(b"django-request"), first
    assert second[1] == first[1]  # one thread, lent in turn: its connections are reused


async def test_a_task_left_running_by_a_request_gets_no_thread_of_its_own(routing):
    """A thread-sensitive sync call from a task that outlives its request is refused, as
    asgiref refuses it after a context with an executor: it would otherwise start a thread."""
    left_running.clear()
    with override_settings(ROOT_URLCONF=__name__):
        assert await get_page("/leaving") == (200, b"left")
    with pytest.raises(RuntimeError, match="ThreadSensitiveContext has exited"):
        await asyncio.wait_for(left_running[0], 5)


async def echo(*messages: dict) -> bytes:
    status, body = await get_page("/echo", *messages, method="POST")
    assert status == 200
    return body


@pytest.mark.parametrize("memory_limit", [2_621_440, 10], ids=["in memory", "past the limit"])
async def test_a_body_reaches_the_view_whole_however_it_comes(memory_limit):
    """In one message or several, within FILE_UPLOAD_MAX_MEMORY_SIZE or past it."""
    with override_settings(ROOT_URLCONF=__name__, FILE_UPLOAD_MAX_MEMORY_SIZE=memory_limit):
        whole = await echo({"type": "http.request", "body": b"0123456789abcdef"})
        in_parts = await echo(
            {"type": "http.request", "body": b"0123456789", "more_body": True},
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": b"abcdef"},
        )
        empty = await echo({"type": "http.request"})
    assert whole == in_parts == b"0123456789abcdef"
    assert empty == b""


async def test_a_client_that_leaves_before_its_body_is_complete_gets_nothing():
    with override_settings(ROOT_URLCONF=__name__):
        for messages in (
            [{"type": "http.disconnect"}],
            [
                {"type": "http.request", "body": b"01", "more_body": True},
                {"type": "http.disconnect"},
            ],
        ):
            communicator = ApplicationCommunicator(ASGIHandler(), http_scope("/echo"))
            for message in messages:
                await communicator.send_input(message)
            await communicator.wait(5)
            assert await communicator.receive_nothing()


async def test_a_response_class_with_its_own_close_gets_it_called():
    responses.clear()
    with override_settings(ROOT_URLCONF=__name__):
        communicator = ApplicationCommunicator(ASGIHandler(), http_scope("/own-close"))
        await communicator.send_input({"type": "http.request", "body": b""})
        assert (await communicator.receive_output(5))["status"] == 200
        assert (await communicator.receive_output(5))["body"] == b"own"
        await communicator.wait(5)
    assert responses[0].released and responses[0].closed


@pytest.fixture(name="slow")
def slow_fixture():
    global slow_view
    slow_view = SlowView()
    with override_settings(ROOT_URLCONF=__name__):
        yield slow_view


async def test_a_client_that_leaves_before_the_answer_cancels_the_view(slow):
    communicator = ApplicationCommunicator(ASGIHandler(), http_scope("/slow"))
    await communicator.send_input({"type": "http.request", "body": b""})
    await asyncio.wait_for(slow.started.wait(), 5)
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(5)  # the handler returns: nothing is sent to a client that left
    assert slow.cancelled == [True]
    assert await communicator.receive_nothing()


async def test_a_disconnect_after_the_answer_cancels_nothing(slow):
    slow.may_answer.set()
    communicator = ApplicationCommunicator(ASGIHandler(), http_scope("/slow"))
    await communicator.send_input({"type": "http.request", "body": b""})
    assert (await communicator.receive_output(5))["status"] == 200
    assert (await communicator.receive_output(5))["body"] == b"done"
    await communicator.send_input({"type": "http.disconnect"})  # as daphne sends at once
    await communicator.wait(5)
    assert slow.cancelled == []


async def test_a_request_cancelled_from_outside_stays_cancelled(slow):
    """The server stopping cancels the application: the handler must not take that for a
    client's disconnect and swallow it."""
    communicator = ApplicationCommunicator(ASGIHandler(), http_scope("/slow"))
    await communicator.send_input({"type": "http.request", "body": b""})
    await asyncio.wait_for(slow.started.wait(), 5)
    communicator.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await communicator.future
    assert slow.cancelled == [True]
