"""Trying again: one loop for every request or lock that may succeed a moment later.

Reads (balance, titles, reports) are retried because repeating them is harmless; sends only when
the provider cannot have acted (`SafeToRetryError`); opening a journal while another process is
creating it is polled. Each caller says what is worth another try and how long to wait between
tries; the loop itself is the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def backoff(tries: int, first: float = 0.5, ceiling: float = 8.0) -> Iterator[float]:
    """The pauses before each of `tries` further tries: doubling from `first` up to `ceiling`."""
    delay = first
    for _ in range(tries):
        yield delay
        delay = min(delay * 2, ceiling)


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
