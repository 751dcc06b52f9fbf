"""`events.publish`, `events.apublish` and `events.publish_on_commit`.

In-process tests listen on the channel layer as a socket would (tests/support/groups.py); the
last one publishes from another process (`manage.py shell`, as a worker would) through Redis to
a real server and a real WebSocket. The host project's tests publish through real sockets from
a signal and from views.
"""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction

import events
from events.cloudevent import validate_event
from tests.support.groups import GroupListener
from tests.support.server import ROOT
from tests.support.sockets_client import new_source, phoenix


def is_rfc3339_utc(value: str) -> bool:
    validate_event({"id": "1", "source": "/s", "type": "t", "time": value})
    return value.endswith("Z")


async def test_apublish_takes_keyword_attributes_and_fills_id_and_time():
    source = new_source()
    async with GroupListener(source) as listener:
        published = await events.apublish(source=source, type="created", data={"n": 1})

        received = await listener.receive_event()

    assert received == published
    assert published["specversion"] == "1.0" and published["data"] == {"n": 1}
    assert uuid.UUID(published["id"]).version == 4
    assert is_rfc3339_utc(published["time"])


async def test_publish_from_sync_code_takes_a_dict_and_keywords_win():
    source = new_source()
    async with GroupListener(source) as listener:
        event = {"id": "given", "source": source, "type": "draft", "subject": "1"}
        published = await sync_to_async(events.publish)(event, type="created")

        received = await listener.receive_event()

    assert (
        received
        == published
        == {
            **event,
            "type": "created",
            "time": published["time"],
            "specversion": "1.0",
        }
    )
    assert event["type"] == "draft"  # the caller's dict is left alone


async def test_values_json_cannot_carry_are_converted_as_djangos_encoder_does():
    source = new_source()
    when = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    order = uuid.uuid4()
    async with GroupListener(source) as listener:
        await events.apublish(
            source=source, type="t", time=when, ordered=order, data={"total": Decimal("9.50")}
        )

        received = await listener.receive_event()

    assert received["time"] == "2024-05-01T12:00:00.123Z"
    assert received["ordered"] == str(order)
    assert received["data"] == {"total": "9.50"}


async def test_data_is_copied_when_published_on_commit_later():
    data = {"items": ["tea"]}

    prepared = events.api.prepare(None, {"source": "/s", "type": "t", "data": data})
    data["items"].append("cake")

    assert prepared["data"] == {"items": ["tea"]}


@pytest.mark.parametrize(
    ("event", "attributes", "errors"),
    [
        (None, {"type": "t"}, {"source": "'source' is required"}),
        (None, {"source": "", "type": 1}, {"source": "'source' must not be empty"}),
        (["not", "a", "dict"], {}, {"event": "an event must be a dict, not list"}),
        ({1: "x"}, {"source": "/s", "type": "t"}, {"1": "attribute names are strings, not int"}),
        (None, {"source": "/s", "type": "t", "time": "noon"}, {"time": "RFC 3339"}),
        (
            None,
            {"source": "/s", "type": "t", "time": datetime(2024, 5, 1, 12)},  # naive
            {"time": "'time' must be an RFC 3339 timestamp"},
        ),
        (None, {"source": "/s", "type": "t", "data": object()}, {"data": "cannot be encoded"}),
        (None, {"source": "/s", "type": "t", "data": float("nan")}, {"data": "cannot be encoded"}),
        (None, {"source": "/s", "type": "t", "Caps": 1}, {"Caps": "attribute name 'Caps'"}),
        (
            None,
            {"source": "/s", "type": "t", "data": 1, "data_base64": "AA=="},
            {"data_base64": "mutually exclusive"},
        ),
    ],
)
def test_invalid_events_raise_naming_each_bad_attribute(event, attributes, errors):
    with pytest.raises(events.InvalidEvent) as raised:
        events.publish(event, **attributes)

    assert set(raised.value.errors) >= set(errors)
    for name, text in errors.items():
        assert text in raised.value.errors[name]


async def test_an_invalid_event_publishes_nothing():
    source = new_source()
    async with GroupListener(source) as listener:
        with pytest.raises(events.InvalidEvent):
            await events.apublish(source=source, type="t", time="noon")
        sentinel = await events.apublish(source=source, type="sentinel")

        assert await listener.receive_event() == sentinel


# On commit


@pytest.mark.django_db
def test_publish_on_commit_waits_for_the_commit(django_capture_on_commit_callbacks):
    source = new_source()
    listener = GroupListener(source)
    async_to_sync(listener.__aenter__)()
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            prepared = events.publish_on_commit(source=source, type="created")
    assert len(callbacks) == 1  # deferred: registered with transaction.on_commit

    callbacks[0]()  # what the commit runs

    assert async_to_sync(listener.receive_event)() == prepared
    async_to_sync(listener.__aexit__)()


@pytest.mark.django_db
def test_publish_on_commit_never_publishes_a_rolled_back_event(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            events.publish_on_commit(source="/s", type="created")
            raise RuntimeError("roll back")

    assert callbacks == []


@pytest.mark.django_db
def test_publish_on_commit_refuses_an_invalid_event_at_once():
    with pytest.raises(events.InvalidEvent) as raised, transaction.atomic():
        events.publish_on_commit(source="/s")

    assert raised.value.errors == {"type": "'type' is required"}


# From another process, through Redis


async def test_a_worker_process_publishes_through_redis_to_a_socket(redis_server, make_server):
    env = {"REDIS_URL": redis_server.url()}
    relay = make_server(env=env)
    source = new_source()
    async with phoenix(relay) as subscriber:
        await subscriber.join(f"source:{source}")
        code = (
            "import json, events; "
            f"print(json.dumps(events.publish(source={source!r}, type='created', data=[1])))"
        )

        worker = await sync_to_async(subprocess.run)(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env={**relay.env, **env},
            capture_output=True,
            text=True,
            timeout=30,
        )

        assert worker.returncode == 0, worker.stderr
        published = json.loads(worker.stdout.strip().splitlines()[-1])
        assert await subscriber.recv() == [None, None, f"source:{source}", "created", published]


def test_publish_raises_layer_unavailable_when_redis_is_down(redis_server, tmp_path):
    redis_url = redis_server.url()
    redis_server.kill()
    code = (
        "import events\n"
        "try:\n"
        "    events.publish(source='/down', type='created')\n"
        "except events.LayerUnavailable as exc:\n"
        "    print('unavailable:', exc, type(exc).__mro__[1:])\n"
    )
    worker = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "SECRET_KEY": "test",
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.strip().splitlines()[-1] == (
        "unavailable: Redis is unreachable: the event was not published. Retry later. "
        "(<class 'Exception'>, <class 'BaseException'>, <class 'object'>)"
    )  # a plain exception: code outside a web request needs no HTTP framework to handle it
