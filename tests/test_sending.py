"""The sending core on its own: batches from a journal to a sandbox, with no runner around it,
and the sent ledger's claims as it leaves them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.journal import planned_run
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER, accepted

from masgsm_notify import MasgsmClient
from masgsm_notify.errors import MasgsmError, StorageError, UsageError
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.pipeline.ledger_guard import LedgerGuard
from masgsm_notify.pipeline.patience import Patience
from masgsm_notify.pipeline.records import RunRecords
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
    guard_type: type[LedgerGuard] = LedgerGuard,
    before_sending: Callable[[RunRecords, Ledger], None] = lambda records, ledger: None,
    after_sending: Callable[[RunRecords], None] = lambda records: None,
) -> SendTotals:
    """Send MESSAGES in batches of 3, two at a time, claiming them in a ledger in tmp_path."""
    with Journal(tmp_path / "j.sqlite") as journal, Ledger(tmp_path / "l.sqlite") as ledger:
        journal.lock()
        records = planned_run(journal, MESSAGES)
        before_sending(records, ledger)
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
        guard = guard_type(ledger, account, "owner", "k", 3600.0)
        totals = send_all(records, BatchSender(client, 0, Patience(5, print)), settings, guard)
        after_sending(records)
        return totals


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
        totals = _send(tmp_path, client, seen, batch_size=1, may_continue=_window_closing_after(2))
    assert isinstance(totals.stop, MasgsmError) and totals.batches == 2
    assert len(accepted(sandbox)) == 2
    claims = _claims(tmp_path)
    assert claims[:2] == [ACCEPTED, ACCEPTED]
    assert len(claims) >= 4, "two batches were claimed ahead of the stop"
    assert CLAIMED not in claims and set(claims[2:]) == {RELEASED}


def _window_closing_after(batches: int) -> Callable[[], MasgsmError | None]:
    asked: list[int] = []

    def window() -> MasgsmError | None:
        asked.append(1)
        return MasgsmError("the send window closed") if len(asked) > batches else None

    return window


def test_a_worker_failing_still_gives_back_the_batches_prepared_ahead(
    tmp_path, sandbox: SandboxServer
):
    """An unexpected error out of a request (a bug, not an answer) stops sending: the batches
    out stay claimed (nobody knows whether they left), those prepared ahead are released."""

    class Broken(MasgsmClient):
        def submit(self, prepared):
            raise RuntimeError("a bug in the request")

    client = Broken(SANDBOX_USER, SANDBOX_PASSWORD, title="MASGSMTEST", base_url=sandbox.base_url)
    with client, pytest.raises(RuntimeError, match="a bug"):
        _send(tmp_path, client, [], batch_size=1)
    claims = _claims(tmp_path)
    assert claims.count(CLAIMED) == 2, claims  # the two out when it failed
    assert len(claims) > 2 and set(claims) == {CLAIMED, RELEASED}


def test_every_batch_prepared_ahead_is_released_even_if_one_release_fails(
    tmp_path, sandbox: SandboxServer
):
    """Giving back what never left tries every claim; the first ledger error comes after."""

    class FirstReleaseFails(LedgerGuard):
        failed = False

        def release(self, claim):
            if not FirstReleaseFails.failed:
                FirstReleaseFails.failed = True
                raise StorageError("the ledger is busy", problem="busy")
            super().release(claim)

    with (
        MasgsmClient(
            SANDBOX_USER, SANDBOX_PASSWORD, title="MASGSMTEST", base_url=sandbox.base_url
        ) as client,
        pytest.raises(StorageError, match="busy"),
    ):
        _send(
            tmp_path,
            client,
            [],
            batch_size=1,
            may_continue=_window_closing_after(2),
            guard_type=FirstReleaseFails,
        )
    assert _claims(tmp_path) == [ACCEPTED, ACCEPTED, CLAIMED, RELEASED]


def test_a_claim_whose_set_aside_cannot_be_written_is_given_back(tmp_path, sandbox: SandboxServer):
    """Another run holds one pair of the first batch: the rest is claimed, and the journal
    must note the one set aside. If it cannot, nothing is sent and the claim is released."""

    def taken_and_journal_refusing(records: RunRecords, ledger: Ledger) -> None:
        other = LedgerGuard(ledger, account_key(sandbox.base_url, SANDBOX_USER), "other", "o", 1)
        with Journal(tmp_path / "other.sqlite") as journal:
            (draft,) = planned_run(journal, [MESSAGES[0]]).drafts(1)
            other.claim(draft)

        def refuse(ids, state):
            raise StorageError("the disk is full", problem="full")

        records.set_aside = refuse  # type: ignore[method-assign]

    with (
        MasgsmClient(
            SANDBOX_USER, SANDBOX_PASSWORD, title="MASGSMTEST", base_url=sandbox.base_url
        ) as client,
        pytest.raises(StorageError, match="full"),
    ):
        _send(tmp_path, client, [], before_sending=taken_and_journal_refusing)
    assert accepted(sandbox) == {}
    assert _claims(tmp_path) == [CLAIMED, RELEASED]  # the other run's, and ours given back


def test_sending_drops_the_texts_escaped_while_planning(tmp_path, sandbox: SandboxServer):
    """Texts escaped while planning are joined in as the batches go, then dropped, so a
    process that runs pipeline after pipeline (`serve`) does not keep every plan's."""
    from masgsm_notify.wire import php_urlencode

    def escaped(records: RunRecords) -> int:
        return records.db.execute("SELECT COUNT(*) FROM temp.wire").fetchone()[0]

    def plan_escaped(records: RunRecords, ledger: Ledger) -> None:
        records.discard()  # planned again, as a pipeline plans: texts escaped on the way in
        records.run = records.journal.create_run("k2", "n", "p.yaml", "f", None, None)
        messages = [(row, number, text, "gsm7", 1) for row, number, text in MESSAGES]
        records.add_planned(messages, [], None, [php_urlencode(m[2]) for m in messages])
        assert escaped(records) == len(MESSAGES)

    left: list[int] = []
    with MasgsmClient(
        SANDBOX_USER, SANDBOX_PASSWORD, title="MASGSMTEST", base_url=sandbox.base_url
    ) as client:
        totals = _send(
            tmp_path,
            client,
            [],
            before_sending=plan_escaped,
            after_sending=lambda records: left.append(escaped(records)),
        )
    assert totals.accepted == len(MESSAGES) and left == [0]
    assert accepted(sandbox) == {(number, text): 1 for _, number, text in MESSAGES}
