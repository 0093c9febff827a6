"""The journal (real SQLite) read-only, so a test cannot change what it checks, and runs
planned straight into it."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

from helpers.sandbox import accepted as accepted_by
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.pipeline.records import RunRecords
from masgsm_notify.sandbox import SandboxServer

# Journal states of a message the provider took.
SENT_STATES = ("sent", "pending", "delivered", "failed")
# Columns of the messages of the batches still out: their batch's state says so (a message of
# an answered batch stays in flight too, until its report or the end of the run).
OF_BATCHES_IN_FLIGHT = (
    "SELECT {} FROM messages m JOIN batches b ON b.id = m.batch_id WHERE b.state = 'in_flight'"
)


def query(journal: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows from the journal, opened read-only."""
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def query_written(journal: Path, sql: str) -> list[tuple]:
    """Rows of `sql`, or none while the journal or its schema is not written yet (a run killed
    or watched before it got that far)."""
    if not journal.exists():
        return []
    try:
        return query(journal, sql)
    except sqlite3.OperationalError as error:
        assert "no such table" in str(error)
        return []


def count(journal: Path, table: str) -> int:
    """Rows in a table of the journal; 0 while the journal or its schema is not written yet."""
    rows = query_written(journal, f"SELECT COUNT(*) FROM {table}")
    return rows[0][0] if rows else 0


def integrity(journal: Path) -> list[tuple]:
    return query(journal, "PRAGMA integrity_check")


# A message's state as the journal has it: one in flight whose batch was answered sent or
# partial went, its report not read yet.
STATE = (
    "CASE WHEN m.state = 'in_flight' AND b.state IN ('sent', 'partial') THEN 'sent'"
    " ELSE m.state END"
)
MESSAGES = "messages m LEFT JOIN batches b ON b.id = m.batch_id"


def message_states(journal: Path) -> dict[str, str]:
    """number -> journal state, for runs whose numbers each have one message."""
    return dict(query(journal, f"SELECT m.number, {STATE} FROM {MESSAGES} ORDER BY m.id"))


def journal_standing(journal: Path) -> tuple[int, int, int]:
    """(sent, never left, unknown) as the journal has them."""
    counted = query(journal, f"SELECT {STATE} AS s, COUNT(*) FROM {MESSAGES} GROUP BY s")
    states = Counter(dict(counted))
    sent = sum(states[s] for s in SENT_STATES)
    never = states["planned"] + states["rejected"] + states["not_sent"]
    return sent, never, states["unknown"] + states["in_flight"]


def assert_nothing_twice(server: SandboxServer, journal: Path, count: int) -> Counter:
    """No (number, text) accepted twice; every recipient either accepted once or, in the
    journal, unknown (the request left, no answer came back). Returns what was accepted."""
    accepted = accepted_by(server)
    assert [pair for pair, times in accepted.items() if times > 1] == []
    by_number = {number for number, _ in accepted}
    states = dict(query(journal, f"SELECT m.number, {STATE} FROM {MESSAGES}"))
    assert len(states) == count
    for number, state in states.items():
        if state in SENT_STATES:
            assert number in by_number, (number, state)
        else:
            assert state == "unknown", (number, state)
    return accepted


def planned_run(
    journal: Journal,
    messages: list[tuple[str, str, str]],
    skipped: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
) -> RunRecords:
    """A run in `journal` planned with (row, number, text) messages of one GSM segment each."""
    run = journal.create_run("k", "n", "p.yaml", "f", None, None)
    records = RunRecords(journal, run)
    records.add_planned([(row, number, text, "gsm7", 1) for row, number, text in messages], skipped)
    return records
