"""Where a server's CPU goes during a burst: py-spy samples, summed by the code they land in.

A target out of reach is explained by this breakdown in the report, e.g. how much of each
delivery daphne's own stack (twisted, autobahn) takes whatever the application does.
"""

import asyncio
import contextlib
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

OTHER = "other (stdlib: json, threading, …)"
LOOP = "asyncio event loop and selectors"
_STDLIB = {LOOP, OTHER}
# Sampled frames are credited to the first of these their file path mentions.
AREAS = {
    "daphne stack (twisted, autobahn, daphne)": ("twisted/", "autobahn/", "daphne/"),
    "uvicorn stack (uvicorn, websockets, h11)": ("uvicorn/", "websockets/", "h11/"),
    "Relayman sockets/": ("sockets/",),
    "Relayman events/ (incl. embedded layer)": ("events/",),
    "channels, channels_redis, redis": ("channels/", "channels_redis/", "redis/"),
    "Django, DRF, asgiref, whitenoise, relayman_project/": (
        "django/",
        "rest_framework/",
        "asgiref/",
        "whitenoise/",
        "relayman_project/",
    ),
    LOOP: ("asyncio/", "selectors.py"),
    "bench floor": ("bench/",),
}
_LOCATION = re.compile(r"\(([^)]*)\)$")
_LOOP_MARKS = ("run_forever", "Runner.run (asyncio/runners.py")
_WAITING = ("select (selectors.py", "Runner.run (asyncio/runners.py")
_DISPATCH = ("Handle._run ", "Runner.run ")


def py_spy() -> str | None:
    """The py-spy executable beside this Python (bench/requirements.txt installs it)."""
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


class Recording:
    """`async with Recording(pid)`: samples the process for as long as the block runs."""

    def __init__(self, pid: int):
        self.pid = pid
        self.path = Path(tempfile.mkstemp(prefix="relayman-py-spy-", suffix=".txt")[1])
        self.process = None
        self.shares: dict[str, float] = {}

    async def __aenter__(self) -> "Recording":
        executable = py_spy()
        if executable:
            self.process = await asyncio.create_subprocess_exec(
                *[executable, "record", "--pid", str(self.pid), "--format", "raw"],
                *["--rate", "250", "--output", str(self.path)],
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await asyncio.sleep(0.5)  # attached before the load starts
        return self

    async def __aexit__(self, *exc) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:  # it may have failed (e.g. no ptrace allowed)
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(2)  # py-spy writes its samples on SIGINT
        await asyncio.wait_for(self.process.wait(), 30)
        self.shares = shares(self.path.read_text())
        self.path.unlink(missing_ok=True)


def shares(raw: str) -> dict[str, float]:
    """Fraction of the event loop thread's busy samples spent in each area.

    A sample is credited to the innermost library frame below the event loop's dispatch, so a
    syscall or `call_soon` counts for whichever code asked for it (twisted's `addWriter`, the
    layer waking a receiver); only the loop's own bookkeeping is left to asyncio. uvloop's loop
    is C, invisible to py-spy: its callbacks' frames follow asyncio's `Runner.run` directly, and
    a sample ending there is the loop waiting.
    """
    counts: Counter = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not any(mark in stack for mark in _LOOP_MARKS):  # idle threads
            continue
        frames = stack.split(";")
        if frames[-1].startswith(_WAITING):  # waiting for the network: idle, not work
            continue
        # Below the loop running one callback (Handle._run, or uvloop's), its own frames.
        runs = [i for i, frame in enumerate(frames) if frame.startswith(_DISPATCH)]
        owners = (_area(f) for f in reversed(frames[runs[-1] + 1 :] if runs else []))
        counts[next((a for a in owners if a not in _STDLIB), _area(frames[-1]))] += int(count)
    total = sum(counts.values())
    return {area: n / total for area, n in counts.most_common()} if total else {}


def _area(frame: str) -> str:
    match = _LOCATION.search(frame)
    path = match.group(1) if match else frame
    return next((a for a, marks in AREAS.items() if any(m in path for m in marks)), OTHER)
