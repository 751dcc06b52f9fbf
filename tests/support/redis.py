"""Start a throwaway `redis-server` on a free port, kill it and bring it back on the same port.

Tests that need Redis use these instead of any Redis already running (never the one on 6379):
nothing is saved to disk, so a restarted server has forgotten every subscription, as a real
Redis restarted without persistence would.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.server import free_port

START_TIMEOUT = 10


def require_redis_server() -> str:
    """The path of `redis-server`; skips the test when it is missing (fails it under CI)."""
    path = shutil.which("redis-server")
    if path is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class RedisServer:
    """One `redis-server` process listening on 127.0.0.1 only."""

    def __init__(self, password: str | None = None, extra_args: tuple[str, ...] = ()):
        self.executable = require_redis_server()
        self.port = free_port()
        self.password = password
        self.extra_args = extra_args
        self.dir = Path(tempfile.mkdtemp(prefix="relayman-redis-"))
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0, scheme: str = "redis") -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{db}"

    def start(self) -> "RedisServer":
        args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        if self.password:
            args += ["--requirepass", self.password]
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen([*args, *self.extra_args], stdout=log, stderr=log)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited early:\n{self.logs()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64):  # +PONG, or -NOAUTH when a password is set
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT}s")

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash or a lost machine would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Start again on the same port, empty."""
        self.kill()
        self.start()

    def logs(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
