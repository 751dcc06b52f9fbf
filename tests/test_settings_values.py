"""The settings the standalone server reads from the environment: defaults and parsed values.

In-process: each case reloads the settings module under a patched environment.
"""

import importlib

import pytest

import relayman_project.settings
from events import config


def load_settings(monkeypatch, **env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(relayman_project.settings)


@pytest.fixture(autouse=True)
def _restore_settings_module(monkeypatch):
    yield
    monkeypatch.undo()
    importlib.reload(relayman_project.settings)


def test_the_server_edge_settings_have_their_defaults(monkeypatch):
    for name in ("RELAYMAN_HEADER_TIMEOUT", "RELAYMAN_BODY_TIMEOUT", "RELAYMAN_MAX_CONNECTIONS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(monkeypatch)

    assert settings.RELAYMAN_HEADER_TIMEOUT == 10
    assert settings.RELAYMAN_BODY_TIMEOUT == 30
    assert settings.RELAYMAN_MAX_CONNECTIONS is None  # the server derives it from its fd limit


def test_the_server_edge_settings_are_read_from_the_environment(monkeypatch):
    settings = load_settings(
        monkeypatch,
        RELAYMAN_HEADER_TIMEOUT="3",
        RELAYMAN_BODY_TIMEOUT="7",
        RELAYMAN_MAX_CONNECTIONS="512",
    )

    assert (settings.RELAYMAN_HEADER_TIMEOUT, settings.RELAYMAN_BODY_TIMEOUT) == (3, 7)
    assert settings.RELAYMAN_MAX_CONNECTIONS == 512


def test_log_levels_are_case_insensitive_and_the_relay_level_defaults_to_the_global_one(
    monkeypatch,
):
    monkeypatch.delenv("RELAYMAN_LOG_LEVEL", raising=False)
    settings = load_settings(monkeypatch, LOG_LEVEL="warning")

    assert (settings.LOG_LEVEL, settings.RELAYMAN_LOG_LEVEL) == ("WARNING", "WARNING")


WHOLE = "must be a whole number, 1 or more; got"


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("IDLE_TIMEOUT", 0, f"RELAYMAN_IDLE_TIMEOUT {WHOLE} 0"),
        ("MAX_FRAME_BYTES", -1, f"RELAYMAN_MAX_FRAME_BYTES {WHOLE} -1"),
        ("MAX_CHANNELS", 1.5, f"RELAYMAN_MAX_CHANNELS {WHOLE} 1.5"),
        ("MAX_EVENT_BYTES", "1024", f"RELAYMAN_MAX_EVENT_BYTES {WHOLE} '1024'"),
        ("BODY_TIMEOUT", True, f"RELAYMAN_BODY_TIMEOUT {WHOLE} True"),
        ("MAX_CONNECTIONS", 0, f"RELAYMAN_MAX_CONNECTIONS {WHOLE} 0"),
        ("MAX_CONNECTIONS", None, None),
        ("REQUIRE_PRODUCER_KEYS", "yes", "RELAYMAN_REQUIRE_PRODUCER_KEYS must be True or False"),
        ("ALLOWED_ORIGINS", "https://a.example", "RELAYMAN_ALLOWED_ORIGINS must be a list of"),
        (
            "ALLOWED_ORIGINS",
            ["ws://a.example"],
            "RELAYMAN_ALLOWED_ORIGINS: 'ws://a.example' is not",
        ),
        ("ALLOWED_ORIGINS", ["https://a.example/"], None),
    ],
)
def test_a_host_projects_relayman_settings_are_judged_by_a_system_check(
    settings, name, value, problem
):
    """A host project sets RELAYMAN_ values in its settings module: `manage.py check` and
    `migrate` report those that make no sense."""
    setattr(settings, f"RELAYMAN_{name}", value)

    errors = config.check_settings()

    if problem is None:
        assert errors == []
    else:
        [error] = errors
        assert error.id == "relayman.E001" and error.msg.startswith(problem), error.msg


def test_allowed_origins_are_kept_as_listed(monkeypatch):
    settings = load_settings(
        monkeypatch, RELAYMAN_ALLOWED_ORIGINS="https://app.example.com, http://localhost:3000/"
    )

    assert settings.RELAYMAN_ALLOWED_ORIGINS == [
        "https://app.example.com",
        "http://localhost:3000/",
    ]
