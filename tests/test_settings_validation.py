"""A setting that makes no sense stops the start, with a message naming it, its value and the rule.

The standalone server reads its settings from the environment: each case here starts
`manage.py check` (what `bin/serve` runs first) or the server itself with one bad variable.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BAD_SETTINGS = [
    (
        {"RELAYMAN_IDLE_TIMEOUT": "-5"},
        "RELAYMAN_IDLE_TIMEOUT must be a whole number of seconds, 1 or more; got '-5'",
    ),
    (
        {"RELAYMAN_IDLE_TIMEOUT": "0"},
        "RELAYMAN_IDLE_TIMEOUT must be a whole number of seconds, 1 or more; got '0'",
    ),
    (
        {"RELAYMAN_MAX_EVENT_BYTES": "0"},
        "RELAYMAN_MAX_EVENT_BYTES must be a whole number of bytes, 1 or more; got '0'",
    ),
    (
        {"RELAYMAN_MAX_FRAME_BYTES": "-1"},
        "RELAYMAN_MAX_FRAME_BYTES must be a whole number of bytes, 1 or more; got '-1'",
    ),
    (
        {"RELAYMAN_MAX_CHANNELS": "0"},
        "RELAYMAN_MAX_CHANNELS must be an integer, 1 or more; got '0'",
    ),
    (
        {"RELAYMAN_HEADER_TIMEOUT": "0"},
        "RELAYMAN_HEADER_TIMEOUT must be a whole number of seconds, 1 or more; got '0'",
    ),
    (
        {"RELAYMAN_BODY_TIMEOUT": "-30"},
        "RELAYMAN_BODY_TIMEOUT must be a whole number of seconds, 1 or more; got '-30'",
    ),
    (
        {"RELAYMAN_MAX_CONNECTIONS": "0"},
        "RELAYMAN_MAX_CONNECTIONS must be an integer, 1 or more; got '0'",
    ),
    ({"PORT": "70000"}, "PORT must be an integer, from 1 to 65535; got '70000'"),
    ({"PORT": "0"}, "PORT must be an integer, from 1 to 65535; got '0'"),
    (
        {"RELAYMAN_IDLE_TIMEOUT": "1.5"},
        "RELAYMAN_IDLE_TIMEOUT must be a whole number of seconds, 1 or more; got '1.5'",
    ),
    (
        {"RELAYMAN_EPISODE_QUIET": "0"},
        "RELAYMAN_EPISODE_QUIET must be a whole number of seconds, 1 or more; got '0'",
    ),
    ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is set but empty: every request would be refused"),
    (
        {"LOG_LEVEL": "LOUD"},
        "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL; got 'LOUD'",
    ),
    (
        {"RELAYMAN_LOG_LEVEL": "chatty"},
        "RELAYMAN_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL; got 'CHATTY'",
    ),
    ({"DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL is not a database URL: Scheme 'nosuchdb://'"),
    (
        {"REDIS_URL": "redis://127.0.0.1:99999"},
        "REDIS_URL's port must be a number from 1 to 65535, got '127.0.0.1:99999'",
    ),
    (
        {"REDIS_URL": "rediss://127.0.0.1:6379", "REDIS_SSL_CA_CERTS": "/no/such/ca.pem"},
        "REDIS_SSL_CA_CERTS must name a readable file; '/no/such/ca.pem' is not one",
    ),
    (
        {"REDIS_URL": "redis://127.0.0.1", "REDIS_SENTINELS": "127.0.0.1:0"},
        "REDIS_SENTINELS must list host:port pairs, the port from 1 to 65535; got '127.0.0.1:0'",
    ),
]


def run(command: list[str], env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "relayman_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(("env", "message"), BAD_SETTINGS, ids=lambda value: str(value))
def test_a_bad_setting_stops_manage_py_with_its_message(env, message):
    result = run([sys.executable, "manage.py", "check"], env)

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: " + message)


def serve(env: dict) -> subprocess.CompletedProcess:
    """Start the server as daphne would (no system checks of its own); it should not listen."""
    return run(
        [sys.executable, "-m", "daphne", "--bind", "127.0.0.1", "--port", "0",
         "relayman_project.asgi:application"],
        env,
    )  # fmt: skip


def test_a_negative_idle_timeout_stops_the_server_before_it_listens():
    """`RELAYMAN_IDLE_TIMEOUT=-5` used to start a server that closed every socket at once."""
    result = serve({"RELAYMAN_IDLE_TIMEOUT": "-5"})

    assert result.returncode != 0
    assert "RELAYMAN_IDLE_TIMEOUT must be a whole number of seconds, 1 or more; got '-5'" in (
        result.stderr
    )
    assert "Listening on" not in result.stderr


ORIGIN_PROBLEM = (
    "RELAYMAN_ALLOWED_ORIGINS: 'app.example.com' is not an origin: write scheme://host[:port], "
    "such as https://app.example.com"
)


def test_an_allowed_origin_that_is_no_origin_fails_the_system_check():
    """It would never match a browser's Origin: every browser would be refused."""
    result = run(
        [sys.executable, "manage.py", "check"],
        {"RELAYMAN_ALLOWED_ORIGINS": "https://app.example.com,app.example.com"},
    )

    assert result.returncode != 0
    assert f"(relayman.E001) {ORIGIN_PROBLEM}" in result.stderr


def test_an_allowed_origin_that_is_no_origin_stops_the_server_before_it_listens():
    result = serve({"RELAYMAN_ALLOWED_ORIGINS": "app.example.com"})

    assert result.returncode != 0
    assert f"django.core.exceptions.ImproperlyConfigured: {ORIGIN_PROBLEM}" in result.stderr
    assert "Listening on" not in result.stderr


def test_good_settings_start():
    result = run(
        [sys.executable, "manage.py", "check"],
        {
            "RELAYMAN_IDLE_TIMEOUT": " 90 ",
            "RELAYMAN_HEADER_TIMEOUT": "5",
            "RELAYMAN_BODY_TIMEOUT": "20",
            "RELAYMAN_MAX_CONNECTIONS": "1000",
            "RELAYMAN_ALLOWED_ORIGINS": "https://app.example.com, http://localhost:3000/",
            "PORT": "65535",
            "LOG_LEVEL": "warning",
            "REDIS_URL": "redis://127.0.0.1:6379/2",
            "REDIS_PREFIX": "shop-relay.v2",
        },
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
