"""`python -m bench [--quick] [--out DIR]`: run every target, print the table, write latest.*."""

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import report
from .harness import FULL, QUICK, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 subscribers only, shorter")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    started = time.monotonic()
    results = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench-quick" if args.quick else "make bench",
    }
    results |= asyncio.run(run(QUICK if args.quick else FULL, log=log))
    results["seconds"] = time.monotonic() - started
    print(report.write(results, args.out))
    log(f"wrote {args.out}/latest.md, .json and .png; server logs: {results['logs']}")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
