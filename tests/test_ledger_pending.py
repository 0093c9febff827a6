"""The sent ledger's pending claims: held from the moment they are claimed, by every connection,
until and after they are folded into `sent` once settled; folded by size, by `purge`, and
upgraded into."""

from __future__ import annotations

import sqlite3
import time

import pytest

from masgsm_notify.state import ledger as ledger_module
from masgsm_notify.state.ledger import ACCEPTED, RELEASED, Ledger, account_key, digest

ACCOUNT = account_key("http://127.0.0.1:8080/MasApiV2", "5300000000")


def pairs(count: int, text: str = "Faturanız hazır") -> list[tuple[str, bytes]]:
    return [(f"53{i:08d}", digest(f"{text} {i}")) for i in range(count)]


def sent(ledger: Ledger, wanted: list, owner: str, since: float | None = 0) -> set:
    """Claim `wanted` and settle the claim as accepted: the pairs the ledger refused."""
    claims = ledger.claim(ACCOUNT, wanted, owner=owner, run_key=owner, since=since)
    ledger.settle(claims.id, ACCEPTED)
    return claims.taken_by_others


def rows(ledger: Ledger, table: str) -> int:
    return ledger.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_another_connections_claim_holds_its_pairs_pending_and_folded(tmp_path):
    """Two connections stand for two processes: each reads the other's pending claims."""
    wanted = pairs(3)
    with Ledger(tmp_path / "ledger.sqlite") as mine, Ledger(tmp_path / "ledger.sqlite") as theirs:
        held = theirs.claim(ACCOUNT, wanted[:2], owner="them", run_key="a", since=0)
        assert rows(theirs, "pending") == 1 and rows(theirs, "sent") == 0

        assert sent(mine, wanted, "me") == set(wanted[:2])
        assert mine.seen(ACCOUNT, wanted, 0, not_owner="them") == {wanted[2]}

        theirs.fold()  # their claim is in flight: it stays pending, mine is folded
        assert rows(mine, "pending") == 1 and rows(mine, "sent") == 1
        assert sent(mine, wanted, "me") == set(wanted[:2])

        theirs.settle(held.id, RELEASED)  # nothing of theirs went
        assert sent(mine, wanted, "me") == set()
        mine.fold()
        assert (rows(mine, "pending"), rows(mine, "sent")) == (0, 3)
        assert theirs.seen(ACCOUNT, wanted, 0, not_owner="me") == set()
        assert theirs.seen(ACCOUNT, wanted, 0) == set(wanted)


def test_a_takeover_released_after_a_fold_frees_nothing_the_first_claim_holds(tmp_path):
    """`--resend-duplicates` takes a pair over from another owner; if that send is rejected
    (released), the first owner's claim still holds the pair, folded or not."""
    wanted = pairs(1)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert sent(ledger, wanted, "one") == set()
        ledger.fold()
        takeover = ledger.claim(ACCOUNT, wanted, owner="two", run_key="b", since=None)
        ledger.fold()  # in flight: not folded over the first claim
        ledger.settle(takeover.id, RELEASED)
        ledger.fold()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, 1)
        refused = ledger.claim(ACCOUNT, wanted, owner="three", run_key="c", since=0)
        assert refused.taken_by_others == set(wanted)


def test_a_claim_id_freed_by_a_purge_is_not_mistaken_for_the_one_read_before(tmp_path):
    """Another connection read claim 1's pairs; a purge forgot it and a new claim got id 1."""
    old, new = pairs(1, "eski"), pairs(1, "yeni")
    with Ledger(tmp_path / "ledger.sqlite") as mine, Ledger(tmp_path / "ledger.sqlite") as theirs:
        first = theirs.claim(ACCOUNT, old, owner="them", run_key="a", since=0)
        assert sent(mine, old, "me") == set(old)  # read, and kept
        theirs.settle(first.id, ACCEPTED)
        assert theirs.forget_before(time.time() + 1) == 1  # and both claims, named by nothing
        again = theirs.claim(ACCOUNT, new, owner="them", run_key="a", since=0)
        assert again.id == first.id
        assert sent(mine, new, "me") == set(new)


def test_a_claim_refused_whole_leaves_nothing_pending(tmp_path):
    wanted = pairs(2)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.claim(ACCOUNT, wanted, owner="them", run_key="a", since=0)
        refused = ledger.claim(ACCOUNT, wanted, owner="me", run_key="b", since=0)
        assert refused.taken_by_others == set(wanted)
        assert rows(ledger, "pending") == 1


def test_only_settled_claims_are_folded(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        in_flight = ledger.claim(ACCOUNT, pairs(2), owner="me", run_key="a", since=0)
        sent(ledger, pairs(3, "başka"), "me")
        ledger.fold()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (1, 3)
        ledger.settle(in_flight.id, RELEASED)
        ledger.fold()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, 3)


def test_claims_are_folded_once_a_process_has_claimed_fold_at_pairs(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_module, "FOLD_AT", 1000)
    batches = [pairs(500, text) for text in ("bir", "iki", "üç")]
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        sent(ledger, batches[0], "me")
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (1, 0)
        ledger.claim(ACCOUNT, batches[1], owner="me", run_key="a", since=0)  # folds, in flight
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (1, 500)
        sent(ledger, batches[2], "me")
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (2, 500)
        everything = [pair for batch in batches for pair in batch]
        assert ledger.seen(ACCOUNT, everything, 0) == set(everything)


def test_purge_counts_pending_pairs_and_a_dry_run_writes_nothing(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        sent(ledger, pairs(3), "me")
        ledger.fold()
        sent(ledger, pairs(2, "sonra"), "me")
        ledger.claim(ACCOUNT, pairs(4, "uçuşta"), owner="me", run_key="c", since=0)  # died
        cutoff = time.time() + 1
        assert ledger.forget_before(cutoff, dry_run=True) == 9
        assert (rows(ledger, "pending"), rows(ledger, "sent"), rows(ledger, "claims")) == (2, 3, 3)
        assert ledger.forget_before(cutoff) == 9
        assert (rows(ledger, "pending"), rows(ledger, "sent"), rows(ledger, "claims")) == (0, 0, 0)


def test_a_version_1_ledger_is_upgraded_and_keeps_what_it_held(tmp_path):
    path = tmp_path / "ledger.sqlite"
    number, text_digest = pairs(1)[0]
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE claims (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, run_key TEXT NOT NULL,"
        " state TEXT NOT NULL, at REAL NOT NULL);"
        "CREATE TABLE sent (account TEXT NOT NULL, number TEXT NOT NULL, digest BLOB NOT NULL,"
        " at REAL NOT NULL, claim INTEGER NOT NULL, PRIMARY KEY (account, number, digest))"
        " WITHOUT ROWID;"
        "CREATE TABLE journals (path TEXT PRIMARY KEY, seeded_at REAL, last_used REAL NOT NULL);"
        "INSERT INTO claims VALUES (1, 'them', 'a', 'accepted', 1000.0);"
        "PRAGMA user_version=1;"
    )
    old.execute("INSERT INTO sent VALUES (?, ?, ?, 1000.0, 1)", (ACCOUNT, number, text_digest))
    old.commit()
    old.close()
    with Ledger(path) as ledger:
        assert ledger.db.execute("PRAGMA user_version").fetchone() == (2,)
        assert ledger.seen(ACCOUNT, [(number, text_digest)], 0) == {(number, text_digest)}
        taken = ledger.claim(ACCOUNT, [(number, text_digest)], owner="me", run_key="b", since=0)
        assert taken.taken_by_others == {(number, text_digest)}


@pytest.mark.parametrize("folded", [False, True])
def test_a_resend_takes_every_pair_and_a_later_window_still_sees_it(tmp_path, folded):
    """`--resend-duplicates` (since None) refuses nothing and looks nothing up; what it claims
    holds for every other run."""
    wanted = pairs(2)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        sent(ledger, wanted, "them")
        assert sent(ledger, wanted, "me", since=None) == set()
        if folded:
            ledger.fold()
        assert ledger.seen(ACCOUNT, wanted, 0, not_owner="them") == set(wanted)


def test_a_fold_refused_by_a_lock_leaves_the_claims_pending_and_held(tmp_path):
    wanted = pairs(2)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        sent(ledger, wanted, "them")
        ledger.db.execute("PRAGMA busy_timeout=50")
        other = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            assert ledger.fold() is False  # refused, quietly
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (1, 0)
        refused = ledger.claim(ACCOUNT, wanted, owner="me", run_key="b", since=0)
        assert refused.taken_by_others == set(wanted)
        assert ledger.fold() is True
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, 2)


def index_lookups(ledger: Ledger) -> list[str]:
    """The statements that look pairs up in `sent`, as the connection runs them from now on."""
    statements: list[str] = []
    ledger.db.set_trace_callback(
        lambda sql: statements.append(sql) if "CROSS JOIN sent" in sql else None
    )
    return statements


def test_an_owner_that_planned_its_pairs_here_claims_them_without_a_lookup(tmp_path):
    wanted = pairs(3)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.seen(ACCOUNT, wanted, 0, planning_for="me") == set()
        looked_up = index_lookups(ledger)
        assert sent(ledger, wanted, "me") == set()
        assert looked_up == []
        assert ledger.claim(ACCOUNT, wanted, owner="other", run_key="o", since=0).taken_by_others
        assert looked_up  # an owner that did not plan here looks up


@pytest.mark.parametrize("folded", [False, True])
def test_a_write_by_another_connection_after_planning_brings_the_lookup_back(tmp_path, folded):
    wanted = pairs(2)
    with Ledger(tmp_path / "ledger.sqlite") as mine, Ledger(tmp_path / "ledger.sqlite") as theirs:
        assert mine.seen(ACCOUNT, wanted, 0, planning_for="me") == set()
        assert sent(theirs, wanted[:1], "them") == set()
        if folded:
            theirs.fold()
        assert sent(mine, wanted, "me") == set(wanted[:1])


def test_another_owner_claiming_on_the_same_connection_after_planning_brings_it_back(tmp_path):
    """`serve` keeps one connection for the runs of a pipeline."""
    wanted = pairs(2)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.seen(ACCOUNT, wanted, 0, planning_for="me") == set()
        assert sent(ledger, wanted[1:], "them") == set()
        ledger.fold()
        assert sent(ledger, wanted, "me") == set(wanted[1:])


def test_a_journal_seeded_after_planning_brings_the_lookup_back(tmp_path):
    number, _ = pairs(1)[0]
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        wanted = [(number, digest("Eski metin"))]
        assert ledger.seen(ACCOUNT, wanted, 0, planning_for="me") == set()
        entry = (ACCOUNT, number, "Eski metin", ACCEPTED, time.time(), "old", "k")
        assert ledger.seed(tmp_path / "old.sqlite", [entry]) == 1
        assert sent(ledger, wanted, "me") == set(wanted)


def test_a_write_between_two_planning_lookups_is_not_forgotten(tmp_path):
    first, second = pairs(1, "bir"), pairs(1, "iki")
    with Ledger(tmp_path / "ledger.sqlite") as mine, Ledger(tmp_path / "ledger.sqlite") as theirs:
        assert mine.seen(ACCOUNT, first, 0, planning_for="me") == set()
        assert sent(theirs, first, "them") == set()  # after my first part, before my second
        assert mine.seen(ACCOUNT, second, 0, planning_for="me") == set()
        assert sent(mine, first + second, "me") == set(first)


def test_two_owners_planned_on_one_connection_and_one_claimed_first(tmp_path):
    wanted = pairs(1)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.seen(ACCOUNT, wanted, 0, planning_for="a") == set()
        assert ledger.seen(ACCOUNT, wanted, 0, planning_for="b") == set()
        assert sent(ledger, wanted, "a") == set()
        assert sent(ledger, wanted, "b") == set(wanted)
        assert ledger.seen(ACCOUNT, pairs(1, "yeni"), 0, planning_for="b") == set()
        assert sent(ledger, wanted, "b") == set(wanted)  # planning again does not reset it


def test_a_claim_whose_window_starts_before_planning_looked_looks_up(tmp_path):
    """A clock set back between planning and sending widens the claim's window."""
    wanted = pairs(1)
    with Ledger(tmp_path / "ledger.sqlite") as mine, Ledger(tmp_path / "ledger.sqlite") as theirs:
        assert sent(theirs, wanted, "them") == set()
        later = time.time() + 1
        assert mine.seen(ACCOUNT, wanted, later, planning_for="me") == set()  # outside its window
        assert sent(mine, wanted, "me", since=0) == set(wanted)
