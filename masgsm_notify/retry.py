"""Trying again: one loop for every request or lock that may succeed a moment later.

Reads (balance, titles, reports) are retried because repeating them is harmless; sends only when
the provider cannot have acted (`SafeToRetryError`); opening a journal while another process is
creating it is polled. Each caller says what is worth another try and how long to wait between
tries; the loop itself is the same.

An `Outage` is the clock every request of a run shares: a provider that has failed for
`give_up_after` seconds in a row, whoever asked, is given up on, instead of each batch spending
its own retries on a provider that is gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def polling(patience: float, interval: float = 0.05) -> Iterator[float]:
    """Pauses of `interval` seconds until `patience` seconds have passed."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        yield interval


def retry(
    action: Callable[[], T],
    *,
    worth_retrying: Callable[[Exception], bool],
    pauses: Iterable[float],
    pause: Callable[[float], bool | None] = time.sleep,
    on_retry: Callable[[Exception, float], None] | None = None,
) -> T:
    """`action()`, tried again after each pause while it fails in a way worth retrying.

    The last failure is raised when the pauses run out, or when `pause` returns True (a stop
    signal, such as `threading.Event.wait`). `on_retry(error, delay)` hears of each retry, for
    a person waiting on it.
    """
    pauses = iter(pauses)
    while True:
        try:
            return action()
        except Exception as error:
            if not worth_retrying(error):
                raise
            delay = next(pauses, None)
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(error, delay)
            if pause(delay):
                raise


class Outage:
    """How long a service has been failing, across every thread that talks to it.

    The clock starts at the first failure after a success (or after the start) and any success
    stops it. `pauses()` are the backoff pauses of one caller, cut short so that no retry is
    made once the outage has lasted `give_up_after` seconds: every caller gives up together.
    """

    def __init__(
        self,
        give_up_after: float,
        first: float = 0.5,
        ceiling: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.give_up_after = give_up_after
        self.first, self.ceiling = first, ceiling
        self.clock = clock
        self._since: float | None = None
        self._lock = threading.Lock()

    def attempt(self, action: Callable[[], T], counts: type[Exception] | tuple) -> T:
        """`action()`; a `counts` failure starts (or continues) the outage, a success ends it."""
        try:
            result = action()
        except counts:
            with self._lock:
                if self._since is None:
                    self._since = self.clock()
            raise
        with self._lock:
            self._since = None
        return result

    @property
    def lasted(self) -> float:
        """Seconds since the outage began; 0 when there is none."""
        with self._lock:
            return 0.0 if self._since is None else self.clock() - self._since

    @property
    def over(self) -> bool:
        """True once the outage has lasted long enough to give up."""
        with self._lock:
            return self._since is not None and self.clock() - self._since >= self.give_up_after

    def pauses(self) -> Iterator[float]:
        """Doubling pauses from `first` up to `ceiling`, none past the give-up moment."""
        delay = self.first
        while True:
            left = self.give_up_after - self.lasted
            if left <= 0:
                return
            yield min(delay, left)
            delay = min(delay * 2, self.ceiling)
