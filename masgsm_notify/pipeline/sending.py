"""Sending: type-1 batches from the journal, several requests in flight, each journaled first.

The journal is only touched from the calling thread; worker threads only post. A batch is
committed as in flight before its request is handed to a worker, and its answer is committed when
the worker returns. Faults that cannot have reached the provider are retried with backoff inside
the worker; a fault after the request left makes the batch unknown, never silently re-sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from ..client import MasgsmClient, PreparedSend
from ..errors import (
    CredentialsError,
    InsufficientBalanceError,
    MasgsmError,
    OutcomeUnknownError,
    SafeToRetryError,
    TitleError,
)
from .journal import Journal, RunRecord

# Answers after which no other batch can succeed: stop sending, keep the rest for a re-run.
STOPPING_ERRORS = (CredentialsError, TitleError, InsufficientBalanceError)


@dataclass(frozen=True)
class Batch:
    """What hooks see of a batch about to leave."""

    id: int
    numbers: list[str]
    texts: list[str]
    credits: int


@dataclass(frozen=True)
class Outcome:
    """A batch's answer. `state`: sent, partial, rejected (nothing sent) or unknown."""

    state: str
    message_id: str | None = None
    code: int | None = None
    error: str | None = None
    stop: MasgsmError | None = None


@dataclass
class SendTotals:
    batches: int = 0
    messages: int = 0
    stop: MasgsmError | None = None


class BatchSender:
    """Posts batches with retries; owns nothing but the client and the stop signal."""

    def __init__(self, client: MasgsmClient, retries: int, backoff: float = 0.5):
        self.client = client
        self.retries = retries
        self.backoff = backoff
        self.stopping = threading.Event()

    def post(self, prepared: PreparedSend) -> Outcome:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                result = self.client.submit(prepared)
            except SafeToRetryError as error:
                if attempt == self.retries or self.stopping.wait(delay):
                    return Outcome("rejected", error=str(error))
                delay = min(delay * 2, 8.0)
                continue
            except OutcomeUnknownError as error:
                return Outcome("unknown", error=str(error))
            except MasgsmError as error:
                stop = error if isinstance(error, STOPPING_ERRORS) else None
                return Outcome("rejected", code=error.code, error=str(error), stop=stop)
            state = "partial" if result.partial else "sent"
            return Outcome(state, result.message_id, result.code)
        raise AssertionError("unreachable: the loop always returns")


def send_all(
    journal: Journal,
    run: RunRecord,
    sender: BatchSender,
    *,
    batch_size: int,
    concurrency: int,
    title: str,
    lang: str,
    before: Callable[[Batch], None],
    after: Callable[[Batch, Outcome], None],
) -> SendTotals:
    """Send every sendable message of the run; stop early on an answer that dooms the rest."""
    totals = SendTotals()
    chunks = journal.chunks(run, batch_size)
    in_flight: dict[Future[Outcome], Batch] = {}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="masgsm-send") as pool:
        try:
            while True:
                while totals.stop is None and len(in_flight) < concurrency:
                    chunk = next(chunks, None)
                    if chunk is None:
                        break
                    batch = Batch(
                        journal.open_batch(run, chunk), chunk.numbers, chunk.texts, chunk.credits
                    )
                    try:
                        before(batch)
                        prepared = sender.client.prepare_personalised(
                            batch.numbers, batch.texts, title=title, lang=lang
                        )
                    except BaseException:
                        journal.close_batch(batch.id, "rejected", error="stopped before sending")
                        raise
                    in_flight[pool.submit(sender.post, prepared)] = batch
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = in_flight.pop(future)
                    outcome = future.result()
                    journal.close_batch(
                        batch.id, outcome.state, outcome.message_id, outcome.code, outcome.error
                    )
                    totals.batches += 1
                    totals.messages += len(batch.numbers)
                    if outcome.stop is not None and totals.stop is None:
                        totals.stop = outcome.stop
                    if outcome.state == "partial" and totals.stop is None:
                        totals.stop = InsufficientBalanceError(
                            "The balance ran out part-way (answer 3); the rest was not sent.",
                            code=3,
                        )
                    after(batch, outcome)
        finally:
            sender.stopping.set()
            for future, batch in in_flight.items():
                outcome = future.result()
                journal.close_batch(
                    batch.id, outcome.state, outcome.message_id, outcome.code, outcome.error
                )
    return totals
