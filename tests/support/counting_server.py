"""`python -m tests.support.counting_server <daphne's arguments>`: Relayman's server, noting each
thread started and each call sent to a worker thread, for tests of what a request costs.

Each is noted with its time on the system's monotonic clock (the test's clock too) and written,
one JSON object a line, to the file named by $RELAYMAN_THREAD_LOG when the server exits.
"""

import asyncio
import atexit
import json
import os
import threading
import time

from relayman_project.server import CommandLineInterface

noted: list[dict] = []


def note(kind: str, what) -> None:
    noted.append({"kind": kind, "at": time.monotonic(), "what": getattr(what, "name", repr(what))})


def counting(kind: str, original):
    def counted(self, *args, **kwargs):
        note(kind, self if kind == "thread" else args[1] if len(args) > 1 else None)
        return original(self, *args, **kwargs)

    return counted


def write() -> None:
    with open(os.environ["RELAYMAN_THREAD_LOG"], "w") as log:
        log.writelines(json.dumps(entry) + "\n" for entry in noted)


threading.Thread.start = counting("thread", threading.Thread.start)
asyncio.BaseEventLoop.run_in_executor = counting("hop", asyncio.BaseEventLoop.run_in_executor)
atexit.register(write)

if __name__ == "__main__":
    CommandLineInterface.entrypoint()
