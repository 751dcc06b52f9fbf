"""`make run-cluster` (bin/run-cluster) does what the README says: Redis and two nodes, events
crossing between them, and Ctrl-C stops all three."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.redis import require_tool
from tests.support.server import ROOT, free_port
from tests.support.sockets_client import new_source, phoenix, post_event

START_TIMEOUT = 60


@dataclass
class Node:
    """A node bin/run-cluster started, addressed as the test helpers address a Server."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@pytest.fixture
def cluster():
    require_tool("redis-server", "redis-server")
    redis_port, ports = free_port(), [free_port(), free_port()]
    directory = Path(tempfile.mkdtemp(prefix="relayman-cluster-"))
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "REDIS_PORT": str(redis_port),
        "NODE_PORTS": " ".join(map(str, ports)),
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "STATIC_ROOT": str(directory / "static"),
    }
    script = subprocess.Popen(
        [ROOT / "bin" / "run-cluster"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the script's whole process group
    )
    output = []
    try:
        for line in script.stdout:
            output.append(line)
            if line.startswith("Ctrl-C stops the cluster"):
                break
        else:
            pytest.fail("run-cluster ended before it was up:\n" + "".join(output))
        yield script, [Node(port) for port in ports], "".join(output)
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
        script.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


async def test_run_cluster_relays_across_its_two_nodes_and_stops_on_ctrl_c(cluster):
    script, (first, second), banner = cluster
    assert f"curl -X POST http://localhost:{first.port}/events" in banner
    source = new_source()
    async with phoenix(second) as client:
        await client.join(f"source:{source}")
        event = await post_event(first, source)
        assert await client.recv() == [None, None, f"source:{source}", "created", event]

    os.killpg(script.pid, signal.SIGINT)
    await asyncio.to_thread(script.wait, START_TIMEOUT)
    for port in (first.port, second.port):
        with pytest.raises(OSError):  # nothing listens any more
            await asyncio.open_connection("127.0.0.1", port)
