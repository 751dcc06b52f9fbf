"""The container: what the Dockerfile promises, and that its commands work here.

No Docker engine runs on these machines, so the image's CMD and HEALTHCHECK are run directly in
this checkout with the image's environment (the Dockerfile's ENV plus the README's `docker run`
variables). Settings read from the environment are checked in fresh interpreters.
"""

import json
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings

from tests.support.server import ROOT, Server, free_port
from tests.support.wait import wait_until

DOCKERFILE = ROOT / "Dockerfile"
START_TIMEOUT = 60


def readme_run_env() -> dict:
    """The `-e NAME=value` options of the README's `docker run`, so the two cannot drift."""
    (run,) = re.findall(r"^docker run .*$", (ROOT / "README.md").read_text(), re.MULTILINE)
    return dict(pair.split("=", 1) for pair in re.findall(r"-e (\S+)", run))


RUN_ENV = readme_run_env()


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def arguments(name: str) -> list[str]:
    return [args for instruction, args in instructions() if instruction == name]


def command(form: str) -> list[str]:
    """A CMD in exec form (a JSON array) or shell form."""
    return json.loads(form) if form.startswith("[") else ["/bin/sh", "-c", form]


def dockerfile_env() -> dict:
    env = {}
    for args in arguments("ENV"):
        env.update(pair.split("=", 1) for pair in shlex.split(args))
    return env


def image_env(tmp_path: Path, port: int) -> dict:
    """The Dockerfile's ENV, then what differs here: port, database, this interpreter."""
    python_dir = str(Path(sys.executable).parent)
    return {
        **dockerfile_env(),
        **RUN_ENV,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PYTHON": sys.executable,
        "PATH": f"{python_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
    }


def healthcheck() -> tuple[list[str], float]:
    """The HEALTHCHECK's command and its --timeout in seconds."""
    (args,) = arguments("HEALTHCHECK")
    options, form = args.split(" CMD ", 1)
    timeout = re.search(r"--timeout=(\d+)s", options)
    return command(form.strip()), float(timeout.group(1)) if timeout else 30.0


class Container:
    """The image's CMD, started in this checkout with the image's environment."""

    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.env = image_env(tmp_path, self.port)
        self.database = tmp_path / "db.sqlite3"
        self.log = tmp_path / "serve.log"
        (cmd,) = arguments("CMD")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command(cmd), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url(path), headers={"Host": "localhost"}, timeout=5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_healthy(self) -> None:
        wait_until(self._healthy, "a healthy /healthz from bin/serve", START_TIMEOUT)

    def _healthy(self) -> bool:
        assert self.process.poll() is None, f"bin/serve exited:\n{self.log.read_text()}"
        try:
            return self.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def container(tmp_path_factory):
    running = Container(tmp_path_factory.mktemp("container"))
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()


# The image's commands, run here.


def test_the_image_command_serves_healthz(container):
    response = container.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": 200, "message": "OK"}


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_the_readmes_docker_run_answers_on_localhost_and_127_0_0_1(container, host):
    response = httpx.get(container.url("/healthz"), headers={"Host": f"{host}:4000"}, timeout=5)
    assert response.status_code == 200, response.text


def test_the_image_command_accepts_an_event(container):
    event = {"id": "1", "source": "/container", "type": "created", "data": {"id": "1"}}
    response = httpx.post(
        container.url("/events"), json=event, headers={"Host": "localhost"}, timeout=5
    )
    assert response.status_code == 201, response.text
    assert response.json() == {**event, "specversion": "1.0"}


def test_the_image_command_applied_migrations(container):
    with sqlite3.connect(container.database) as db:
        (applied,) = db.execute("SELECT COUNT(*) FROM django_migrations").fetchone()
    assert applied > 0


def test_the_image_command_lifts_daphnes_24_hour_socket_cut_off(container):
    # bin/serve execs Relayman's daphne, so the process started is the server itself. daphne
    # closes every WebSocket after --websocket_timeout seconds (86400 by default) unless negative.
    argv = Path(f"/proc/{container.process.pid}/cmdline").read_bytes().split(b"\0")
    assert b"relayman_project.server" in argv
    assert argv[argv.index(b"--websocket_timeout") + 1] == b"-1"


def test_the_image_command_answers_only_allowed_hosts(container):
    response = httpx.get(container.url("/healthz"), headers={"Host": "evil.example"}, timeout=5)
    assert response.status_code == 400


def run_healthcheck(env: dict) -> subprocess.CompletedProcess:
    cmd, timeout = healthcheck()
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_healthcheck_passes_against_the_running_server(container):
    result = run_healthcheck(container.env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_healthcheck_passes_against_a_server_at_its_connection_cap(tmp_path):
    # Alive and busy: restarting it would drop every connection it serves.
    env = {"RELAYMAN_MAX_CONNECTIONS": "1", "RELAYMAN_HEADER_TIMEOUT": "60"}
    with Server(env=env) as full, socket.create_connection(("127.0.0.1", full.port)):
        result = run_healthcheck(image_env(tmp_path, full.port))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "healthy, at its connection cap" in result.stdout


def test_the_healthcheck_fails_when_nothing_answers(tmp_path):
    result = run_healthcheck(image_env(tmp_path, free_port()))
    assert result.returncode != 0
    assert "unhealthy" in result.stdout + result.stderr


# What the Dockerfile promises.


def test_the_base_is_a_slim_official_python():
    (base,) = arguments("FROM")
    # An exact tag (major.minor.patch), never a moving one such as python:3.11-slim.
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base


def test_the_image_runs_as_a_non_root_user():
    users = arguments("USER")
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dependencies_are_installed_from_the_lock_in_their_own_layer():
    steps = [f"{name} {args}" for name, args in instructions()]
    copy_lock = steps.index("COPY requirements.lock .")
    install = next(i for i, step in enumerate(steps) if "pip install" in step)
    first_code = next(i for i, step in enumerate(steps) if re.match(r"COPY (events|sockets)", step))
    assert "--require-hashes --no-deps -r requirements.lock" in steps[install]
    assert copy_lock < install < first_code


def test_the_image_contains_every_local_app():
    copied = {args.split()[0].rstrip("/") for args in arguments("COPY")}
    local = {app.split(".")[0] for app in django_settings.INSTALLED_APPS}
    local = {name for name in local if (ROOT / name).is_dir()} | {"relayman_project", "manage.py"}
    assert local <= copied


def test_the_command_is_bin_serve_and_the_healthcheck_polls_healthz():
    (cmd,) = arguments("CMD")
    assert command(cmd) == ["bin/serve"]
    check, _ = healthcheck()
    script = (ROOT / check[0]).read_text() if (ROOT / check[0]).is_file() else " ".join(check)
    assert "/healthz" in script


@pytest.mark.parametrize("path", ["bin/serve", "bin/healthcheck"])
def test_the_scripts_the_image_runs_are_executable_in_git(path):
    mode = subprocess.run(
        ["git", "ls-files", "--stage", path], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert mode == "100755"


def test_the_image_listens_on_port_4000_by_default():
    assert arguments("EXPOSE") == ["4000"]
    assert dockerfile_env()["PORT"] == "4000"


# Settings from the environment, read by a fresh interpreter.

SHOW = (
    "import json, relayman_project.settings as s; "
    "print(json.dumps({'SECRET_KEY': s.SECRET_KEY, 'DEBUG': s.DEBUG, 'PORT': s.PORT, "
    "'ALLOWED_HOSTS': s.ALLOWED_HOSTS, 'DATABASE': s.DATABASES['default'], "
    "'LAYER': s.CHANNEL_LAYERS['default'], 'MAX_EVENT_BYTES': s.RELAYMAN_MAX_EVENT_BYTES}, "
    "default=str))"
)
CONFIG_VARIABLES = (
    "SECRET_KEY",
    "DEBUG",
    "PORT",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "RELAYMAN_MAX_EVENT_BYTES",
    "RELAYMAN_REQUIRE_PRODUCER_KEYS",
)


def read_settings(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env={**clean, "SECRET_KEY": "k", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def settings_with(**env) -> tuple[dict, str]:
    """The settings a fresh process reads from `env` alone, and what it logged."""
    result = read_settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DEBUG", "ture", "DEBUG must be true/false, 1/0, yes/no or on/off, got 'ture'"),
        ("RELAYMAN_REQUIRE_PRODUCER_KEYS", "enabled", "RELAYMAN_REQUIRE_PRODUCER_KEYS must be"),
        ("PORT", "http", "PORT must be an integer, from 1 to 65535; got 'http'"),
        (
            "RELAYMAN_MAX_EVENT_BYTES",
            "1MB",
            "RELAYMAN_MAX_EVENT_BYTES must be a whole number of bytes, 1 or more; got '1MB'",
        ),
    ],
)
def test_a_malformed_variable_stops_the_start_naming_it(name, value, message):
    result = read_settings(**{name: value})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr


def test_without_secret_key_a_random_key_is_generated_with_a_warning():
    first, logged = settings_with(SECRET_KEY="")
    second, _ = settings_with(SECRET_KEY="")
    assert "SECRET_KEY is not set" in logged
    assert len(first["SECRET_KEY"]) >= 50
    assert first["SECRET_KEY"] != second["SECRET_KEY"]


def test_a_given_secret_key_is_used_without_warning():
    settings, logged = settings_with(SECRET_KEY="s3cret")
    assert settings["SECRET_KEY"] == "s3cret"
    assert "SECRET_KEY" not in logged


def test_defaults():
    settings, _ = settings_with()
    assert settings["DEBUG"] is False
    assert settings["PORT"] == 4000
    assert settings["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    assert settings["DATABASE"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["DATABASE"]["NAME"] == str(ROOT / "db.sqlite3")
    assert "redis" not in settings["LAYER"]["BACKEND"].lower()
    assert settings["MAX_EVENT_BYTES"] == 1024 * 1024


@pytest.mark.parametrize(
    "value, debug",
    [
        ("1", True),
        ("true", True),
        ("True", True),
        ("yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        (" OFF ", False),
        ("", False),
    ],
)
def test_debug(value, debug):
    assert settings_with(DEBUG=value)[0]["DEBUG"] is debug


@pytest.mark.parametrize(
    "value, hosts",
    [
        ("relay.example.com", ["relay.example.com"]),
        (" a.example.com, .b.example.com ,, ", ["a.example.com", ".b.example.com"]),
        ("*", ["*"]),
    ],
)
def test_allowed_hosts(value, hosts):
    assert settings_with(ALLOWED_HOSTS=value)[0]["ALLOWED_HOSTS"] == hosts


@pytest.mark.parametrize(
    "url, expected",
    [
        (
            "postgres://relay:pw@db.internal:5433/relayman",
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "relayman",
                "USER": "relay",
                "PASSWORD": "pw",
                "HOST": "db.internal",
                "PORT": 5433,
            },
        ),
        ("sqlite:////var/lib/relayman/db.sqlite3", {"NAME": "/var/lib/relayman/db.sqlite3"}),
    ],
)
def test_database_url(url, expected):
    database = settings_with(DATABASE_URL=url)[0]["DATABASE"]
    assert {key: database[key] for key in expected} == expected


def test_redis_url_switches_to_a_redis_channel_layer():
    url = "redis://:pw@redis.internal:6380/2"
    layer = settings_with(REDIS_URL=url)[0]["LAYER"]
    assert "redis" in layer["BACKEND"].lower()
    assert url in json.dumps(layer["CONFIG"]["hosts"])


def test_port_and_event_size_limit():
    settings, _ = settings_with(PORT="8080", RELAYMAN_MAX_EVENT_BYTES="2048")
    assert (settings["PORT"], settings["MAX_EVENT_BYTES"]) == (8080, 2048)
