"""Sending: type-1 batches from the journal, several requests in flight, each journaled first.

The journal and the ledger are only touched from the calling thread; worker threads only post.
A batch's pairs are claimed in the sent ledger and the batch is committed as in flight before its
request is handed to a worker, and its answer is committed when the worker returns. Faults that
cannot have reached the provider are retried with backoff inside the worker, until the run's
outage clock gives up on MASGSM (`patience.py`); a fault after the request left makes the batch
unknown, never silently re-sent.

Sending stops early on an answer that dooms the rest, at the spending cap, when MASGSM has been
unreachable too long, and when asked to (`BatchSender.stopping`: SIGINT or SIGTERM). Whatever
stops it, no new batch leaves, the batches already out are waited for and their answers
recorded, and the rest stays sendable for a resume. An answer that cannot be recorded (a full
disk) leaves its batch in flight in the journal, which a resume counts as unknown.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice

from ..client import MasgsmClient, PreparedSend
from ..errors import (
    CredentialsError,
    InsufficientBalanceError,
    MasgsmError,
    OutcomeUnknownError,
    SafeToRetryError,
    StorageError,
    TitleError,
    UnexpectedAnswerError,
)
from ..retry import retry
from ..states import BatchState, MessageState
from .ledger_guard import Claim, LedgerGuard
from .limits import Pace, SpendingCap
from .patience import Patience
from .records import RunRecords

# Batches claimed and encoded ahead while requests are out.
READY_AHEAD = 2

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

    state: BatchState
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
    already_sent: int = 0  # messages another run claimed in the ledger meanwhile
    stop: MasgsmError | None = None


@dataclass(frozen=True)
class SendSettings:
    """How to send: the batch shape, the sender ID and language, the hooks around a batch, the
    pace and the spending cap."""

    batch_size: int
    concurrency: int
    title: str | None
    lang: str
    before: Callable[[Batch], None]
    after: Callable[[Batch, Outcome], None]
    pace: Pace = field(default_factory=lambda: Pace(None))
    cap: SpendingCap = field(default_factory=lambda: SpendingCap(None, 0))
    # Asked before each batch leaves: an error stops the run there (the send window closed).
    may_continue: Callable[[], MasgsmError | None] = lambda: None


class BatchSender:
    """Posts batches with retries; owns the client, the run's patience and the stop signal."""

    def __init__(self, client: MasgsmClient, retries: int, patience: Patience):
        self.client = client
        self.retries = retries
        self.patience = patience
        self.stopping = threading.Event()

    def post(self, prepared: PreparedSend) -> Outcome:
        outage = self.patience.outage
        try:
            result = retry(
                lambda: outage.attempt(lambda: self.client.submit(prepared), SafeToRetryError),
                worth_retrying=lambda error: isinstance(error, SafeToRetryError),
                pauses=islice(outage.pauses(), self.retries),
                pause=self.stopping.wait,
                on_retry=self.patience.on_retry,
            )
        except SafeToRetryError as error:
            if outage.over:  # MASGSM is gone: every other worker stops retrying too
                self.stopping.set()
                return Outcome(
                    BatchState.REJECTED, error=str(error), stop=self.patience.given_up(error)
                )
            return Outcome(BatchState.REJECTED, error=str(error))
        except (OutcomeUnknownError, UnexpectedAnswerError) as error:
            # An answer that cannot be read may still mean the send happened.
            return Outcome(BatchState.UNKNOWN, error=str(error))
        except MasgsmError as error:
            stop = error if isinstance(error, STOPPING_ERRORS) else None
            return Outcome(BatchState.REJECTED, code=error.code, error=str(error), stop=stop)
        state = BatchState.PARTIAL if result.partial else BatchState.SENT
        return Outcome(state, result.message_id, result.code)


def send_all(
    records: RunRecords, sender: BatchSender, settings: SendSettings, guard: LedgerGuard
) -> SendTotals:
    """Send every sendable message of the run, unless something stops it (see the module)."""
    dispatch = _Dispatch(records, sender, settings, guard)
    with ThreadPoolExecutor(
        max_workers=settings.concurrency, thread_name_prefix="masgsm-send"
    ) as pool:
        try:
            while True:
                while dispatch.may_launch():
                    if not dispatch.launch(pool):
                        break
                if not dispatch.in_flight:
                    break
                dispatch.prepare_next()  # claim and encode the next batch while these are out
                done, _ = wait(dispatch.in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    dispatch.settle(future)
        except BaseException as error:
            sender.stopping.set()
            dispatch.wind_down(error)
            raise
        dispatch.give_back()
    records.forget_wire()
    return dispatch.totals


class _Dispatch:
    """The state of one sending pass: the next prepared batch, the batches out, the totals."""

    def __init__(
        self, records: RunRecords, sender: BatchSender, settings: SendSettings, guard: LedgerGuard
    ):
        self.records, self.sender, self.settings, self.guard = records, sender, settings, guard
        self.drafts = records.drafts(settings.batch_size)
        # Claimed and encoded, not yet journaled: a few, so that answers arriving together
        # are each followed by a request at once.
        self.ready: collections.deque[tuple[Claim, PreparedSend]] = collections.deque()
        self.in_flight: dict[Future[Outcome], tuple[Batch, Claim]] = {}
        self.unrecorded: list[tuple[Batch, Outcome]] = []  # answers the journal did not take
        self.totals = SendTotals()

    def may_launch(self) -> bool:
        return (
            self.totals.stop is None
            and not self.sender.stopping.is_set()
            and len(self.in_flight) < self.settings.concurrency
        )

    def prepare_next(self, ahead: int = READY_AHEAD) -> None:
        """Claim and encode drafts until `ahead` are ready; the journal is not touched."""
        while (
            len(self.ready) < ahead
            and self.totals.stop is None
            and not self.sender.stopping.is_set()
        ):
            draft = next(self.drafts, None)
            if draft is None:
                return
            claim = self.guard.claim(draft)
            with self._given_back_on_error(claim):
                if claim.taken:
                    self.records.set_aside(claim.taken, MessageState.ALREADY_SENT)
                    self.totals.already_sent += len(claim.taken)
                if not claim.draft.ids:
                    self.guard.release(claim)
                    continue
                prepared = self.sender.client.prepare_personalised(
                    claim.draft.numbers,
                    claim.draft.texts,
                    title=self.settings.title,
                    lang=self.settings.lang,
                    escaped=claim.draft.wire,
                )
            self.ready.append((claim, prepared))

    @contextlib.contextmanager
    def _given_back_on_error(self, claim: Claim) -> Iterator[None]:
        """A claimed draft that cannot be made ready (its set-aside not written, its body not
        encoded) never goes: its pairs are given back to other runs, and a ledger error while
        doing so does not hide the first error."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(StorageError):
                self.guard.release(claim)
            raise

    def launch(self, pool: ThreadPoolExecutor) -> bool:
        """Journal the next batch as in flight and hand it to a worker, once the spending cap
        and the pace allow; False when none is left or sending must stop."""
        stop = self.settings.may_continue()
        if stop is not None:
            self.totals.stop = stop
            return False
        self.prepare_next(ahead=1)
        if not self.ready:
            return False
        claim, prepared = self.ready[0]
        draft = claim.draft
        refusal = self.settings.cap.refuse(draft.credits)
        if refusal is not None:
            self.totals.stop = refusal
            return False
        if not self.settings.pace.wait(len(draft.ids), self.sender.stopping):
            return False
        batch = Batch(self.records.open_batch(draft), draft.numbers, draft.texts, draft.credits)
        self.ready.popleft()  # journaled: from now on its claims are settled, never given back
        self.settings.cap.take(batch.credits)
        try:
            self.settings.before(batch)
        except MasgsmError as error:  # a hook refused: this batch and the rest stay unsent
            self._close(batch, claim, Outcome(BatchState.REJECTED, error=str(error)))
            self.totals.stop = error
            return False
        except BaseException:
            self._close(batch, claim, Outcome(BatchState.REJECTED, error="stopped before sending"))
            raise
        self.in_flight[pool.submit(self.sender.post, prepared)] = (batch, claim)
        return True

    def settle(self, future: Future[Outcome], quietly: bool = False) -> None:
        """Journal a batch's answer; note an answer that must stop the run."""
        batch, claim = self.in_flight.pop(future)
        outcome = future.result()
        self._close(batch, claim, outcome)
        if quietly:
            return
        self.totals.batches += 1
        if outcome.state == BatchState.SENT:
            self.totals.accepted += len(batch.numbers)
        elif outcome.state == BatchState.PARTIAL:
            self.totals.partial += 1
        if self.totals.stop is None:
            if outcome.stop is not None:
                self.totals.stop = outcome.stop
            elif outcome.state == BatchState.PARTIAL:
                self.totals.stop = InsufficientBalanceError(
                    "The balance ran out part-way (answer 3); the rest was not sent.", code=3
                )
        self.settings.after(batch, outcome)

    def give_back(self) -> None:
        """Release the ledger claims of the prepared batches that never left: each one tried,
        the first failure raised after."""
        failure: StorageError | None = None
        while self.ready:
            try:
                self.guard.release(self.ready.popleft()[0])
            except StorageError as error:
                failure = failure or error
        if failure is not None:
            raise failure

    def wind_down(self, error: BaseException) -> None:
        """After `error` stopped the loop: wait for the batches still out and record their
        answers unless the journal is what failed (another write would fail, or wait, the same
        way), release what never left, and say in a storage error what could not be recorded."""
        try:
            self._record_the_rest(error)
        finally:  # whatever happens there, what never left is given back
            with contextlib.suppress(StorageError):
                self.give_back()
        if isinstance(error, StorageError) and self.unrecorded:
            messages = sum(len(batch.numbers) for batch, _ in self.unrecorded)
            accepted = sum(
                len(batch.numbers)
                for batch, outcome in self.unrecorded
                if outcome.state in (BatchState.SENT, BatchState.PARTIAL)
            )
            error.message += (
                f" MASGSM answered {len(self.unrecorded):,} batch(es) ({messages:,} message(s), "
                f"{accepted:,} accepted) whose answers could not be written: they stay in flight "
                "in the journal, and a resume counts them as unknown (never sent again unless "
                "you pass --resend-unknown)."
            )

    def _record_the_rest(self, error: BaseException) -> None:
        """Wait for the batches still out and record their answers, unless the journal is what
        failed."""
        journal = str(self.records.journal.path)
        broken = isinstance(error, StorageError) and error.path == journal
        for future in list(self.in_flight):
            if broken:
                batch, _ = self.in_flight.pop(future)
                self.unrecorded.append((batch, future.result()))
                continue
            try:
                self.settle(future, quietly=True)
            except StorageError as failure:
                broken = failure.path == journal
        if not broken:  # the journal says of a stopped run what went, without its reports
            with contextlib.suppress(StorageError):
                self.records.settle_answered()

    def _close(self, batch: Batch, claim: Claim, outcome: Outcome) -> None:
        try:
            self.records.close_batch(
                batch.id, outcome.state, outcome.message_id, outcome.code, outcome.error
            )
        except StorageError:
            self.unrecorded.append((batch, outcome))
            raise
        if outcome.state == BatchState.REJECTED:
            self.settings.cap.give_back(batch.credits)
        self.guard.settle(claim, outcome.state)
