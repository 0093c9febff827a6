"""The time of day as the send window and `purge` see it.

Both depend on the wall clock, and tests cannot wait for real hours to pass, so this is the one
place that reads it. `MASGSM_NOW` (an ISO date and time, for tests only) sets where the clock
starts; it then runs on at the real pace, so a test can start a run a few seconds before a
window closes and watch it close mid-run.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time

from .errors import UsageError

NOW_VARIABLE = "MASGSM_NOW"


@functools.cache
def _start() -> tuple[dt.datetime, float] | None:
    """The given start of the clock (UTC when it names no offset) and when it was read."""
    given = os.environ.get(NOW_VARIABLE, "").strip()
    if not given:
        return None
    try:
        start = dt.datetime.fromisoformat(given)
    except ValueError:
        raise UsageError(
            f"{NOW_VARIABLE}={given!r} is not an ISO date and time (2026-03-02T20:59:30+03:00)"
        ) from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.timezone.utc)
    return start, time.monotonic()


def now() -> dt.datetime:
    """The current time, aware of its offset."""
    start = _start()
    if start is None:
        return dt.datetime.now(dt.timezone.utc)
    given, read_at = start
    return given + dt.timedelta(seconds=time.monotonic() - read_at)


def timestamp() -> float:
    """`now()` as seconds since the epoch, comparable with the journal's `time.time()` stamps."""
    return now().timestamp()


def sleep_until(moment: dt.datetime, step: float = 30.0) -> None:
    """Sleep until `moment` on this clock, waking at least every `step` seconds so a changed
    system clock (suspend, NTP) is noticed."""
    while (left := (moment - now()).total_seconds()) > 0:
        time.sleep(min(left, step))
