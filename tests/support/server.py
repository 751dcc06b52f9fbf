"""Start real Relayman processes (daphne, as `relayman_project.server`) on free ports.

End-to-end tests talk to these over real sockets. A server can be stopped and started again on
the same port, as a crashed or redeployed node would be.
"""

import atexit
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A migrated SQLite database per settings module, copied for each new server (Server._migrate),
# and the databases so made, with their settings module.
_migrated_templates: dict[str, Path] = {}
_migrated_sqlite: dict[Path, str] = {}
atexit.register(lambda: [path.unlink(missing_ok=True) for path in _migrated_templates.values()])


def _run_migrate(env: dict) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


class Server:
    """One server process serving an ASGI application (Relayman's by default)."""

    def __init__(
        self,
        env: dict | None = None,
        application: str = "relayman_project.asgi:application",
        settings: str = "relayman_project.settings",
        port: int | None = None,
        database: Path | None = None,
        descriptor_limits: tuple[int, int] | None = None,
        launcher: tuple[str, ...] = ("-m", "relayman_project.server"),
    ):
        """`descriptor_limits` sets the process's RLIMIT_NOFILE (soft, hard); `launcher` is what
        the interpreter runs, given daphne's arguments (`-c <code>` to alter the server)."""
        self.port = port or free_port()
        self.application = application
        self.descriptor_limits = descriptor_limits
        self.launcher = launcher
        self.log_path = Path(tempfile.mkstemp(prefix="relayman-", suffix=".log")[1])
        self.database = database or Path(tempfile.mkstemp(suffix=".sqlite3")[1])
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings,
            "SECRET_KEY": "test-secret-key",
            "DATABASE_URL": f"sqlite:///{self.database}",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None
        self._migrated = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        if not self._migrated:
            self._migrate()
            self._migrated = True
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                *self.launcher,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--websocket_timeout",
                "-1",
                self.application,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=self._limit_descriptors if self.descriptor_limits else None,
        )
        self.wait_ready()
        return self

    def _migrate(self) -> None:
        """`manage.py migrate`, run for real once per settings module and test run: a new SQLite
        database of this server's own starts as a copy of that migrated one (each migrate costs
        about two seconds, and the suite starts a server a hundred times)."""
        settings = self.env["DJANGO_SETTINGS_MODULE"]
        if _migrated_sqlite.get(self.database) == settings:
            return  # shared with a server started before, and migrated for it
        own_sqlite = self.env["DATABASE_URL"] == f"sqlite:///{self.database}"
        if not own_sqlite or self.database.stat().st_size > 0:
            _run_migrate(self.env)
            return
        if settings not in _migrated_templates:
            template = Path(tempfile.mkstemp(prefix="relayman-template-", suffix=".sqlite3")[1])
            _run_migrate({**self.env, "DATABASE_URL": f"sqlite:///{template}"})
            _migrated_templates[settings] = template
        shutil.copyfile(_migrated_templates[settings], self.database)
        _migrated_sqlite[self.database] = settings

    def wait_ready(self, path: str = "/healthz") -> None:
        try:
            wait_until(lambda: self._answers(path), f"{self.url}{path} to answer", START_TIMEOUT)
        except AssertionError as late:
            raise RuntimeError(f"{late}:\n{self.logs()}") from None

    def _answers(self, path: str) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{self.logs()}")
        try:
            return httpx.get(self.url + path, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    def _limit_descriptors(self) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, self.descriptor_limits)

    def rss(self) -> int:
        """The server process's resident memory in bytes (VmRSS), as `top` shows it."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc/<pid>/status")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)
        self.database.unlink(missing_ok=True)
        _migrated_sqlite.pop(self.database, None)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
