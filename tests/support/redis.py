"""Start a throwaway `redis-server` on a free port, kill it and bring it back on the same port.

Tests that need Redis use these instead of any Redis already running (never the one on 6379):
nothing is saved to disk, so a restarted server has forgotten every subscription, as a real
Redis restarted without persistence would. With `tls=True` it listens for TLS only and demands a
client certificate, all signed by a throwaway CA (made with the `openssl` command).
"""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.server import free_port
from tests.support.wait import wait_until

START_TIMEOUT = 10


def require_tool(name: str, package: str) -> str:
    """The path of a command; skips the test when it is missing (fails it under CI)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install {package})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class RedisServer:
    """One `redis-server` process listening on 127.0.0.1 only."""

    def __init__(
        self, password: str | None = None, tls: bool = False, replica_of: "RedisServer" = None
    ):
        self.executable = require_tool("redis-server", "redis-server")
        self.port = free_port()
        self.password = password
        self.replica_of = replica_of
        self.dir = Path(tempfile.mkdtemp(prefix="relayman-redis-"))
        self.tls = tls
        if tls:
            make_certificates(self.dir)
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        scheme = "rediss" if self.tls else "redis"
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{db}"

    def start(self) -> "RedisServer":
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(self._command(), stdout=log, stderr=log)
        self._wait_ready()
        return self

    def _command(self) -> list[str]:
        args = [self.executable, "--bind", "127.0.0.1", "--dir", str(self.dir)]
        args += ["--save", "", "--appendonly", "no"]
        if self.tls:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "yes"]
            for option, name in (
                ("cert", "server.pem"),
                ("key", "server.key"),
                ("ca-cert", "ca.pem"),
            ):
                args += [f"--tls-{option}-file", str(self.dir / name)]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        if self.replica_of:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of.port)]
        return args

    def _wait_ready(self) -> None:
        wait_until(self._answers, f"redis-server on port {self.port} to answer", START_TIMEOUT)

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited early:\n{self.logs()}")
        try:
            with self._connect() as sock:
                sock.sendall(b"PING\r\n")
                return bool(sock.recv(64))  # +PONG, or -NOAUTH when a password is set
        except OSError:
            return False

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
        if not self.tls:
            return sock
        context = ssl.create_default_context(cafile=self.dir / "ca.pem")
        context.load_cert_chain(self.dir / "client.pem", self.dir / "client.key")
        return context.wrap_socket(sock, server_hostname="127.0.0.1")

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


class RedisSentinel(RedisServer):
    """A Sentinel that names `master` as the master of the service `name`.

    It acts fast, for tests: a master silent for 300 ms is down, and a replica takes over.
    """

    def __init__(self, master: RedisServer, name: str = "mymaster"):
        super().__init__()
        self.master, self.name = master, name

    def _command(self) -> list[str]:
        config = self.dir / "sentinel.conf"  # Sentinel rewrites its configuration file
        lines = [
            "bind 127.0.0.1",
            f"port {self.port}",
            f"dir {self.dir}",
            f"sentinel monitor {self.name} 127.0.0.1 {self.master.port} 1",
            f"sentinel down-after-milliseconds {self.name} 300",
            f"sentinel failover-timeout {self.name} 2000",
        ]
        if self.master.password:
            lines.append(f"sentinel auth-pass {self.name} {self.master.password}")
        config.write_text("\n".join(lines) + "\n")
        return [self.executable, str(config), "--sentinel"]


def make_certificates(directory: Path) -> None:
    """A CA (ca.pem) and, signed by it, a server certificate for 127.0.0.1 and a client one."""
    openssl = require_tool("openssl", "openssl")

    def run(command: str):
        subprocess.run([openssl, *command.split()], cwd=directory, check=True, capture_output=True)

    key = "-newkey rsa:2048 -nodes"
    run(f"req -x509 {key} -days 1 -subj /CN=test-CA -keyout ca.key -out ca.pem")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        run(f"req {key} -subj /CN={name} -keyout {name}.key -out {name}.csr")
        run(
            f"x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
            f"-extfile san.ext -out {name}.pem"
        )
