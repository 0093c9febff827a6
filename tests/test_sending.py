"""The sending core on its own: batches from a journal to a sandbox, with no runner around it,
and the sent ledger's claims as it leaves them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.journal import planned_run
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER, accepted

from masgsm_notify import MasgsmClient
from masgsm_notify.errors import MasgsmError, UsageError
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.pipeline.ledger_guard import LedgerGuard
from masgsm_notify.pipeline.patience import Patience
from masgsm_notify.pipeline.sending import BatchSender, SendSettings, SendTotals, send_all
from masgsm_notify.sandbox import SandboxServer
from masgsm_notify.state.ledger import ACCEPTED, CLAIMED, RELEASED, Ledger, account_key
from masgsm_notify.states import BatchState

MESSAGES = [(f"p.csv:{i + 2}", f"53211122{i:02d}", f"Merhaba {i}") for i in range(7)]


def _send(
    tmp_path: Path,
    client: MasgsmClient,
    seen: list,
    batch_size: int = 3,
    may_continue: Callable[[], MasgsmError | None] = lambda: None,
) -> SendTotals:
    """Send MESSAGES in batches of 3, two at a time, claiming them in a ledger in tmp_path."""
    with Journal(tmp_path / "j.sqlite") as journal, Ledger(tmp_path / "l.sqlite") as ledger:
        journal.lock()
        records = planned_run(journal, MESSAGES)
        settings = SendSettings(
            batch_size=batch_size,
            concurrency=2,
            title=None,
            lang="auto",
            before=lambda batch: None,
            after=lambda batch, outcome: seen.append((batch.numbers, outcome)),
            may_continue=may_continue,
        )
        account = account_key(client.base_url, SANDBOX_USER)
        guard = LedgerGuard(ledger, account, "owner", "k", 3600.0)
        return send_all(records, BatchSender(client, 0, Patience(5, print)), settings, guard)


def _claims(tmp_path: Path) -> list[str]:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        return [state for (state,) in ledger.db.execute("SELECT state FROM claims ORDER BY id")]


def test_every_batch_is_claimed_sent_and_settled(tmp_path, sandbox: SandboxServer):
    seen: list = []
    with MasgsmClient(
        SANDBOX_USER, SANDBOX_PASSWORD, title="MASGSMTEST", base_url=sandbox.base_url
    ) as client:
        totals = _send(tmp_path, client, seen)
    assert totals.stop is None and totals.batches == 3 and totals.accepted == 7
    assert [outcome.state for _, outcome in seen] == [BatchState.SENT] * 3
    assert accepted(sandbox) == {(number, text): 1 for _, number, text in MESSAGES}
    assert _claims(tmp_path) == [ACCEPTED] * 3


def test_a_batch_that_cannot_be_encoded_is_not_sent_and_its_claim_is_released(
    tmp_path, sandbox: SandboxServer, monkeypatch
):
    """No title anywhere: the first batch fails as it is encoded, after its ledger claim; the
    error stops the sending, nothing reaches the provider, and no pair stays claimed."""
    monkeypatch.delenv("MASGSM_TITLE", raising=False)
    seen: list = []
    client = MasgsmClient(SANDBOX_USER, SANDBOX_PASSWORD, base_url=sandbox.base_url)
    with client, pytest.raises(UsageError, match="No title"):
        _send(tmp_path, client, seen)
    assert seen == [] and accepted(sandbox) == {}
    assert _claims(tmp_path) == [RELEASED]


def test_a_stop_gives_back_every_batch_claimed_ahead(tmp_path, sandbox: SandboxServer):
    """Batches are claimed and encoded a few ahead while requests are out; when sending stops
    (here the send window closes after two batches), those that never left are released in
    the ledger, and no pair stays claimed."""
    seen: list = []
    asked: list[int] = []

    def window() -> MasgsmError | None:
        asked.append(1)
        return MasgsmError("the send window closed") if len(asked) > 2 else None

    with MasgsmClient(
        SANDBOX_USER, SANDBOX_PASSWORD, title="MASGSMTEST", base_url=sandbox.base_url
    ) as client:
        totals = _send(tmp_path, client, seen, batch_size=1, may_continue=window)
    assert isinstance(totals.stop, MasgsmError) and totals.batches == 2
    assert len(accepted(sandbox)) == 2
    claims = _claims(tmp_path)
    assert claims[:2] == [ACCEPTED, ACCEPTED]
    assert len(claims) >= 4, "two batches were claimed ahead of the stop"
    assert CLAIMED not in claims and set(claims[2:]) == {RELEASED}
