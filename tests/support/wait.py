"""The one way tests wait for something: poll a check until it holds, or fail saying what.

Every wait has a deadline, so nothing hangs; the failure names what was awaited and the last
value the check returned, so a timed-out test says why.
"""

import asyncio
import inspect
import time

DEFAULT_TIMEOUT = 5.0
INTERVAL = 0.02


def wait_until(check, what: str, timeout: float = DEFAULT_TIMEOUT, interval: float = INTERVAL):
    """Call `check()` until it returns something truthy; return that value and not a None."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


async def await_until(
    check, what: str, timeout: float = DEFAULT_TIMEOUT, interval: float = INTERVAL
):
    """`wait_until` for async tests: `check` may be a plain function or a coroutine function."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)
