"""The admin-managed state (relay settings, producer keys), mirrored in each process's memory.

`events.config.get` and the producer-key check run on every POST and every socket frame, from
async code: they may not query the database, let alone make a sync database call on the event
loop. So a daemon thread reloads the mirror every `REFRESH_SECONDS` (one small query for the
settings row, one each for the producer and the subscriber keys), and a change saved in the
admin reaches every process, on every node, about that soon. The same thread writes the producer
keys' "last used" times: at most one UPDATE per key a minute, never on the request path.
"""

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import close_old_connections

from .producer_keys import KeyRecord
from .subscriber_tokens import SubscriberKey

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
# The first caller waits this long at most for the first load, then goes on with settings.
FIRST_LOAD_TIMEOUT = 5.0
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class Snapshot:
    settings: dict  # events.config name -> value saved in the admin
    keys: dict[str, KeyRecord]  # key id -> record
    last_used: dict[str, datetime]  # key id -> when it was last used, as stored
    subscriber_keys: dict[str, SubscriberKey] = field(default_factory=dict)  # kid -> key


EMPTY = Snapshot({}, {}, {})

_current: Snapshot | None = None
_used: dict[str, float] = {}  # key id -> time.time() of its latest use, not yet written
_refresher: threading.Thread | None = None
_start_lock = threading.Lock()
_loaded = threading.Event()
# Held by the refresher while it reads and writes the database. A test suite's flush of its
# database takes it too: in-memory SQLite locks the tables the refresher is reading.
stepping = threading.Lock()


def current() -> Snapshot:
    """The latest snapshot.

    A process's first call starts the refresher and waits for its first load (milliseconds),
    so that no request is served before the process knows whether keys are required.
    """
    snapshot = _current
    if snapshot is None:
        snapshot = _start()
    return snapshot


def key(key_id: str) -> KeyRecord | None:
    return current().keys.get(key_id)


def record_use(key_id: str) -> None:
    """Note that a key was just used; the refresher writes it to the database later."""
    _used[key_id] = time.time()


def _start() -> Snapshot:
    global _refresher, _current
    with _start_lock:
        if _refresher is None:
            _refresher = threading.Thread(
                target=_refresh_forever, name="relayman-settings", daemon=True
            )
            _refresher.start()
    if not _loaded.wait(FIRST_LOAD_TIMEOUT) and _current is None:
        logger.warning(
            "event=settings_slow timeout=%ss: using the server's settings until the first load",
            FIRST_LOAD_TIMEOUT,
        )
        _current = EMPTY  # the refresher replaces it once the database answers
    return _current


def _refresh_forever() -> None:
    failing: set[str] = set()
    while True:
        with stepping:
            _step(failing)
        time.sleep(REFRESH_SECONDS)


def _step(failing: set[str]) -> None:
    """Load the state, then write pending "last used" times; each failure logged once."""
    global _current
    try:
        snapshot = _load()
    except Exception as exc:  # the database is down, or not migrated yet: keep what we had
        _failed(failing, "load", exc)
        if _current is None:
            _current = EMPTY
    else:
        _recovered(failing, "load")
        if snapshot != _current:  # keep the same object while nothing changed: see config.get
            _log_changes(_current, snapshot)
            _current = snapshot
        try:
            _write_last_used(snapshot)
        except Exception as exc:
            _failed(failing, "write_last_used", exc)
        else:
            _recovered(failing, "write_last_used")
    finally:
        _loaded.set()
        try:
            close_old_connections()  # as at the end of a request: honours CONN_MAX_AGE
        except Exception as exc:  # never the end of the thread: the mirror would go stale
            _failed(failing, "close_connections", exc)
        else:
            _recovered(failing, "close_connections")


def _load() -> Snapshot:
    # Imported here: this module is imported before the app registry is ready.
    from .models import ProducerKey, RelaySettings
    from .models import SubscriberKey as StoredSubscriberKey

    row = RelaySettings.objects.filter(pk=RelaySettings.SINGLETON_PK).first()
    keys = list(ProducerKey.objects.all())
    return Snapshot(
        settings=row.overrides() if row else {},
        keys={k.key_id: k.record() for k in keys},
        last_used={k.key_id: k.last_used for k in keys if k.last_used},
        subscriber_keys={k.key_id: k.record() for k in StoredSubscriberKey.objects.all()},
    )


def _write_last_used(snapshot: Snapshot) -> None:
    from .models import ProducerKey

    global _used
    pending, _used = _used, {}
    for key_id, used_at in pending.items():
        when = datetime.fromtimestamp(used_at, UTC)
        previous = snapshot.last_used.get(key_id)
        if previous is None or when - previous >= LAST_USED_PRECISION:
            ProducerKey.objects.filter(key_id=key_id).update(last_used=when)


def _log_changes(old: Snapshot | None, new: Snapshot) -> None:
    if old is None or old.settings != new.settings:
        logger.info("event=settings admin_overrides=%r", new.settings or "none")
    if old is None or old.keys != new.keys:
        active = sum(record.active for record in new.keys.values())
        logger.info("event=producer_keys total=%s active=%s", len(new.keys), active)
    if (old.subscriber_keys if old else {}) != new.subscriber_keys:
        active = sum(key.active for key in new.subscriber_keys.values())
        total = len(new.subscriber_keys)
        logger.info("event=subscriber_keys total=%s active=%s", total, active)


def _failed(failing: set[str], what: str, exc: Exception) -> None:
    if what not in failing:
        failing.add(what)
        logger.error(
            "event=settings_%s_failed error=%r: keeping the last values, retrying every %ss",
            what,
            f"{type(exc).__name__}: {exc}",
            REFRESH_SECONDS,
        )


def _recovered(failing: set[str], what: str) -> None:
    if what in failing:
        failing.discard(what)
        logger.info("event=settings_%s_recovered", what)


def _forget_after_fork() -> None:
    """A forked child has no refresher thread: its first call starts one."""
    global _current, _refresher
    _current = _refresher = None
    _loaded.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
