"""The sent ledger as one run uses it: look texts up while planning, claim them before sending.

A run with no ledger (a `--sandbox` run, or a dry run on a machine that never sent) gets a guard
that lets everything through and records nothing, so the sender need not ask which it has.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ..compose import Message
from ..state.fold import fold_alongside
from ..state.ledger import ACCEPTED, RELEASED, UNKNOWN, Ledger, Pair, digest
from ..states import BatchState
from .records import Draft

DEFAULT_DEDUPE = 24 * 3600.0


@dataclass(frozen=True)
class Claim:
    """A batch's claim: the draft that may go, the message ids another run has, and the
    ledger's record of the claim (None where no ledger is kept)."""

    draft: Draft
    taken: list[int]
    id: int | None


@dataclass
class LedgerGuard:
    """`window`: seconds a pair stays "already sent" (None: dedupe off, pairs are still
    recorded); `resend`: --resend-duplicates; `writes`: False for a dry run."""

    ledger: Ledger | None
    account: str | None
    owner: str
    run_key: str
    window: float | None
    resend: bool = False
    writes: bool = True

    def _since(self) -> float | None:
        if self.window is None or self.resend:
            return None
        return time.time() - self.window

    def already_sent(self, messages: list[Message]) -> set[int]:
        """Positions of the messages whose (number, text) the ledger has within the window."""
        since = self._since()
        if self.ledger is None or self.account is None or since is None:
            return set()
        pairs = [(number, digest(text)) for _where, number, text, _enc, _seg in messages]
        seen = self.ledger.seen(self.account, pairs, since, planning_for=self.owner)
        return {i for i, pair in enumerate(pairs) if pair in seen}

    def claim(self, draft: Draft) -> Claim:
        """Claim the draft's pairs: what may go, and the ids another run has."""
        if not self._recording():
            return Claim(draft, [], None)
        assert self.ledger is not None and self.account is not None
        pairs = _pairs(draft)
        claims = self.ledger.claim(
            self.account, pairs, owner=self.owner, run_key=self.run_key, since=self._since()
        )
        if not claims.taken_by_others:
            return Claim(draft, [], claims.id)
        taken = {i for i, pair in enumerate(pairs) if pair in claims.taken_by_others}
        return Claim(draft.without(taken), [draft.ids[i] for i in sorted(taken)], claims.id)

    def settle(self, claim: Claim, state: BatchState) -> None:
        """Record a batch's answer: what went stays, what certainly did not is released."""
        if self.ledger is not None and claim.id is not None:
            entry = {BatchState.SENT: ACCEPTED, BatchState.REJECTED: RELEASED}.get(state, UNKNOWN)
            self.ledger.settle(claim.id, entry)

    def release(self, claim: Claim) -> None:
        """Give back the claim of a batch that was never opened (the run stopped first)."""
        if self.ledger is not None and claim.id is not None:
            self.ledger.settle(claim.id, RELEASED)

    @contextlib.contextmanager
    def folding(self, overlapped: bool) -> Iterator[None]:
        """Fold the pending claims into the ledger's index (see `Ledger.fold`) while the block
        runs, which must not use the ledger: after a send, while its reports are read, so that
        neither waits for the other (`overlapped`: the block reads them; see `state.fold`). A
        send that stopped leaves its claims in flight pending, held as firmly, for a later
        fold."""
        if not self._recording():
            yield
            return
        assert self.ledger is not None
        fold_done = fold_alongside(self.ledger, overlapped)
        try:
            yield
        finally:
            fold_done()

    def _recording(self) -> bool:
        return self.writes and self.ledger is not None and self.account is not None


def _pairs(draft: Draft) -> list[Pair]:
    return [(number, digest(text)) for number, text in zip(draft.numbers, draft.texts, strict=True)]
