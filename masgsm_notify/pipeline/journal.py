"""The journal: a SQLite (WAL) record of every run, message, batch and delivery state.

An SMS cannot be taken back and MASGSM has no idempotency key, so the journal is what makes
re-running safe. A run's plan (one row per distinct number and text) is written in full before
anything is sent; a batch is committed as in flight before its request leaves (see
`records.RunRecords`). This module is the file itself: its schema and upgrades, its runs, and
the one-writer lock (`state.lock`); a run's own records live in `records.py`.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import JournalBusyError
from ..state.ledger import account_key
from ..state.lock import WriterLock
from ..state.sqlite import Database, marks
from ..states import ANSWERED_SENT, SPENT, MessageState

SCHEMA_VERSION = 5
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    run_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    account TEXT,
    created_at REAL NOT NULL,
    planned_at REAL,
    rows INTEGER NOT NULL DEFAULT 0,
    filtered INTEGER NOT NULL DEFAULT 0,
    uid TEXT,
    ledger_account TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    row TEXT NOT NULL,
    number TEXT NOT NULL,
    text TEXT NOT NULL,
    encoding TEXT NOT NULL,
    segments INTEGER NOT NULL,
    copies INTEGER NOT NULL DEFAULT 1,
    batch_id INTEGER,
    state TEXT NOT NULL DEFAULT 'planned'
);
CREATE INDEX IF NOT EXISTS messages_by_run ON messages(run_id);
-- Only messages in a batch: a planned message costs the index nothing, and opening a batch
-- adds its entries instead of moving them.
CREATE INDEX IF NOT EXISTS messages_by_batch ON messages(batch_id, number)
    WHERE batch_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS skipped (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    row TEXT NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    state TEXT NOT NULL,
    size INTEGER NOT NULL,
    credits INTEGER NOT NULL,
    message_id TEXT,
    code INTEGER,
    error TEXT,
    started_at REAL NOT NULL,
    answered_at REAL
);
CREATE TABLE IF NOT EXISTS report_polls (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    at REAL NOT NULL,
    reports INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    unknown INTEGER NOT NULL,
    not_sent INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS report_polls_by_run ON report_polls(run_id);
CREATE TABLE IF NOT EXISTS balances (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    at REAL NOT NULL,
    moment TEXT NOT NULL,
    credits INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS limits (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    held_after_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS purged (
    uid TEXT PRIMARY KEY,
    purged_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS writer (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at REAL NOT NULL,
    command TEXT NOT NULL
);
"""
# A message's state, of `messages m`: one in flight whose batch was answered sent or partial
# went, its report not read yet (see records.py). Its `?` marks take STATE_NOW_ARGS.
STATE_NOW = (
    "(CASE WHEN m.state = ? AND (SELECT b_.state FROM batches b_ WHERE b_.id = m.batch_id)"
    f" IN ({marks(ANSWERED_SENT)}) THEN ? ELSE m.state END)"
)
STATE_NOW_ARGS = (MessageState.IN_FLIGHT, *ANSWERED_SENT, MessageState.SENT)
_RUN_COLUMNS = (
    "id, run_key, name, pipeline, fingerprint, planned_at, created_at, rows, filtered, account,"
    " uid, ledger_account"
)
# How version 2 journals named the account a run sent through (see `identity.account_label`).
_OLD_ACCOUNT = re.compile(r"^(?P<user>.*) at (?P<base>\S+), title .*$")


@dataclass(frozen=True)
class RunRecord:
    id: int
    run_key: str
    name: str
    pipeline: str
    fingerprint: str
    planned_at: float | None
    created_at: float
    rows: int
    filtered: int
    account: str | None  # who the run sends as, for its identity (`identity.account_label`)
    uid: str  # owner of the run's claims in the sent ledger
    ledger_account: str | None  # the sent ledger's account (None: no ledger, e.g. a sandbox)


def _upgrade_from_2(db: sqlite3.Connection) -> None:
    """Version 3 gives every run a ledger owner and the ledger's name of its account."""
    db.execute("ALTER TABLE runs ADD COLUMN uid TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN ledger_account TEXT")
    for run_id, account in db.execute("SELECT id, account FROM runs").fetchall():
        match = _OLD_ACCOUNT.match(account or "")
        ledger = account_key(match["base"], match["user"]) if match else None
        db.execute(
            "UPDATE runs SET uid = ?, ledger_account = ? WHERE id = ?",
            (uuid.uuid4().hex, ledger, run_id),
        )


def _upgrade_from_3(db: sqlite3.Connection) -> None:
    """Version 4 indexes only the messages that are in a batch (the schema makes it anew)."""
    db.execute("DROP INDEX IF EXISTS messages_by_batch")


def _upgrade_from_4(db: sqlite3.Connection) -> None:
    """Version 5 keeps the messages of a taken batch in flight until its report (see
    records.py): nothing to change in a version 4 file, but a release that reads only version 4
    would count them unknown, so it must refuse the file."""


# Texts escaped for the request body while planning (`Composer(escape=True)`, on every core),
# kept for this connection only (SQLite's temporary storage, on disk): sending joins them in
# instead of escaping on its one thread. A run resumed by another process finds none and
# escapes its texts as it sends them. Rows are keyed by message id, and only `add_planned`
# writes messages, on the journal's one writer connection: it rewrites or removes the rows of
# the ids it writes, so a row never outlives the message it was escaped from into another's.
# The table is made with the connection, empty.
WIRE_TABLE = "CREATE TEMP TABLE IF NOT EXISTS wire (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"


class Journal(Database):
    """One journal file, reached by its real path. `lock()` before writing a run's records."""

    kind = "journal"

    def __init__(self, path: Path, durable: bool = False):
        super().__init__(
            Path(os.path.realpath(path)),
            SCHEMA,
            SCHEMA_VERSION,
            {2: _upgrade_from_2, 3: _upgrade_from_3, 4: _upgrade_from_4},
        )
        self.durable = durable
        self._lock = WriterLock(self.path)
        self.db.execute(WIRE_TABLE)

    def close(self) -> None:
        super().close()
        self._lock.release()  # after SQLite's own descriptors, whose locks it would drop

    def lock(self) -> None:
        """Become the journal's one writer, or fail at once naming the process that is."""
        if not self._lock.acquire():
            raise JournalBusyError(
                f"{self.path} is in use by {self._holder()}; wait for it to finish (two runs "
                "sending from one journal could send the same message twice)."
            )
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO writer (id, pid, host, started_at, command)"
                " VALUES (1, ?, ?, ?, ?)",
                (os.getpid(), socket.gethostname(), time.time(), " ".join(sys.argv[:3])),
            )

    def _holder(self) -> str:
        row = self.db.execute("SELECT pid, host, started_at, command FROM writer").fetchone()
        if row is None:
            return "another process"
        pid, host, started, command = row
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        return f"pid {pid} on {host} ({command}, since {since})"

    # -- runs ----------------------------------------------------------------------------------

    def find_run(self, run_key: str) -> RunRecord | None:
        row = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_key = ?", (run_key,)
        ).fetchone()
        return RunRecord(*row) if row else None

    def latest_runs(self, limit: int = 20) -> list[RunRecord]:
        rows = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created_at DESC LIMIT ?", (limit,)
        ).fetchall()
        return [RunRecord(*row) for row in rows]

    def create_run(
        self,
        run_key: str,
        name: str,
        pipeline: str,
        fingerprint: str,
        account: str | None,
        ledger_account: str | None,
    ) -> RunRecord:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (run_key, name, pipeline, fingerprint, account, created_at, uid,"
                " ledger_account) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_key,
                    name,
                    pipeline,
                    fingerprint,
                    account,
                    time.time(),
                    uuid.uuid4().hex,
                    ledger_account,
                ),
            )
        record = self.find_run(run_key)
        assert record is not None
        return record

    def ledger_entries(self) -> Iterator[tuple[str, str, str, str, float, str, str]]:
        """Every pair any run of this journal sent or may have sent, for seeding the ledger:
        (account, number, text, state, at, owner, run_key)."""
        unknown = (MessageState.UNKNOWN, MessageState.IN_FLIGHT)
        spent = tuple(SPENT)
        yield from self.db.execute(
            "SELECT r.ledger_account, m.number, m.text,"
            f" CASE WHEN {STATE_NOW} IN (?, ?) THEN 'unknown' ELSE 'accepted' END,"
            " COALESCE(b.answered_at, b.started_at, r.created_at), r.uid, r.run_key"
            " FROM messages m JOIN runs r ON r.id = m.run_id"
            " LEFT JOIN batches b ON b.id = m.batch_id"
            f" WHERE r.ledger_account IS NOT NULL AND m.state IN ({', '.join('?' * len(spent))})",
            (*STATE_NOW_ARGS, *unknown, *spent),
        )
