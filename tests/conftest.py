"""Fixtures that start real processes, and the suite's two markers.

Every test is marked `unit` or `e2e` at collection, so `pytest -m unit` runs the in-process tests
in seconds: a test is `e2e` when it uses a fixture that starts a process (PROCESS_FIXTURES, or
any fixture built on one) or when its module starts processes itself (it holds one of
PROCESS_STARTERS at module level: a server class, `subprocess`, `require_tool`).

Under CI (`CI=true`) a skipped test is a failed one: a missing redis-server or Node must not turn
part of the suite silently green.
"""

import os
import subprocess
from unittest import mock

import pytest
from django.db.backends.base.operations import BaseDatabaseOperations

from events import snapshot
from tests.support.redis import RedisSentinel, RedisServer, require_tool
from tests.support.server import Server

PROCESS_FIXTURES = {"server", "make_server", "redis_server"}
# A module holding one of these starts processes: servers, Redis, commands, external tools.
PROCESS_STARTERS = (Server, RedisServer, RedisSentinel, subprocess, require_tool)


@pytest.fixture(scope="session")
def server():
    """One Relayman process with default settings, shared by the end-to-end tests."""
    with Server() as running:
        yield running


@pytest.fixture
def make_server():
    """Start Relayman processes with their own environment; all are stopped afterwards."""
    started = []

    def make(**kwargs) -> Server:
        srv = Server(**kwargs).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.close()


@pytest.fixture
def redis_server():
    """A fresh redis-server of our own on a free port; killed afterwards."""
    with RedisServer() as running:
        yield running


def starts_processes(module) -> bool:
    """Whether a test module's own code can start a server or another process."""
    return any(value is starter for value in vars(module).values() for starter in PROCESS_STARTERS)


def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        module = getattr(item, "module", None)
        e2e = bool(fixtures & PROCESS_FIXTURES) or (module is not None and starts_processes(module))
        item.add_marker(pytest.mark.e2e if e2e else pytest.mark.unit)


@pytest.fixture(autouse=True, scope="session")
def _flushes_wait_for_the_settings_refresher():
    """A transactional test's database is flushed at its end; the settings mirror's refresher
    thread (events/snapshot.py) reads the same in-memory SQLite database every second, and a
    flush meeting that read failed with "database table is locked". The flush waits for it."""
    flush = BaseDatabaseOperations.execute_sql_flush

    def between_refreshes(self, sql_list):
        with snapshot.stepping:
            return flush(self, sql_list)

    with mock.patch.object(BaseDatabaseOperations, "execute_sql_flush", between_refreshes):
        yield


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A test marked `unit` that starts a process fails, naming the rule above it broke."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(*args, **kwargs):
        raise AssertionError(
            "a `unit` test started a process: request a PROCESS_FIXTURES fixture, or import the "
            "starter at module level, so tests/conftest.py marks it `e2e`"
        )

    monkeypatch.setattr(subprocess, "Popen", refuse)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI, a skip (not an expected failure) is reported as a failure, with its reason."""
    report = yield
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which allows no skips: {_reason(report)}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """Under CI, a module skipped at collection fails too."""
    report = yield
    if in_ci() and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which allows no skips: {_reason(report)}"
    return report


def _reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
