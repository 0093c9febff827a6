"""Group commit: every payload that arrives while one transaction is being written goes into the
next one, so under load many answers share one commit (and, with --fsync, one disk flush).

Request threads hand their payload over and wait; one committer thread writes. A payload is
answered 202 only after the transaction holding it committed; if the write fails, every payload
of that group is answered 503 and the sender tries again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import MasgsmError
from .queue import Arrival, QueueStore

log = logging.getLogger(__name__)

GROUP_LIMIT = 256  # payloads in one transaction at most


class StoreUnavailable(Exception):
    """The queue could not store the payload (disk full, database locked, shutting down)."""


@dataclass
class _Pending:
    arrival: Arrival
    done: threading.Event = field(default_factory=threading.Event)
    answer: tuple[str, int] | None = None
    error: str | None = None


class Intake:
    """Commits arrivals to the queue in groups, from one thread."""

    def __init__(
        self,
        queue: QueueStore,
        window: float,
        fsync: bool = False,
        accepted: Callable[[str], None] = lambda pipeline: None,
    ):
        self.queue = queue
        self.window = window
        self.fsync = fsync
        self.accepted = accepted  # told of each pipeline that got a new payload
        self.healthy = True  # False from a failed write until one succeeds
        self._pending: list[_Pending] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="masgsm-intake", daemon=True)
        self._thread.start()

    def submit(self, arrival: Arrival, timeout: float = 30.0) -> tuple[str, int]:
        """("accepted" | "duplicate", payload id), once committed; StoreUnavailable if not."""
        pending = _Pending(arrival)
        with self._cond:
            if self._closed:
                raise StoreUnavailable("the server is stopping")
            self._pending.append(pending)
            self._cond.notify()
        if not pending.done.wait(timeout):
            raise StoreUnavailable("the queue did not answer in time")
        if pending.answer is None:
            raise StoreUnavailable(pending.error or "the payload was not stored")
        return pending.answer

    def close(self) -> None:
        """Refuse new payloads; those already handed over are still committed."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                group = self._pending[:GROUP_LIMIT]
                del self._pending[:GROUP_LIMIT]
            self._commit(group)

    def _commit(self, group: list[_Pending]) -> None:
        try:
            answers = self.queue.accept([p.arrival for p in group], self.window, sync=self.fsync)
        except (sqlite3.Error, MasgsmError, OSError) as error:
            self.healthy = False
            log.error("Could not store %d payload(s), answered 503: %s", len(group), error)
            for pending in group:
                pending.error = f"the queue could not store it: {error}"
                pending.done.set()
            return
        self.healthy = True
        for pending, answer in zip(group, answers, strict=True):
            pending.answer = answer
            pending.done.set()
        woken = {
            p.arrival.pipeline
            for p, (status, _) in zip(group, answers, strict=True)
            if status == "accepted"
        }
        for pipeline in woken:
            self.accepted(pipeline)
