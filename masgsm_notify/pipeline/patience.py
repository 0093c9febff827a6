"""How long a run waits for MASGSM, and what a person is told while it does.

Every request of a run, the pre-flight reads and each batch's send alike, shares one outage
clock (`retry.Outage`): after `send.give_up_after` seconds (60 by default) of failures in a row
that cannot have reached the provider, the run gives up, whichever request met them. While it
retries, a line on standard error says where MASGSM is unreachable, why, and when the run will
give up, at most every few seconds however many workers are retrying.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import ProviderDownError, SafeToRetryError, TransportError
from ..retry import Outage, retry

T = TypeVar("T")
NOTICE_EVERY = 5.0  # seconds between two "retrying" lines


class Patience:
    """One run's outage clock, its retry line, and the reads that retry against it."""

    def __init__(self, give_up_after: float, say: Callable[[str], None]):
        self.outage = Outage(give_up_after)
        self.say = say
        self._said_at: float | None = None
        self._lock = threading.Lock()

    def on_retry(self, error: Exception, delay: float) -> None:
        """Tell a person that a request is retried, unless another line said so just now."""
        now = time.monotonic()
        with self._lock:
            if self._said_at is not None and now - self._said_at < NOTICE_EVERY:
                return
            self._said_at = now
        self.say(
            f"{_unreachable(error)}; retrying in {round(delay, 1):g} s; giving up at "
            f"{self.outage.give_up_after:g} s."
        )

    def read(self, fetch: Callable[[], T]) -> T:
        """A read-only request (balance, titles): repeating it is always safe, so any transport
        failure is retried until the outage has lasted too long."""
        try:
            return retry(
                lambda: self.outage.attempt(fetch, TransportError),
                worth_retrying=lambda error: isinstance(error, TransportError),
                pauses=self.outage.pauses(),
                on_retry=self.on_retry,
            )
        except TransportError as error:
            if self.outage.over:
                raise self.given_up(error) from None
            raise

    def given_up(self, error: Exception) -> ProviderDownError:
        return ProviderDownError(
            f"{_unreachable(error)} for {self.outage.lasted:.0f} s, so the run gave up "
            f"(send.give_up_after: {self.outage.give_up_after:g}s)."
        )


def _unreachable(error: Exception) -> str:
    if isinstance(error, SafeToRetryError) and error.where:
        return f"MASGSM unreachable at {error.where} ({error.reason})"
    return f"MASGSM not answering ({error})"
