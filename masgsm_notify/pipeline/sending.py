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
    UnexpectedAnswerError,
)
from .journal import Chunk, Journal, RunRecord

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
    """What one sending pass did: batches answered, messages accepted, and why it stopped."""

    batches: int = 0
    accepted: int = 0  # in batches answered 1 (a partial batch's share is known from its report)
    partial: int = 0  # batches answered 3
    stop: MasgsmError | None = None


@dataclass(frozen=True)
class SendPlan:
    """How to send: the batch shape, the sender ID and language, and the hooks around a batch."""

    batch_size: int
    concurrency: int
    title: str | None
    lang: str
    before: Callable[[Batch], None]
    after: Callable[[Batch, Outcome], None]


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
            except (OutcomeUnknownError, UnexpectedAnswerError) as error:
                # An answer that cannot be read may still mean the send happened.
                return Outcome("unknown", error=str(error))
            except MasgsmError as error:
                stop = error if isinstance(error, STOPPING_ERRORS) else None
                return Outcome("rejected", code=error.code, error=str(error), stop=stop)
            state = "partial" if result.partial else "sent"
            return Outcome(state, result.message_id, result.code)
        raise AssertionError("unreachable: the loop always returns")


def send_all(journal: Journal, run: RunRecord, sender: BatchSender, plan: SendPlan) -> SendTotals:
    """Send every sendable message of the run; stop early on an answer that dooms the rest."""
    dispatch = _Dispatch(journal, run, sender, plan)
    with ThreadPoolExecutor(max_workers=plan.concurrency, thread_name_prefix="masgsm-send") as pool:
        try:
            while True:
                while dispatch.totals.stop is None and len(dispatch.in_flight) < plan.concurrency:
                    if not dispatch.launch(pool):
                        break
                if not dispatch.in_flight:
                    break
                dispatch.prepare_next()  # encode the next batch while these are out
                done, _ = wait(dispatch.in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    dispatch.settle(future)
        finally:
            sender.stopping.set()
            for future in list(dispatch.in_flight):
                dispatch.settle(future, quietly=True)
    return dispatch.totals


class _Dispatch:
    """The state of one sending pass: the next prepared batch, the batches out, the totals."""

    def __init__(self, journal: Journal, run: RunRecord, sender: BatchSender, plan: SendPlan):
        self.journal, self.run, self.sender, self.plan = journal, run, sender, plan
        self.chunks = journal.chunks(run, plan.batch_size)
        self.ready: tuple[Chunk, PreparedSend] | None = None
        self.in_flight: dict[Future[Outcome], Batch] = {}
        self.totals = SendTotals()

    def prepare_next(self) -> None:
        """Read and encode the next chunk, if not done yet; nothing is journaled for it."""
        if self.ready is None and self.totals.stop is None:
            chunk = next(self.chunks, None)
            if chunk is not None:
                prepared = self.sender.client.prepare_personalised(
                    chunk.numbers, chunk.texts, title=self.plan.title, lang=self.plan.lang
                )
                self.ready = (chunk, prepared)

    def launch(self, pool: ThreadPoolExecutor) -> bool:
        """Journal the next batch as in flight and hand it to a worker; False when none is left."""
        self.prepare_next()
        if self.ready is None:
            return False
        (chunk, prepared), self.ready = self.ready, None
        batch = Batch(
            self.journal.open_batch(self.run, chunk), chunk.numbers, chunk.texts, chunk.credits
        )
        try:
            self.plan.before(batch)
        except MasgsmError as error:  # a hook refused: this batch and the rest stay unsent
            self.journal.close_batch(batch.id, "rejected", error=str(error))
            self.totals.stop = error
            return False
        except BaseException:
            self.journal.close_batch(batch.id, "rejected", error="stopped before sending")
            raise
        self.in_flight[pool.submit(self.sender.post, prepared)] = batch
        return True

    def settle(self, future: Future[Outcome], quietly: bool = False) -> None:
        """Journal a batch's answer; note an answer that must stop the run."""
        batch = self.in_flight.pop(future)
        outcome = future.result()
        self.journal.close_batch(
            batch.id, outcome.state, outcome.message_id, outcome.code, outcome.error
        )
        if quietly:
            return
        self.totals.batches += 1
        if outcome.state == "sent":
            self.totals.accepted += len(batch.numbers)
        elif outcome.state == "partial":
            self.totals.partial += 1
        if self.totals.stop is None:
            if outcome.stop is not None:
                self.totals.stop = outcome.stop
            elif outcome.state == "partial":
                self.totals.stop = InsufficientBalanceError(
                    "The balance ran out part-way (answer 3); the rest was not sent.", code=3
                )
        self.plan.after(batch, outcome)
