"""POSTs by wrk (16 connections): a load generator in C, so that even the raw reference app, at
tens of thousands of requests a second, is measured, not the client."""

import json
import re
import shutil
import subprocess
import tempfile

from .poster import BATCH, STRUCTURED, event

CONNECTIONS = 16
BATCH_EVENTS = 100
EVENT = {"specversion": "1.0", "id": "1", "source": "/ingest", "type": "bench", "data": {"n": 1}}
SCRIPT = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "{content_type}"
{authorization}
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def available() -> bool:
    return shutil.which("wrk") is not None


def post(url: str, seconds: float, key: str = "", batch: int = 0) -> dict:
    """Requests/s, events/s, requests answered and p99 latency (ms) of `seconds` of POSTs of one
    event, or of a batch of `batch` small events (the poster's, so both clients post the same)."""
    authorization = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    body = [event("/ingest", n) for n in range(batch)] if batch else EVENT
    script = SCRIPT.format(
        body=json.dumps(json.dumps(body)),
        content_type=BATCH if batch else STRUCTURED,
        authorization=authorization,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s"]
        command += ["--latency", "-s", lua.name, url]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk POST {url}: answers other than 2xx\n{out}")
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    per_s = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    return {
        "per_s": per_s,
        "events_per_s": per_s * (batch or 1),
        "requests": int(re.search(r"(\d+) requests in", out)[1]),
        "p99_ms": float(p99[1]) * _UNITS[p99[2]],
    }
