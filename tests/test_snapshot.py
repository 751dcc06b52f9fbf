"""The settings mirror's refresher thread outlives every failure of its own database work."""

import logging

from events import snapshot


def test_a_failure_to_close_connections_is_logged_once_and_the_refresher_goes_on(
    monkeypatch, caplog
):
    loaded = snapshot.Snapshot({"MAX_EVENT_BYTES": 1000}, {}, {})
    monkeypatch.setattr(snapshot, "_load", lambda: loaded)
    monkeypatch.setattr(snapshot, "_current", snapshot.EMPTY)

    def refused():
        raise RuntimeError("database access refused")

    monkeypatch.setattr(snapshot, "close_old_connections", refused)
    failing: set[str] = set()
    with caplog.at_level(logging.INFO, logger="events.snapshot"):
        for _ in range(3):
            snapshot._step(failing)  # raised out of the thread, the mirror stopped refreshing
        monkeypatch.setattr(snapshot, "close_old_connections", lambda: None)
        snapshot._step(failing)

    assert snapshot.current() is loaded
    text = caplog.text
    assert text.count("event=settings_close_connections_failed") == 1
    assert "RuntimeError: database access refused" in text
    assert text.count("event=settings_close_connections_recovered") == 1
