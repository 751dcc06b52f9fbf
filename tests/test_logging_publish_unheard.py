"""Publishing through the embedded layer where no socket ever connected is said once per process.

The embedded layer reaches only the sockets of its own process: `events.publish()` from a shell,
a worker or a management command reaches nobody, and used to say nothing.
"""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.layers import InMemoryChannelLayer

from events import publishing
from events.layers import EmbeddedChannelLayer

ROOT = Path(__file__).resolve().parents[1]
EVENT = {"specversion": "1.0", "id": "1", "source": "/outlets/1/orders", "type": "created"}


@pytest.fixture
def warnings(caplog, monkeypatch):
    """The WARNINGs of publishing, in a process that has not warned yet."""
    monkeypatch.setattr(publishing, "_unheard_warned", False)
    caplog.set_level(logging.WARNING, logger="events.publishing")
    return lambda: [record.getMessage() for record in caplog.records]


async def test_publishing_where_no_socket_connected_warns_once(warnings):
    layer = EmbeddedChannelLayer()
    for _ in range(3):
        await publishing.publish([EVENT], channel_layer=layer)

    (line,) = warnings()
    assert line.startswith("event=publish_unheard layer=embedded")
    assert "nobody received this event" in line and "set REDIS_URL" in line


async def test_a_process_whose_sockets_opened_channels_does_not_warn(warnings):
    layer = EmbeddedChannelLayer()
    await layer.new_channel()  # what each socket consumer does as it starts
    await publishing.publish([EVENT], channel_layer=layer)
    assert warnings() == []


async def test_another_layer_does_not_warn(warnings):
    await publishing.publish([EVENT], channel_layer=InMemoryChannelLayer())
    assert warnings() == []


def test_a_shell_publishing_with_the_embedded_layer_says_so_once(tmp_path):
    code = (
        "import events\n"
        "for n in range(3): events.publish(source='/shop/orders', type='created', id=str(n))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "relayman_project.settings",
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "publish_unheard" in line]
    assert "level=WARNING logger=events.publishing" in line and "set REDIS_URL" in line
