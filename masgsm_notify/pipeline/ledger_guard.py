"""The sent ledger as one run uses it: look texts up while planning, claim them before sending.

A run with no ledger (a `--sandbox` run, or a dry run on a machine that never sent) gets a guard
that lets everything through and records nothing, so the sender need not ask which it has.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..compose import Message
from ..state.ledger import ACCEPTED, UNKNOWN, Ledger, Pair, digest
from ..states import BatchState
from .records import Draft

DEFAULT_DEDUPE = 24 * 3600.0


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
        seen = self.ledger.seen(self.account, pairs, since)
        return {i for i, pair in enumerate(pairs) if pair in seen}

    def claim(self, draft: Draft) -> tuple[Draft, list[int]]:
        """Claim the draft's pairs; return what may go and the ids another run has."""
        if not self._recording():
            return draft, []
        assert self.ledger is not None and self.account is not None
        claims = self.ledger.claim(
            self.account,
            _pairs(draft),
            owner=self.owner,
            run_key=self.run_key,
            since=self._since(),
        )
        if not claims.taken_by_others:
            return draft, []
        taken = {i for i, pair in enumerate(_pairs(draft)) if pair in claims.taken_by_others}
        return draft.without(taken), [draft.ids[i] for i in sorted(taken)]

    def settle(self, draft: Draft, state: BatchState) -> None:
        """Record a batch's answer: what went stays, what certainly did not is released."""
        if not self._recording():
            return
        assert self.ledger is not None and self.account is not None
        if state == BatchState.REJECTED:
            self.ledger.release(self.account, _pairs(draft), self.owner)
        else:
            entry = ACCEPTED if state == BatchState.SENT else UNKNOWN
            self.ledger.settle(self.account, _pairs(draft), self.owner, entry)

    def release(self, draft: Draft) -> None:
        """Give back claims of a batch that was never opened (the run stopped first)."""
        if self._recording():
            assert self.ledger is not None and self.account is not None
            self.ledger.release(self.account, _pairs(draft), self.owner)

    def _recording(self) -> bool:
        return self.writes and self.ledger is not None and self.account is not None


def _pairs(draft: Draft) -> list[Pair]:
    return [(number, digest(text)) for number, text in zip(draft.numbers, draft.texts, strict=True)]
