"""The journal: a SQLite (WAL) record of every run, message, batch and delivery state.

An SMS cannot be taken back and MASGSM has no idempotency key, so the journal is what makes
re-running safe. A run's plan (one row per distinct number and text) is written in full before
anything is sent. A batch is committed as in flight before its request leaves and as sent (with
the provider's message id) after; a batch found in flight later, after a crash, is unknown, and is
only sent again when the user asks. Re-running a run key sends only what was never attempted.

Only one process sends from a journal at a time: an OS file lock, released by the kernel even
when the process is killed, guards it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from .. import phone
from ..batching import distinct_batches
from ..errors import InvalidNumberError, JournalBusyError, MasgsmError

SCHEMA_VERSION = 2
OPEN_PATIENCE = 10.0  # seconds to wait for another process opening the same journal
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
    filtered INTEGER NOT NULL DEFAULT 0
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
CREATE INDEX IF NOT EXISTS messages_by_batch ON messages(batch_id, number);
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
"""

# Message states a run may (re)send: never attempted, refused, or beyond a partial send.
SENDABLE = ("planned", "rejected", "not_sent")


_RUN_COLUMNS = (
    "id, run_key, name, pipeline, fingerprint, planned_at, created_at, rows, filtered, account"
)


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
    account: str | None  # which account the run sends through (see `runner.account_of`)


@dataclass(frozen=True)
class Chunk:
    """Messages picked for one batch, in journal order."""

    ids: list[int]
    numbers: list[str]
    texts: list[str]
    credits: int


@dataclass(frozen=True)
class Group:
    """Messages of a run that share a state, an encoding and a segment count."""

    state: str
    encoding: str
    segments: int
    messages: int
    rows: int  # recipient rows, counting each duplicate merged into a message


@dataclass(frozen=True)
class Tally:
    """A run's messages in groups, from one pass over the journal."""

    groups: list[Group]

    def _pick(self, states: Iterable[str] | None) -> list[Group]:
        wanted = None if states is None else set(states)
        return [g for g in self.groups if wanted is None or g.state in wanted]

    def messages(self, states: Iterable[str] | None = None) -> int:
        return sum(g.messages for g in self._pick(states))

    def rows(self, states: Iterable[str] | None = None) -> int:
        return sum(g.rows for g in self._pick(states))

    def credits(self, states: Iterable[str] | None = None) -> int:
        return sum(g.segments * g.messages for g in self._pick(states))

    def by_encoding(self) -> dict[str, int]:
        return _count_by((g.encoding, g.messages) for g in self.groups)

    def by_segments(self) -> dict[int, int]:
        return _count_by((g.segments, g.messages) for g in self.groups)


def _count_by(pairs: Iterable[tuple[Any, int]]) -> dict[Any, int]:
    found: dict[Any, int] = {}
    for key, count in pairs:
        found[key] = found.get(key, 0) + count
    return found


class Journal:
    """One journal file. Use as a context manager; `lock()` before sending or checking."""

    def __init__(self, path: Path, durable: bool = False):
        self.path = path
        self.durable = durable
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute(f"PRAGMA busy_timeout={int(OPEN_PATIENCE * 1000)}")
            self._use_wal()
            self.db.execute("PRAGMA synchronous=NORMAL")
            with self.transaction():  # one process at a time creates the tables
                version = self.db.execute("PRAGMA user_version").fetchone()[0]
                if version not in (0, SCHEMA_VERSION):
                    raise MasgsmError(
                        f"{path}: this journal was written by another version of masgsm-notify "
                        f"(schema {version}, this one reads {SCHEMA_VERSION}); use a new --journal."
                    )
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (sqlite3.DatabaseError, OSError) as error:
            raise MasgsmError(f"{path}: cannot open the journal: {error}") from None
        self._lock_file: Any = None

    def _use_wal(self) -> None:
        """Switch to WAL. Two processes creating one journal at the same moment make SQLite
        refuse the switch at once, without waiting on the busy timeout, so it is retried."""
        deadline = time.monotonic() + OPEN_PATIENCE
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.db.close()
        if self._lock_file:
            self._lock_file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def lock(self) -> None:
        """Take the journal's exclusive lock, or fail at once if another process has it."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            handle = lock_path.open("a+")
        except OSError as error:
            raise MasgsmError(f"{lock_path}: cannot open the journal's lock: {error}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise JournalBusyError(
                f"{self.path} is in use by {holder}; wait for it to finish (two runs sending "
                "from one journal could send the same message twice)."
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._lock_file = handle

    def transaction(self, sync: bool = False) -> sqlite3.Connection:
        """`with journal.transaction():` commits on success and rolls back on error.

        `sync` makes this one commit wait for the disk (SQLite's synchronous=FULL).
        """
        return _Transaction(self.db, sync)  # type: ignore[return-value]

    # -- runs ----------------------------------------------------------------------------------

    def find_run(self, run_key: str) -> RunRecord | None:
        row = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_key = ?",
            (run_key,),
        ).fetchone()
        return RunRecord(*row) if row else None

    def latest_runs(self, limit: int = 20) -> list[RunRecord]:
        rows = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [RunRecord(*row) for row in rows]

    def create_run(
        self,
        run_key: str,
        name: str,
        pipeline: str,
        fingerprint: str,
        account: str | None,
    ) -> RunRecord:
        with self.transaction():
            self.db.execute(
                "INSERT INTO runs (run_key, name, pipeline, fingerprint, account, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_key, name, pipeline, fingerprint, account, time.time()),
            )
        record = self.find_run(run_key)
        assert record is not None
        return record

    def discard_plan(self, run: RunRecord) -> None:
        """Forget an unfinished or never-sent plan so it can be made again from the inputs."""
        with self.transaction():
            for table in ("messages", "skipped", "batches"):
                self.db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run.id,))
            self.db.execute("DELETE FROM runs WHERE id = ?", (run.id,))

    def ever_attempted(self, run: RunRecord) -> bool:
        """True once any batch of the run may have reached the provider."""
        row = self.db.execute(
            "SELECT 1 FROM batches WHERE run_id = ? AND state != 'rejected' LIMIT 1", (run.id,)
        ).fetchone()
        return row is not None

    # -- planning ------------------------------------------------------------------------------

    def add_messages(self, run: RunRecord, rows: Iterable[tuple]) -> None:
        """Insert (row, number, text, encoding, segments); `merge_duplicates` runs after."""
        self.db.executemany(
            "INSERT INTO messages (run_id, row, number, text, encoding, segments)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            ((run.id, *row) for row in rows),
        )

    def merge_duplicates(self, run: RunRecord) -> int:
        """Fold repeated (number, text) pairs into their first message; return how many went.

        One sort of the whole plan once it is written costs a fraction of what a unique index
        maintained row by row would, and keeps memory flat however many rows there are.
        """
        with self.transaction():
            self.db.execute("DROP TABLE IF EXISTS temp.repeats")
            self.db.execute(
                "CREATE TEMP TABLE repeats AS SELECT MIN(id) AS keep, COUNT(*) AS copies"
                " FROM messages WHERE run_id = ? GROUP BY number, text HAVING COUNT(*) > 1",
                (run.id,),
            )
            self.db.execute(
                "UPDATE messages SET copies = (SELECT copies FROM repeats WHERE keep = messages.id)"
                " WHERE id IN (SELECT keep FROM repeats)"
            )
            merged = (
                self.db.execute(
                    "DELETE FROM messages WHERE run_id = ? AND id NOT IN"
                    " (SELECT MIN(id) FROM messages WHERE run_id = ? GROUP BY number, text)",
                    (run.id, run.id),
                ).rowcount
                if self.db.execute("SELECT 1 FROM repeats LIMIT 1").fetchone()
                else 0
            )
            self.db.execute("DROP TABLE temp.repeats")
        return merged

    def add_skipped(self, run: RunRecord, rows: Iterable[tuple[str, str, str]]) -> None:
        self.db.executemany(
            "INSERT INTO skipped (run_id, row, value, reason) VALUES (?, ?, ?, ?)",
            ((run.id, *row) for row in rows),
        )

    def finish_plan(self, run: RunRecord, rows: int, filtered: int) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE runs SET planned_at = ?, rows = ?, filtered = ? WHERE id = ?",
                (time.time(), rows, filtered, run.id),
            )

    # -- sending -------------------------------------------------------------------------------

    def settle_interrupted(self, run: RunRecord, resend_unknown: bool) -> int:
        """Batches left in flight by a crash become unknown (or sendable again, if asked).

        Returns how many messages were made sendable again.
        """
        with self.transaction():
            self.db.execute(
                "UPDATE batches SET state = 'unknown', error = 'interrupted while in flight'"
                " WHERE run_id = ? AND state = 'in_flight'",
                (run.id,),
            )
            self.db.execute(
                "UPDATE messages SET state = 'unknown' WHERE run_id = ? AND state = 'in_flight'",
                (run.id,),
            )
            if not resend_unknown:
                return 0
            return self.db.execute(
                "UPDATE messages SET state = 'planned', batch_id = NULL"
                " WHERE run_id = ? AND state = 'unknown'",
                (run.id,),
            ).rowcount

    def chunks(self, run: RunRecord, size: int) -> Iterator[Chunk]:
        """Sendable messages in journal order, `size` at a time, each number once per chunk
        (see `batching.distinct_batches`), read from the journal a page at a time."""
        query = (
            # `+run_id` keeps SQLite on the rowid range instead of the run_id index, which
            # would make every page a scan of the whole run.
            "SELECT id, number, text, segments FROM messages WHERE +run_id = ? AND id > ?"
            " AND state IN (?, ?, ?) ORDER BY id LIMIT ?"
        )

        def sendable() -> Iterator[tuple[int, str, str, int]]:
            after = 0
            while rows := self.db.execute(query, (run.id, after, *SENDABLE, size)).fetchall():
                after = rows[-1][0]
                yield from rows

        for batch in distinct_batches(sendable(), size, key=itemgetter(1)):
            ids, numbers, texts, segments = zip(*batch, strict=True)
            yield Chunk(list(ids), list(numbers), list(texts), sum(segments))

    def open_batch(self, run: RunRecord, chunk: Chunk) -> int:
        """Record a batch as in flight before its request is sent.

        The commit survives the process being killed at any moment. With `durable`, it is also
        synced to disk (surviving power loss) at the price of an fsync per batch.
        """
        with self.transaction(sync=self.durable):
            batch_id = self.db.execute(
                "INSERT INTO batches (run_id, state, size, credits, started_at)"
                " VALUES (?, 'in_flight', ?, ?, ?)",
                (run.id, len(chunk.ids), chunk.credits, time.time()),
            ).lastrowid
            self.db.executemany(
                "UPDATE messages SET state = 'in_flight', batch_id = ? WHERE id = ?",
                ((batch_id, message_id) for message_id in chunk.ids),
            )
        return batch_id

    def close_batch(
        self,
        batch_id: int,
        state: str,
        message_id: str | None = None,
        code: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record a batch's answer: sent, partial, rejected (nothing sent) or unknown."""
        message_state = {"sent": "sent", "partial": "sent", "rejected": "rejected"}.get(
            state, "unknown"
        )
        with self.transaction():
            self.db.execute(
                "UPDATE batches SET state = ?, message_id = ?, code = ?, error = ?,"
                " answered_at = ? WHERE id = ?",
                (state, message_id, code, error, time.time(), batch_id),
            )
            self.db.execute(
                "UPDATE messages SET state = ? WHERE batch_id = ?", (message_state, batch_id)
            )

    # -- delivery reports ----------------------------------------------------------------------

    def batches_to_check(self, run: RunRecord, partial_only: bool = False) -> list[tuple[int, str]]:
        """(batch id, message id) of accepted batches with numbers not yet final."""
        states = ("partial",) if partial_only else ("sent", "partial")
        return self.db.execute(
            "SELECT DISTINCT b.id, b.message_id FROM batches b JOIN messages m"
            f" ON m.batch_id = b.id WHERE b.run_id = ? AND b.state IN ({_marks(states)})"
            " AND b.message_id IS NOT NULL AND m.state IN ('sent', 'pending')",
            (run.id, *states),
        ).fetchall()

    def apply_report(
        self, batch_id: int, delivered: list[str], failed: list[str], pending: list[str]
    ) -> None:
        """Join a report's numbers back to the batch's messages.

        Only numbers of this batch count (a report is matched by number, normalised). Numbers
        missing from every list are not reported yet, except in a partial batch whose report has
        settled (nothing pending): those were never sent (`not_sent`), and a later run may send
        them.
        """
        partial = self.db.execute(
            "SELECT state = 'partial' FROM batches WHERE id = ?", (batch_id,)
        ).fetchone()[0]
        ours = {
            n
            for (n,) in self.db.execute(
                "SELECT number FROM messages WHERE batch_id = ?", (batch_id,)
            )
        }
        lists = {
            "delivered": _ours(delivered, ours),
            "failed": _ours(failed, ours),
            "pending": _ours(pending, ours),
        }
        covered = set().union(*lists.values())
        # One statement sets the commonest state for the whole batch; only the exceptions are
        # then written number by number.
        if covered != ours:
            # An empty report proves nothing (an id the provider does not know, a report not
            # built yet): only a settled report that lists some numbers says who never went.
            settled = covered and not lists["pending"]
            base = "not_sent" if partial and settled else "pending"
        else:
            base = max(lists, key=lambda state: len(lists[state]))
        with self.transaction():
            self.db.execute(
                "UPDATE messages SET state = ? WHERE batch_id = ? AND state IN ('sent', 'pending')",
                (base, batch_id),
            )
            for state, numbers in lists.items():
                if state != base:
                    self.db.executemany(
                        "UPDATE messages SET state = ? WHERE batch_id = ? AND number = ?",
                        ((state, batch_id, number) for number in numbers),
                    )

    def tally(self, run: RunRecord) -> Tally:
        """Counts of the run's messages by state, encoding and segments, in one pass."""
        rows = self.db.execute(
            "SELECT state, encoding, segments, COUNT(*), SUM(copies) FROM messages"
            " WHERE run_id = ? GROUP BY state, encoding, segments",
            (run.id,),
        )
        return Tally([Group(*row) for row in rows])

    def skipped(self, run: RunRecord, limit: int | None = None) -> list[tuple[str, str, str]]:
        return self.db.execute(
            "SELECT row, value, reason FROM skipped WHERE run_id = ? ORDER BY id LIMIT ?",
            (run.id, -1 if limit is None else limit),
        ).fetchall()

    def failed(self, run: RunRecord, limit: int) -> list[tuple[str, str]]:
        """(row, number) of the first failed deliveries."""
        return self.db.execute(
            "SELECT row, number FROM messages WHERE run_id = ? AND state = 'failed' ORDER BY id"
            " LIMIT ?",
            (run.id, limit),
        ).fetchall()

    def skipped_count(self, run: RunRecord) -> int:
        return self.db.execute(
            "SELECT COUNT(*) FROM skipped WHERE run_id = ?", (run.id,)
        ).fetchone()[0]

    def problems(self, run: RunRecord, limit: int) -> list[tuple[str, str, int, int]]:
        """Why messages are still unsent or unknown: (state, error, batches, messages), first
        seen first. Errors of batches whose messages went later are history, not listed."""
        return self.db.execute(
            "SELECT b.state, b.error, COUNT(DISTINCT b.id), COUNT(*) FROM batches b"
            " JOIN messages m ON m.batch_id = b.id WHERE b.run_id = ? AND b.error IS NOT NULL"
            " AND m.state IN ('rejected', 'unknown', 'in_flight')"
            " GROUP BY b.state, b.error ORDER BY MIN(b.id) LIMIT ?",
            (run.id, limit),
        ).fetchall()

    def batch_counts(self, run: RunRecord) -> dict[str, int]:
        return dict(
            self.db.execute(
                "SELECT state, COUNT(*) FROM batches WHERE run_id = ? GROUP BY state", (run.id,)
            ).fetchall()
        )

    def preview(self, run: RunRecord, limit: int) -> list[tuple[str, str, str, int]]:
        return self.db.execute(
            "SELECT row, number, text, segments FROM messages WHERE run_id = ? ORDER BY id LIMIT ?",
            (run.id, limit),
        ).fetchall()

    def results(self, run: RunRecord) -> Iterator[tuple]:
        """Each message, then each skipped row, as export rows (see `results.export_csv`)."""
        yield from self.db.execute(
            "SELECT m.row, m.number, m.state, b.message_id, m.segments, m.copies, m.text"
            " FROM messages m LEFT JOIN batches b ON b.id = m.batch_id WHERE m.run_id = ?"
            " ORDER BY m.id",
            (run.id,),
        )
        for row, value, reason in self.skipped(run):
            yield row, value, "skipped", None, 0, 1, reason


def _marks(values: tuple) -> str:
    return ", ".join("?" * len(values))


def _ours(numbers: list[str], batch: set[str]) -> set[str]:
    """The report's numbers that belong to the batch, in the journal's 5xxxxxxxxx form."""
    found = set()
    for number in numbers:
        if number in batch:
            found.add(number)
            continue
        try:
            normal = phone.normalize(number)
        except InvalidNumberError:
            continue
        if normal in batch:
            found.add(normal)
    return found


class _Transaction:
    def __init__(self, db: sqlite3.Connection, sync: bool):
        self.db = db
        self.sync = sync

    def __enter__(self) -> sqlite3.Connection:
        if self.sync:
            self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        if self.sync:
            self.db.execute("PRAGMA synchronous=NORMAL")
