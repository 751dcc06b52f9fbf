"""The processes under test: the floor, Relayman under daphne or uvicorn, Redis.

Each runs on a free port with its output in a log file, and reports its own CPU time and
resident memory from /proc, the least noisy figures a shared machine offers.
"""

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Process:
    """One server process, started on a free port and stopped with SIGINT (then SIGKILL)."""

    def __init__(self, name: str, command: list[str], env: dict, port: int, logs: Path):
        self.name, self.port = name, port
        self.log_path = logs / f"{name}-{port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_raise_open_files_limit,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User plus system CPU time this process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"{self.name} has no VmRSS")

    def wait_ready(self, probe) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.logs()}")
            try:
                probe()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer within {START_TIMEOUT}s:\n{self.logs()}")

    def wait_http(self) -> "Process":
        url = f"http://127.0.0.1:{self.port}/healthz"
        self.wait_ready(lambda: urllib.request.urlopen(url, timeout=1).read())
        return self

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class Servers:
    """Starts the processes of one benchmark run, sharing a migrated SQLite database."""

    def __init__(self):
        self.logs = Path(tempfile.mkdtemp(prefix="relayman-bench-"))
        self.database = self.logs / "db.sqlite3"
        self.env = {
            "SECRET_KEY": "bench-secret-key",
            "DATABASE_URL": f"sqlite:///{self.database}",
            "DJANGO_SETTINGS_MODULE": "relayman_project.settings",
            "REDIS_URL": "",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            check=True,
        )
        self.running: list[Process] = []

    def _start(self, name: str, command: list[str], env: dict, port: int) -> Process:
        process = Process(name, command, env, port, self.logs)
        self.running.append(process)
        return process

    def floor(self) -> Process:
        port = free_port()
        return self._uvicorn("floor", "bench.floor:app", {}, port).wait_http()

    def relayman(
        self,
        server: str,
        redis_url: str = "",
        settings: str = "",
        app: str = "relayman_project.asgi:application",
        env: dict | None = None,
    ) -> Process:
        """Relayman as `make run` serves it (daphne, through relayman_project.server), under
        uvicorn, or under uvicorn with httptools and uvloop (`uvicorn-httptools`)."""
        port = free_port()
        env = {**self.env, "REDIS_URL": redis_url, **(env or {})}  # no Redis: embedded layer
        if settings:
            env["DJANGO_SETTINGS_MODULE"] = settings
        if server.startswith("uvicorn"):
            fast = ["--http", "httptools", "--loop", "uvloop"] if server != "uvicorn" else []
            return self._uvicorn(f"relayman-{server}", app, env, port, fast).wait_http()
        # As bin/serve runs it: `-v 0`, no access log.
        command = [
            sys.executable,
            "-m",
            "relayman_project.server",
            "-v",
            "0",
            "--bind",
            "127.0.0.1",
        ]
        command += ["--port", str(port)]
        command += ["--websocket_timeout", "-1", app]
        return self._start(f"relayman-{server}", command, env, port).wait_http()

    def _uvicorn(self, name: str, app: str, env: dict, port: int, options=()) -> Process:
        command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1"]
        command += ["--port", str(port), "--lifespan", "off", "--no-access-log", *options]
        return self._start(name, command, env, port)

    def producer_key(self) -> str:
        """A new producer key for every source, stored in the run's database."""
        code = (
            "from events.models import ProducerKey; import uuid; "
            "k = ProducerKey(name=f'bench-{uuid.uuid4().hex}', "
            "source_prefixes='*'); key = k.issue(); k.save(); print(key)"
        )
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"no producer key:\n{done.stderr}")
        return done.stdout.strip().splitlines()[-1]

    def redis(self) -> Process:
        port = free_port()
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.logs)]
        process = self._start("redis", command, {}, port)

        def ping():
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if not sock.recv(16).startswith(b"+PONG"):
                    raise OSError("no PONG yet")

        process.wait_ready(ping)
        return process

    def stop(self, *processes: Process) -> None:
        for process in processes or list(self.running):
            process.stop()
            self.running.remove(process)
