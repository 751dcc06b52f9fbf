"""What the scale fuzz tests share: counts and a seed from the environment, JSON made to order,
the findings they collect, and the server-wide checks (tracebacks, a stalled event loop).

Every generated case comes from `random.Random(f"{seed}:{kind}:{index}")`, so one case can be
regenerated from the seed and index a failure prints, without replaying the others.
"""

import asyncio
import json
import math
import os
import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# A /healthz probe slower than this while the fuzz runs means something held the event loop.
STALL_SECONDS = 1.0
# After the run, /healthz must answer within this (the best of a few probes: the machine is shared).
PROMPT_SECONDS = 0.1
PROBE_INTERVAL = 0.25
STALLED = f"/healthz stalled over {STALL_SECONDS} s"
VARIANTS_SHOWN = 12  # per kind of finding; the others are counted
# The margin Python draws down the left of an exception group's traceback.
GROUP_MARGIN = re.compile(r"^\s*\| ?")
# Words any string attribute may hold (no control characters: CloudEvents forbids them).
SAFE_WORDS = ("order", "créé", "注文", "🙂", "a b", "x" * 40, "1", "café/menu", "\u00a0nbsp")


def count(name: str, default: int) -> int:
    """A case count from the environment (`make fuzz` raises them); `default` for `make test`."""
    return int(os.environ.get(name, default))


def only_cases() -> list[int] | None:
    """FUZZ_CASES=3,80 from the environment: replay just these cases of FUZZ_SEED's run."""
    listed = os.environ.get("FUZZ_CASES")
    return [int(case) for case in listed.split(",")] if listed else None


def seed() -> int:
    """FUZZ_SEED from the environment to replay a run, or a fresh one to print."""
    return int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(10**9))


def rng_for(run_seed: int, kind: str, index: int) -> random.Random:
    return random.Random(f"{run_seed}:{kind}:{index}")


class Raw(str):
    """JSON text written as is by `dumps`: how tokens no encoder emits get into a document."""


def dumps(value) -> str:
    """JSON text of `value`, with any `Raw` piece inside it written verbatim."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value)


class Values:
    """Values for one case, all drawn from its own random generator."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, options):
        return self.rng.choice(options)

    def word(self) -> str:
        return self.pick(SAFE_WORDS) + str(self.rng.randrange(1000))

    def json_value(self, depth: int = 0):
        """Any finite JSON value (no Raw): what `data` may be."""
        roll = self.rng.random()
        if depth > 3 or roll < 0.5:
            return self.pick(
                [
                    None,
                    True,
                    False,
                    0,
                    -1,
                    2**53,
                    2**64,
                    -(2**63),
                    1.5,
                    -0.0,
                    1e308,
                    5e-324,
                    "",
                    self.word(),
                    "\u2028\u2029",
                    "tab\tnew\nline\x00nul",
                    "\U0001f600",
                ]
            )
        if roll < 0.75:
            return [self.json_value(depth + 1) for _ in range(self.rng.randrange(4))]
        return {self.word(): self.json_value(depth + 1) for _ in range(self.rng.randrange(4))}


def _refuse_constant(name):
    raise ValueError(f"{name} is not RFC 8259 JSON")


def _finite(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise ValueError(f"{literal} overflows to infinity: no JSON parser can keep it")
    return value


def strict_json(text: str | bytes):
    """Decode RFC 8259 JSON that any parser reads alike: NaN, Infinity and numbers that overflow
    to infinity raise ValueError.

    The json module's nesting limit is what is left of the caller's stack. The server decoded an
    answer's events with frames of its own on the stack, and a test judges it from deep inside
    its tasks: a document the test's stack cannot hold is decoded again in a thread of its own.
    """
    try:
        return _strict_json(text)
    except RecursionError:
        with ThreadPoolExecutor(max_workers=1) as fresh_stack:
            return fresh_stack.submit(_strict_json, text).result()


def _strict_json(text: str | bytes):
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)


@dataclass
class Findings:
    """Failures grouped by kind and, within a kind, by variant (what the cases share, e.g. a
    status and a label): how many of each, and the first counterexample of each variant."""

    counts: dict[str, Counter] = field(default_factory=dict)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, kind: str, example: str, variant: str = "") -> None:
        variants = self.counts.setdefault(kind, Counter())
        variants[variant] += 1
        if len(variants) <= VARIANTS_SHOWN:
            self.examples.setdefault((kind, variant), example)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def report(self, run_seed: int, rerun: str, log: Path) -> str:
        lines = [
            f"FUZZ_SEED={run_seed}; rerun with: FUZZ_SEED={run_seed} {rerun}",
            "(add FUZZ_CASES=<#>,<#> to send only the cases with those numbers)",
            f"the server's log is kept at {log}",
        ]
        for kind, variants in self.counts.items():
            lines.append(f"- {kind}: {variants.total()} case(s)")
            for variant, n in variants.most_common(VARIANTS_SHOWN):
                example = self.examples.get((kind, variant), "")
                lines.append(
                    f"    {n}× {variant}{' e.g. ' if example and variant else ''}{example}"
                )
            if len(variants) > VARIANTS_SHOWN:
                lines.append(f"    … and {len(variants) - VARIANTS_SHOWN} more variants")
        return "\n".join(lines)


def clip(value, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"


def tracebacks(log: str) -> list[str]:
    """The tracebacks in a server log, each named by its exception line (in a group too)."""
    found = []
    for block in log.split("Traceback (most recent call last):")[1:]:
        for line in block.splitlines():
            line = GROUP_MARGIN.sub("", line, count=1)
            if line and not line[0].isspace() and not line.startswith("+"):
                found.append(line)
                break
    return found


async def healthz_seconds(port: int) -> float:
    """How long GET /healthz takes on a new connection (raw, so nothing logs per probe)."""
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(-1), 30)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    return time.monotonic() - start


class StallWatch:
    """Probes /healthz all through a run; a slow probe is a finding that lists the cases in
    flight (FUZZ_CASES replays some of them alone, to find the one that held the loop)."""

    def __init__(self, port: int, findings: Findings):
        self.port = port
        self.findings = findings
        self.in_flight: set[int] = set()  # the numbers of the cases being sent
        self.slowest = 0.0
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "StallWatch":
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def _watch(self) -> None:
        while True:
            in_flight = set(self.in_flight)
            seconds = await healthz_seconds(self.port)
            in_flight |= self.in_flight
            self.slowest = max(self.slowest, seconds)
            if seconds > STALL_SECONDS:
                cases = ",".join(str(index) for index in sorted(in_flight))
                self.findings.add(STALLED, f"{seconds:.2f} s, FUZZ_CASES={cases}")
            await asyncio.sleep(PROBE_INTERVAL)


async def prompt_healthz(port: int, tries: int = 3) -> list[float]:
    """Seconds of a few /healthz probes after a run; the best must be under PROMPT_SECONDS."""
    return [await healthz_seconds(port) for _ in range(tries)]


def rss_mib(pid: int) -> float:
    """A process's resident memory, from /proc (the servers run on Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def server_summary(watch: StallWatch, probes: list[float], rss: tuple[float, float]) -> str:
    """What the server went through, for the run's printed summary."""
    return (
        f"slowest /healthz during the run {watch.slowest * 1000:.0f} ms,"
        f" after it {[round(p * 1000) for p in probes]} ms;"
        f" server RSS {rss[0]:.0f} MiB before, {rss[1]:.0f} MiB after"
    )


def check_server_afterwards(log: Path, probes: list[float], findings: Findings) -> None:
    """The checks on the whole run: no traceback logged, /healthz prompt once the run is over."""
    for exception in tracebacks(log.read_text(errors="replace")):
        findings.add(
            "traceback in the server log", "", variant=re.sub(r"\d+", "N", exception[:200])
        )
    if min(probes) > PROMPT_SECONDS:
        findings.add(
            f"/healthz slower than {PROMPT_SECONDS * 1000:.0f} ms after the run",
            f"probes took {[round(p * 1000) for p in probes]} ms",
        )
