"""The request handler in process: Django's own receivers skip the thread a request does not need,
a project's own receivers are sent as Django sends them, in the request's thread."""

import threading

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core import signals

from events.request_handler import ASGIHandler, only_djangos_receivers

pytestmark = pytest.mark.django_db(transaction=True)


async def get(path: str) -> int:
    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    scope |= {"server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "scheme": "http"}
    communicator = ApplicationCommunicator(ASGIHandler(), scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(5)
    await communicator.receive_output(5)  # the body
    await communicator.wait(5)
    return start["status"]


def test_djangos_receivers_are_the_only_ones_connected():
    """What lets POST /events skip the thread (read from Django's private `_live_receivers`)."""
    for signal in (signals.request_started, signals.request_finished):
        assert only_djangos_receivers(signal, ASGIHandler)


async def test_a_projects_own_receivers_run_in_the_requests_thread():
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
