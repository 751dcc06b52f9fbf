"""The settings the standalone server reads from the environment: defaults and parsed values.

In-process: each case reloads the settings module under a patched environment.
"""

import importlib

import pytest

import relayman_project.settings


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


def test_allowed_origins_are_kept_as_listed(monkeypatch):
    settings = load_settings(
        monkeypatch, RELAYMAN_ALLOWED_ORIGINS="https://app.example.com, http://localhost:3000/"
    )

    assert settings.RELAYMAN_ALLOWED_ORIGINS == [
        "https://app.example.com",
        "http://localhost:3000/",
    ]
