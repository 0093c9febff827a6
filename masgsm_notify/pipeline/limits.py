"""Spending and pace: `send.max_credits` and `send.rate`.

`max_credits` caps what one run key may spend over all its attempts. A plan whose texts to send
cost more is refused before anything is sent; and since a resume may find credits already spent
(or perhaps spent: a batch whose answer was lost, sent again with `--resend-unknown`), the cap
is checked again before each batch, counting every batch that went or may have gone.

`rate` caps texts per second across every batch and worker. Each batch is given its share of
time (its texts / rate) and leaves when that share has passed, so at any moment t seconds into
sending at most `rate` x t texts have left; time lost to retries or a slow provider is not saved
up for a burst. Batches are made no larger than `rate` texts, so no single request holds more
than a second's worth.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..errors import SpendingLimitError


def over_budget(credits: int, limit: int | None) -> SpendingLimitError | None:
    """The refusal of a plan whose texts to send cost more than `send.max_credits`."""
    if limit is None or credits <= limit:
        return None
    return SpendingLimitError(
        f"The plan needs {credits:,} credits to send but send.max_credits is {limit:,}; "
        "nothing was sent. Raise send.max_credits (editing send: keeps the run key), or send "
        "to fewer recipients."
    )


class SpendingCap:
    """The credits a run has spent, or may have, against its `send.max_credits`."""

    def __init__(self, limit: int | None, spent: int):
        self.limit = limit
        self.spent = spent

    def refuse(self, credits: int) -> SpendingLimitError | None:
        """Why a batch of `credits` may not leave, or None when it may."""
        if self.limit is None or self.spent + credits <= self.limit:
            return None
        return SpendingLimitError(
            f"The next batch needs {credits:,} credits, and this run has spent (or may have "
            f"spent) {self.spent:,} of its send.max_credits {self.limit:,}: it stopped before "
            "that batch. Raise send.max_credits (editing send: keeps the run key) to send "
            "the rest."
        )

    def take(self, credits: int) -> None:
        self.spent += credits

    def give_back(self, credits: int) -> None:
        """A batch that certainly did not go (refused, or never reached MASGSM)."""
        self.spent -= credits


def paced_batch_size(batch_size: int, rate: float | None) -> int:
    """`send.batch_size`, cut to a second's worth of texts when a rate is set."""
    return batch_size if rate is None else max(1, min(batch_size, int(rate)))


class Pace:
    """At most `rate` texts per second, from the first batch on (see the module's text)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.clock = clock
        self._due: float | None = None  # when the share of time given out so far ends

    def wait(self, texts: int, stopping: threading.Event) -> bool:
        """Wait until `texts` more may leave; False if `stopping` was set first."""
        if self.rate is None:
            return not stopping.is_set()
        now = self.clock()
        start = now if self._due is None else max(now, self._due)
        self._due = start + texts / self.rate
        return not stopping.wait(max(0.0, self._due - now))
