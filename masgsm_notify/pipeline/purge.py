"""Purge: the numbers and texts of old runs removed from journals and the sent ledger.

KVKK asks that personal data be kept no longer than needed. A journal needs whole numbers and
texts while its run may still be resumed or checked; after that only its counts matter. `purge
--older-than 90d` blanks the number and text of every message (and the value of every skipped
row) of each run whose last activity (planned, a batch sent or answered) is older than that,
and removes ledger entries recorded before it. Counts, states, costs and batch ids stay, so the
run's summary, `check` and exports still add up; the run can no longer be resumed.

SQLite keeps deleted bytes in free pages and in its write-ahead log, so the purge runs with
`secure_delete` and truncates the log afterwards: the numbers are gone from the files, not only
from queries. A journal in use by a run is waited for a few seconds, then left for next time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import clock
from ..errors import JournalBusyError, UsageError
from ..privacy import mask_numbers_in
from ..retry import polling, retry
from ..state.ledger import existing_ledger
from ..state.sqlite import Database
from .journal import Journal
from .journals import known_journals
from .records import RunRecords

PATIENCE = 10.0  # seconds to wait for a run to let go of a journal

# Runs not purged yet whose last sign of life is older than the cutoff.
_OLD_RUNS = """
SELECT r.id, r.uid FROM runs r
WHERE NOT EXISTS (SELECT 1 FROM purged p WHERE p.uid = r.uid)
  AND MAX(r.created_at, COALESCE(r.planned_at, 0), COALESCE(
        (SELECT MAX(MAX(b.started_at, COALESCE(b.answered_at, 0))) FROM batches b
         WHERE b.run_id = r.id), 0)) < ?
"""


@dataclass
class JournalPurge:
    path: str
    runs: int = 0
    messages: int = 0
    skipped: int = 0
    busy: str | None = None  # why the journal was left alone


@dataclass
class PurgeReport:
    older_than: float  # seconds
    cutoff: float  # time.time() before which runs and ledger entries are purged
    dry_run: bool
    journals: list[JournalPurge] = field(default_factory=list)
    ledger_entries: int = 0

    @property
    def busy(self) -> list[JournalPurge]:
        return [journal for journal in self.journals if journal.busy]

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "cutoff": dt.datetime.fromtimestamp(self.cutoff, dt.timezone.utc).isoformat(
                timespec="seconds"
            ),
            "runs": sum(j.runs for j in self.journals),
            "messages": sum(j.messages for j in self.journals),
        }


def purge(older_than: float, journal: Path | None = None, dry_run: bool = False) -> PurgeReport:
    """Purge the journal given (else every journal the state directory knows) and the ledger."""
    report = PurgeReport(older_than, clock.timestamp() - older_than, dry_run)
    if journal is not None and not journal.is_file():
        raise UsageError(f"--journal {journal}: no such journal")
    for path in [journal] if journal is not None else known_journals(Path.cwd()):
        report.journals.append(_purge_journal(path, report.cutoff, dry_run))
    ledger = existing_ledger()
    if ledger is not None:
        with ledger, _scrubbing(ledger, not dry_run):
            report.ledger_entries = ledger.forget_before(report.cutoff, dry_run)
    return report


def _purge_journal(path: Path, cutoff: float, dry_run: bool) -> JournalPurge:
    done = JournalPurge(str(path))
    with Journal(path) as journal:
        if not dry_run:
            try:
                retry(
                    journal.lock,
                    worth_retrying=lambda error: isinstance(error, JournalBusyError),
                    pauses=polling(PATIENCE, interval=0.2),
                )
            except JournalBusyError as error:
                done.busy = str(error)
                return done
        runs = journal.db.execute(_OLD_RUNS, (cutoff,)).fetchall()
        done.runs = len(runs)
        for run_id, _uid in runs:
            done.messages += _count(journal.db, "messages", run_id)
            done.skipped += _count(journal.db, "skipped", run_id)
        if runs and not dry_run:
            journal.db.create_function("mask_numbers", 1, mask_numbers_in, deterministic=True)
            with _scrubbing(journal), journal.transaction() as db:
                for run_id, uid in runs:
                    _blank_run(db, run_id, uid)
    return done


def _blank_run(db: sqlite3.Connection, run_id: int, uid: str) -> None:
    db.execute("UPDATE messages SET number = '', text = '' WHERE run_id = ?", (run_id,))
    db.execute("UPDATE skipped SET value = '' WHERE run_id = ?", (run_id,))
    # A provider's error may quote numbers back.
    db.execute(
        "UPDATE batches SET error = mask_numbers(error) WHERE run_id = ? AND error IS NOT NULL",
        (run_id,),
    )
    db.execute("INSERT INTO purged (uid, purged_at) VALUES (?, ?)", (uid, time.time()))


def _count(db: sqlite3.Connection, table: str, run_id: int) -> int:
    return db.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]


@contextlib.contextmanager
def _scrubbing(database: Database, writes: bool = True) -> Iterator[None]:
    """Have SQLite overwrite what the changes free, then empty the write-ahead log into the
    file, so old page images do not linger there."""
    if writes:
        database.db.execute("PRAGMA secure_delete = ON")
    yield
    if writes:
        database.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def purged_at(records: RunRecords) -> float | None:
    row = records.db.execute(
        "SELECT purged_at FROM purged WHERE uid = ?", (records.run.uid,)
    ).fetchone()
    return row[0] if row else None


def refuse_purged(records: RunRecords) -> None:
    """A purged run has no numbers or texts left to send: it cannot be resumed."""
    when = purged_at(records)
    if when is None:
        return
    day = dt.datetime.fromtimestamp(when).astimezone().strftime("%Y-%m-%d")
    raise UsageError(
        f"Run {records.run.run_key!r} was purged on {day}: its numbers and texts are gone, so "
        "it cannot be resumed. Run with a new --run-key to send again (texts older than the "
        "purge are no longer in the sent ledger either)."
    )
