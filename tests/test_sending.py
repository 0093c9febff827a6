"""The sending core on its own: batches from a journal to a sandbox, with no runner around it."""

from __future__ import annotations

from pathlib import Path

from helpers.journal import planned_run
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER, accepted

from masgsm_notify import MasgsmClient
from masgsm_notify.errors import UsageError
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.pipeline.ledger_guard import LedgerGuard
from masgsm_notify.pipeline.patience import Patience
from masgsm_notify.pipeline.sending import BatchSender, SendSettings, send_all
from masgsm_notify.sandbox import SandboxServer
from masgsm_notify.states import BatchState

MESSAGES = [(f"p.csv:{i + 2}", f"53211122{i:02d}", f"Merhaba {i}") for i in range(7)]


def _send(tmp_path: Path, client: MasgsmClient, seen: list) -> tuple:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.lock()
        records = planned_run(journal, MESSAGES)
        settings = SendSettings(
            batch_size=3,
            concurrency=2,
            title=None,
            lang="auto",
            before=lambda batch: None,
            after=lambda batch, outcome: seen.append((batch.numbers, outcome)),
        )
        guard = LedgerGuard(None, None, "owner", "k", None)
        totals = send_all(records, BatchSender(client, 0, Patience(5, print)), settings, guard)
        tally = records.tally()
        states = {group.state: tally.messages([group.state]) for group in tally.groups}
        return totals, records.batch_counts(), states


def test_batches_are_encoded_and_sent_from_the_worker_threads(tmp_path, sandbox: SandboxServer):
    seen: list = []
    with MasgsmClient(
        SANDBOX_USER, SANDBOX_PASSWORD, title="MASGSMTEST", base_url=sandbox.base_url
    ) as client:
        totals, batches, states = _send(tmp_path, client, seen)
    assert totals.stop is None and totals.batches == 3 and totals.accepted == 7
    assert batches == {BatchState.SENT: 3}
    assert sorted(number for numbers, _ in seen for number in numbers) == sorted(
        number for _, number, _ in MESSAGES
    )
    assert accepted(sandbox) == {(number, text): 1 for _, number, text in MESSAGES}
    assert states == {"sent": 7}


def test_a_batch_that_cannot_be_encoded_is_rejected_and_stops_the_sending(
    tmp_path, sandbox: SandboxServer, monkeypatch
):
    monkeypatch.delenv("MASGSM_TITLE", raising=False)
    seen: list = []
    with MasgsmClient(SANDBOX_USER, SANDBOX_PASSWORD, base_url=sandbox.base_url) as client:
        totals, batches, states = _send(tmp_path, client, seen)
    assert isinstance(totals.stop, UsageError) and "No title" in str(totals.stop)
    assert all(outcome.state == BatchState.REJECTED for _, outcome in seen)
    assert batches == {BatchState.REJECTED: len(seen)}
    assert accepted(sandbox) == {}  # nothing reached the provider
    assert states.get("sent", 0) == 0 and states.get("unknown", 0) == 0
