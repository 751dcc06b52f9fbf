"""Turn one run's raw figures into the table (markdown), the targets' verdicts and the chart."""

import json
import os
import platform
from pathlib import Path

from .harness import CLIENT_PROCESSES

COMPARED = ("daphne", "uvicorn", "redis")
# Issue 12: single POSTs to /events as a share of the raw ASGI app's rate, per server; events/s
# in batches of 100 under daphne.
INGEST_TARGETS = {"daphne": 0.5, "uvicorn-httptools": 0.25}
BATCH_TARGET = 100_000
REFERENCE_TITLES = {
    "raw": "raw ASGI app",
    "bare": "bare Django view",
    "events": "POST /events",
    "events_keyed": "POST /events, keys required",
}
BATCH_TITLES = {"raw_batch": "raw ASGI app", "events_batch": "POST /events"}
TITLES = {
    "floor": "floor",
    "daphne": "Relayman, daphne",
    "uvicorn": "Relayman, uvicorn",
    "redis": "2 nodes + Redis",
    "django": "bare Django view",
}


def fan_out(results: dict, target: str, subscribers: int) -> dict:
    runs = results["targets"].get(target, {}).get("fan_out", [])
    return next((run for run in runs if run["subscribers"] == subscribers), {})


def figures(results: dict) -> list[tuple[str, str, callable]]:
    """(label, unit, getter(target) -> value or None) for every figure of the table."""
    rows = []
    for count in results["plan"]["subscribers"]:
        for phase in ("burst", "paced"):
            if phase == "paced" and count != results["plan"]["paced_subscribers"]:
                continue
            label = f"{count:,} subs, {phase}"

            def get(key, count=count, phase=phase):
                return lambda t: fan_out(results, t, count).get(phase, {}).get(key)

            rows += [
                (f"{label}: deliveries/s", "higher", get("deliveries_per_s")),
                (f"{label}: server CPU µs/delivery", "lower", get("cpu_us_per_delivery")),
                (f"{label}: latency p50 ms", "lower", get("p50_ms")),
                (f"{label}: latency p99 ms", "lower", get("p99_ms")),
                (f"{label}: deliveries missing", "lower", missing(results, count, phase)),
            ]
        rows += [
            (f"{count:,} subs: joins/s", "higher", _run_key(results, count, "joins_per_s")),
            (
                f"{count:,} subs: RSS KiB per idle socket",
                "lower",
                _run_key(results, count, "rss_kib_per_idle_socket"),
            ),
        ]
    rows += [
        ("ingest: single-event POSTs/s", "higher", _ingest(results, "single_per_s")),
        ("ingest: events/s in batches of 100", "higher", _ingest(results, "batch100_events_per_s")),
    ]
    return rows


def missing(results, count, phase):
    def get(target):
        run = fan_out(results, target, count).get(phase)
        return None if run is None else run["expected"] - run["deliveries"] + run["duplicates"]

    return get


def _run_key(results, count, key):
    return lambda target: fan_out(results, target, count).get(key)


def _ingest(results, key):
    return lambda target: results["targets"].get(target, {}).get("ingest", {}).get(key)


def ratio(value, floor):
    if value is None or not floor:
        return None
    return value / floor


def times(r) -> str:
    return "–" if r is None else f"{r:.2f}×"


def show(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def table(results: dict) -> str:
    header = ["figure", TITLES["floor"]]
    for target in COMPARED:
        header += [TITLES[target], "× floor"]
    header.append(TITLES["django"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, _, get in figures(results):
        floor = get("floor")
        cells = [label, show(floor)]
        for target in COMPARED:
            value = get(target)
            r = ratio(value, floor)
            cells += [show(value), times(r)]
        cells.append(show(get("django")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(results: dict) -> list[tuple[str, str, bool | None]]:
    """Each target of issue 6: (requirement, what was measured, met?)."""
    plan = results["plan"]
    out = []

    def check(requirement, measured, met):
        out.append((requirement, measured, met))

    for count in plan["subscribers"]:
        floor = fan_out(results, "floor", count).get("burst", {})
        daphne = fan_out(results, "daphne", count).get("burst", {})
        if floor and daphne:
            r = ratio(daphne["cpu_us_per_delivery"], floor["cpu_us_per_delivery"])
            check(
                f"{count:,} subs burst: server CPU per delivery ≤ 3× floor",
                f"{daphne['cpu_us_per_delivery']:.1f} µs = {times(r)} floor",
                r <= 3 if r is not None else None,
            )
            lost = daphne["expected"] - daphne["deliveries"]
            check(
                f"{count:,} subs × {plan['events']}-event bursts: every delivery arrives",
                f"{daphne['deliveries']:,}/{daphne['expected']:,}, {daphne['duplicates']} dup.",
                lost == 0 and daphne["duplicates"] == 0,
            )
        redis = fan_out(results, "redis", count).get("burst", {})
        if redis and daphne:
            r = ratio(redis["deliveries_per_s"], daphne["deliveries_per_s"])
            check(
                f"{count:,} subs: 2 nodes via Redis ≥ 0.5× single-node deliveries/s",
                f"{redis['deliveries_per_s']:,.0f}/s = {times(r)} single node",
                r >= 0.5 if r is not None else None,
            )
    small, large = results["layer_us_per_member"].values()
    check(
        "embedded layer: a broadcast costs O(subscribers)",
        f"{small:.2f} µs per member at 2,000, {large:.2f} µs at 20,000",
        large <= 2 * small,
    )
    paced = plan["paced_subscribers"]
    floor = fan_out(results, "floor", paced).get("paced")
    daphne = fan_out(results, "daphne", paced).get("paced")
    if floor and daphne:
        r = ratio(daphne["p99_ms"], floor["p99_ms"])
        check(
            f"paced, {paced:,} subs: p99 ≤ 4× floor's p99",
            f"{daphne['p99_ms']:.1f} ms = {times(r)} floor ({floor['p99_ms']:.1f} ms)",
            r <= 4 if r is not None else None,
        )
    biggest = max(plan["subscribers"])
    rss = fan_out(results, "daphne", biggest).get("rss_kib_per_idle_socket")
    if rss is not None:
        check("≤ 30 KiB RSS per idle socket", f"{rss:.1f} KiB ({biggest:,} sockets)", rss <= 30)
    bare = results["targets"].get("django", {}).get("ingest", {})
    if bare:
        r = bare["ratio"]
        check(
            "ingest: single-event POSTs ≥ 0.8× the bare Django view",
            f"{bare['events_single_per_s']:,.0f}/s vs {bare['single_per_s']:,.0f}/s, alternating "
            f"on one server: median ratio {times(r)}; server CPU per request "
            f"{bare['events_cpu_us_per_request']:,.0f} vs {bare['cpu_us_per_request']:,.0f} µs",
            r >= 0.8,
        )
    daphne = results["targets"].get("references", {}).get("daphne")
    if daphne:
        rate = daphne["events_batch_events_per_s"]
        check(
            f"ingest, daphne: batches of 100 ≥ {BATCH_TARGET:,} events/s (wrk, 16 connections)",
            f"{rate:,.0f} events/s vs the raw app's {daphne['raw_batch_events_per_s']:,.0f}: "
            f"{times(daphne['events_batch_to_raw'])}; server CPU per batch "
            f"{daphne['events_batch_cpu_us']:,.0f} vs {daphne['raw_batch_cpu_us']:,.0f} µs",
            rate >= BATCH_TARGET,
        )
    for server, floor in INGEST_TARGETS.items():
        refs = results["targets"].get("references", {}).get(server)
        if not refs:
            continue
        check(
            f"ingest, {server}: single POSTs ≥ {floor}× the raw ASGI app",
            f"{refs['events_per_s']:,.0f}/s vs {refs['raw_per_s']:,.0f}/s: "
            f"{times(refs['events_to_raw'])} ({times(refs['events_to_bare'])} the bare view); "
            f"server CPU per request {refs['events_cpu_us']:,.0f} vs {refs['raw_cpu_us']:,.0f} µs",
            refs["events_to_raw"] >= floor,
        )
        check(
            f"ingest, {server}: p99 of single POSTs ≤ 2× the raw app's",
            f"{refs['events_p99_ms']:.1f} ms vs {refs['raw_p99_ms']:.1f} ms: "
            f"{times(refs['p99_to_raw'])}",
            refs["p99_to_raw"] <= 2,
        )
        check(
            f"ingest, {server}: with producer keys required, within 5 %",
            f"{refs['events_keyed_per_s']:,.0f}/s vs {refs['events_per_s']:,.0f}/s: "
            f"{times(refs['keyed_to_events'])}",
            refs["keyed_to_events"] >= 0.95,
        )
    stalled = results["targets"].get("daphne", {}).get("stalled_reader")
    if stalled:
        base, slow = stalled["without"], stalled["with"]
        r = ratio(slow["p99_ms"], base["p99_ms"])
        check(
            "a stalled reader: the others' p99 within 20 %",
            f"{slow['p99_ms']:.1f} ms vs {base['p99_ms']:.1f} ms = {times(r)}",
            r <= 1.2 if r is not None else None,
        )
        ended = slow["stalled_socket"]
        extra = slow["rss_growth_kib"] - base["rss_growth_kib"]
        check(
            "a stalled reader is closed with a clear code, counted in the logs; memory bounded",
            f"stalled socket: {ended}; {stalled['slow_closes_logged']} close(s) logged with "
            f"code 4008; RSS grew {extra:+,} KiB more than without it",
            ended != "still open" and stalled["slow_closes_logged"] > 0 and extra < 4096,
        )
    return out


def references(results: dict) -> str:
    """POSTs by wrk (16 connections) to each path, per server: single events, then batches of
    100, each with its rate, p99 and server CPU per request."""
    refs = results["targets"].get("references", {})
    if not refs:
        return ""
    single = _reference_table(
        refs,
        REFERENCE_TITLES,
        ("per_s", "req/s", "CPU µs/req"),
        {"events_to_raw": "/events ÷ raw", "events_to_bare": "/events ÷ bare view"},
    )
    batches = _reference_table(
        refs,
        BATCH_TITLES,
        ("events_per_s", "events/s", "CPU µs/batch"),
        {"events_batch_to_raw": "/events ÷ raw"},
    )
    intro = (
        "Batches of 100 small events (application/cloudevents-batch+json), in the same rotation "
        "of one-second slices as the single POSTs:"
    )
    return "\n".join([single, "", intro, "", batches])


def _reference_table(refs: dict, titles: dict, units: tuple, ratios: dict) -> str:
    """One row per server: rate, p99 and CPU per request of each path, then the ratios."""
    rate, rate_unit, cpu_unit = units
    header = ["server"]
    header += [f"{title}: {rate_unit}, p99 ms, {cpu_unit}" for title in titles.values()]
    header += list(ratios.values())
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for server, figures in refs.items():
        cells = [server]
        for name in titles:
            cells.append(
                f"{figures[f'{name}_{rate}']:,.0f}, {figures[name + '_p99_ms']:.1f}, "
                f"{figures[name + '_cpu_us']:,.0f}"
            )
        cells += [times(figures[key]) for key in ratios]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# Issue 14: each target measured again with history on, beside itself with history off.
HISTORY = {"daphne": "daphne-history", "redis": "redis-history"}


def history(results: dict) -> str:
    """Fan-out and ingest with catch-up's history on, beside the same target with it off."""
    pairs = {off: on for off, on in HISTORY.items() if on in results["targets"]}
    if not pairs:
        return ""
    count = results["plan"]["subscribers"][0]
    rows = [row for row in figures(results) if row[0].startswith(f"{count:,} subs")]
    rows += [row for row in figures(results) if row[0].startswith("ingest:")]
    header = ["figure"]
    for off in pairs:
        header += [f"{TITLES[off]}, history off", "history on", "on ÷ off"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, _, get in rows:
        cells = [label]
        for off, on in pairs.items():
            cells += [show(get(off)), show(get(on)), times(ratio(get(on), get(off)))]
        lines.append("| " + " | ".join(cells) + " |")
    intro = (
        f"`RELAYMAN_HISTORY_SIZE=1000` for every source; the same load as above at {count:,} "
        "subscribers. With history off nothing is kept: those columns are the table's own."
    )
    return "\n".join([intro, "", *lines])


def profiles(results: dict) -> str:
    """Where each single-node server's CPU went in a burst: share, and µs per delivery."""
    count = max(results["plan"]["subscribers"])
    runs = {t: fan_out(results, t, count) for t in ("floor", "daphne", "uvicorn")}
    runs = {t: run for t, run in runs.items() if run.get("profile")}
    if not runs:
        return ""
    areas = list(dict.fromkeys(area for run in runs.values() for area in run["profile"]))
    header = ["where the server's CPU goes (py-spy, self time)"]
    header += [f"{TITLES[t]}: share, µs/delivery" for t in runs]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for area in areas:
        cells = [area]
        for run in runs.values():
            share = run["profile"].get(area, 0.0)
            cells.append(f"{share:.0%}, {share * run['burst']['cpu_us_per_delivery']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    intro = (
        f"One more burst to {count:,} subscribers, sampled by py-spy; µs/delivery is the share "
        "times the server CPU per delivery measured above."
    )
    return "\n".join([intro, "", *lines])


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"
    )


def markdown(results: dict) -> str:
    lines = [
        "# Relayman benchmark",
        "",
        f"Run {results['started']} on {machine()}; `{results['command']}`, "
        f"{results['seconds']:.0f} s.",
        "",
        "Each figure is from this one run; `× floor` divides it by the floor's figure "
        "(for CPU, latency and memory lower is better, for rates higher is better). "
        f"Subscribers speak Phoenix V2 from {CLIENT_PROCESSES} load-client processes; a burst "
        f"is {results['plan']['events']} events POSTed back to back, a paced run the same "
        f"50 ms apart, {results['plan']['rounds']} of each per figure. The ingest rows are "
        "posted by bench/poster.py (4 keep-alive connections in Python, on the server's cores), "
        "to compare the targets; issue 12's ingest targets are measured with wrk (below).",
        "",
        table(results),
        "",
        "## Targets (issue 6)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for requirement, measured, met in verdicts(results):
        verdict = "unmeasured" if met is None else "yes" if met else "**no**"
        lines.append(f"| {requirement} | {measured} | {verdict} |")
    ingest = references(results)
    if ingest:
        lines += ["", "## Ingest beside its references (issue 12)", "", ingest]
    kept = history(results)
    if kept:
        lines += ["", "## With catch-up's history on (issue 14)", "", kept]
    breakdown = profiles(results)
    if breakdown:
        lines += ["", "## Where the CPU goes", "", breakdown]
    return "\n".join(lines) + "\n"


def chart(results: dict, path: Path) -> None:
    """A horizontal bar per figure and target: its ratio to the floor, on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [
        (label, get)
        for label, _, get in figures(results)
        if "missing" not in label and get("floor")
    ]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) * len(COMPARED) / 2 + 1.5))
    height = 0.8 / len(COMPARED)
    for i, target in enumerate(COMPARED):
        values = [ratio(get(target), get("floor")) or 0 for _, get in rows]
        positions = [n + i * height for n in range(len(rows))]
        ax.barh(positions, values, height=height, label=TITLES[target])
    ax.set_yticks([n + height for n in range(len(rows))], [label for label, _ in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1, color="black", linewidth=1)
    ax.set_xlabel("ratio to the floor (log scale; 1 = floor)")
    ax.set_title("Relayman vs the hand-written floor, one run")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(results: dict, directory: Path, with_chart: bool = True) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    text = markdown(results)
    (directory / "latest.md").write_text(text)
    if with_chart:
        chart(results, directory / "latest.png")
    return text
