"""serve's queue: every accepted payload, from its 202 until its run is concluded.

A payload is answered 202 only once its row is committed here, so it survives the process being
killed from then on; its state moves waiting -> running -> done (texts sent, then concluded when
its reports are read) or failed (with the error). A payload found running at start was
interrupted: it waits again and its run resumes under the same run key, so nothing it already
sent goes twice. One serve process works a queue at a time (a `flock` on the file, as journals
have); `queue list` and `queue retry` are readers and writers that need no lock.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import JournalBusyError, UsageError
from ..state import paths
from ..state.lock import WriterLock
from ..state.sqlite import Database

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS payloads (
    id INTEGER PRIMARY KEY,
    pipeline TEXT NOT NULL,
    key TEXT NOT NULL,
    run_key TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',
    attempts INTEGER NOT NULL DEFAULT 0,
    first_attempt_at REAL,
    not_before REAL NOT NULL DEFAULT 0,
    sent_at REAL,
    finished_at REAL,
    texts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    outcome TEXT,
    concluded_at REAL
);
CREATE INDEX IF NOT EXISTS payloads_by_key ON payloads(pipeline, key, received_at);
CREATE INDEX IF NOT EXISTS payloads_by_state ON payloads(pipeline, state, id);
CREATE TABLE IF NOT EXISTS server (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at REAL NOT NULL,
    address TEXT NOT NULL
);
"""
QUEUE_SUFFIX = ".queue.sqlite"


class PayloadState(str, Enum):
    WAITING = "waiting"  # accepted; not run yet, or to be tried again (not before not_before)
    RUNNING = "running"  # its run is under way (or was, when a process died)
    DONE = "done"  # its texts were sent; `concluded_at` once its reports are read
    FAILED = "failed"  # will not be tried again unless someone asks (`queue retry`)

    def __str__(self) -> str:
        return self.value


UNFINISHED = (PayloadState.WAITING, PayloadState.RUNNING)
_COLUMNS = (
    "id, pipeline, key, run_key, received_at, state, attempts, first_attempt_at, not_before,"
    " sent_at, finished_at, texts, error, outcome, concluded_at"
)


@dataclass(frozen=True)
class Payload:
    """One queued payload, without its body (`QueueStore.body` reads that)."""

    id: int
    pipeline: str
    key: str
    run_key: str
    received_at: float
    state: str
    attempts: int
    first_attempt_at: float | None
    not_before: float
    sent_at: float | None
    finished_at: float | None
    texts: int
    error: str | None
    outcome: str | None  # the concluded run's summary counts, as JSON
    concluded_at: float | None

    def to_dict(self) -> dict[str, Any]:
        found = dict(self.__dict__)
        found["outcome"] = json.loads(self.outcome) if self.outcome else None
        return found


@dataclass(frozen=True)
class Arrival:
    """A payload as it arrives: which pipeline, its idempotency key, its bytes."""

    pipeline: str
    key: str
    body: bytes


def queue_path(journal: Path | None) -> Path:
    """`queue.sqlite` in the state directory; beside `--journal FILE` when one is named, so two
    serve processes with their own journals share the state directory but not a queue."""
    if journal is None:
        return paths.state_dir() / "queue.sqlite"
    journal = Path(journal)
    return journal.with_name(journal.stem + QUEUE_SUFFIX)


def run_key_for(pipeline: str, key: str, payload_id: int) -> str:
    """The run key of a payload: its pipeline, its idempotency key, and its place in the queue
    (an identical payload accepted again after the dedupe window is a new notification)."""
    return f"{pipeline}-{key[:12]}-{payload_id}"


class QueueStore(Database):
    """The queue file. Every method is one transaction; a lock serialises this process's
    threads, which share one connection."""

    kind = "queue"

    def __init__(self, path: Path):
        super().__init__(Path(os.path.realpath(path)), SCHEMA, SCHEMA_VERSION)
        self._guard = threading.Lock()
        self._owner = WriterLock(self.path)

    def close(self) -> None:
        super().close()
        self._owner.release()

    def own(self, address: str) -> None:
        """Become the one serve process working this queue, or fail naming the one that is."""
        if not self._owner.acquire():
            row = self._read("SELECT pid, host, started_at, address FROM server").fetchone()
            holder = (
                f"pid {row[0]} on {row[1]}, serving {row[3]} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(row[2]))}"
                if row
                else "another process"
            )
            raise JournalBusyError(
                f"{self.path} is in use by {holder}; one serve works a queue at a time (give "
                "another serve its own --journal, or its own MASGSM_STATE_DIR)."
            )
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO server (id, pid, host, started_at, address)"
                " VALUES (1, ?, ?, ?, ?)",
                (os.getpid(), socket.gethostname(), time.time(), address),
            )

    def _write(self, sync: bool = False) -> Any:
        return _Locked(self._guard, self.transaction(sync))

    def _read(self, sql: str, params: tuple = ()) -> Any:
        """A query's rows, read whole under the lock (another thread may be mid-transaction on
        the shared connection)."""
        with self._guard:
            return _Rows(self.db.execute(sql, params).fetchall())

    # -- accepting -----------------------------------------------------------------------------

    def accept(
        self, arrivals: list[Arrival], window: float, sync: bool = False
    ) -> list[tuple[str, int]]:
        """Commit a group of arrivals in one transaction: ("accepted", id) for each new one,
        ("duplicate", id of the first) for a key this pipeline accepted within `window` s."""
        now = time.time()
        answers: list[tuple[str, int]] = []
        with self._write(sync) as db:
            for arrival in arrivals:
                seen = (
                    db.execute(
                        "SELECT id FROM payloads WHERE pipeline = ? AND key = ?"
                        " AND received_at >= ? ORDER BY id LIMIT 1",
                        (arrival.pipeline, arrival.key, now - window),
                    ).fetchone()
                    if window > 0
                    else None
                )
                if seen:
                    answers.append(("duplicate", seen[0]))
                    continue
                cursor = db.execute(
                    "INSERT INTO payloads (pipeline, key, run_key, body, received_at)"
                    " VALUES (?, ?, '', ?, ?)",
                    (arrival.pipeline, arrival.key, arrival.body, now),
                )
                payload_id = cursor.lastrowid
                assert payload_id is not None
                db.execute(
                    "UPDATE payloads SET run_key = ? WHERE id = ?",
                    (run_key_for(arrival.pipeline, arrival.key, payload_id), payload_id),
                )
                answers.append(("accepted", payload_id))
        return answers

    # -- working -------------------------------------------------------------------------------

    def recover(self) -> int:
        """At start: payloads a dead process left running wait again (and resume their run)."""
        with self._write() as db:
            return db.execute(
                "UPDATE payloads SET state = ?, error = 'interrupted; resumed at start'"
                " WHERE state = ?",
                (PayloadState.WAITING, PayloadState.RUNNING),
            ).rowcount

    def next_for(self, pipeline: str) -> Payload | None:
        """The pipeline's oldest unfinished payload: the one that must go before any other."""
        row = self._read(
            f"SELECT {_COLUMNS} FROM payloads WHERE pipeline = ? AND state IN (?, ?)"
            " ORDER BY id LIMIT 1",
            (pipeline, *UNFINISHED),
        ).fetchone()
        return Payload(*row) if row else None

    def body(self, payload_id: int) -> bytes:
        row = self._read("SELECT body FROM payloads WHERE id = ?", (payload_id,)).fetchone()
        return bytes(row[0]) if row else b""

    def start(self, payload_id: int) -> None:
        now = time.time()
        with self._write() as db:
            db.execute(
                "UPDATE payloads SET state = ?, attempts = attempts + 1,"
                " first_attempt_at = COALESCE(first_attempt_at, ?) WHERE id = ?",
                (PayloadState.RUNNING, now, payload_id),
            )

    def sent(self, payload_id: int, texts: int, sent_at: float | None) -> None:
        """Its texts went (or nothing was left to send): done, its reports still to be read."""
        with self._write() as db:
            db.execute(
                "UPDATE payloads SET state = ?, texts = ?, sent_at = COALESCE(sent_at, ?),"
                " finished_at = ?, error = NULL WHERE id = ?",
                (PayloadState.DONE, texts, sent_at, time.time(), payload_id),
            )

    def wait_again(self, payload_id: int, not_before: float, reason: str) -> None:
        """Back to waiting, not before `not_before` (a retry, or a closed send window)."""
        with self._write() as db:
            db.execute(
                "UPDATE payloads SET state = ?, not_before = ?, error = ? WHERE id = ?",
                (PayloadState.WAITING, not_before, reason, payload_id),
            )

    def fail(self, payload_id: int, error: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE payloads SET state = ?, error = ?, finished_at = ? WHERE id = ?",
                (PayloadState.FAILED, error, time.time(), payload_id),
            )

    def conclude(self, payload_id: int, outcome: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE payloads SET outcome = ?, concluded_at = ? WHERE id = ?",
                (json.dumps(outcome), time.time(), payload_id),
            )

    def unconcluded(self) -> list[Payload]:
        """Payloads whose texts went but whose reports were never read to the end (a stop came
        first): read again at start."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM payloads WHERE state = ? AND concluded_at IS NULL"
            " AND texts > 0 ORDER BY id",
            (PayloadState.DONE,),
        ).fetchall()
        return [Payload(*row) for row in rows]

    def prune(self, older_than: float) -> int:
        """Forget concluded payloads older than `older_than` seconds (their bodies may hold
        personal data; their runs stay in the journal)."""
        with self._write() as db:
            return db.execute(
                "DELETE FROM payloads WHERE state = ? AND concluded_at IS NOT NULL"
                " AND received_at < ?",
                (PayloadState.DONE, time.time() - older_than),
            ).rowcount

    # -- reading and operating -----------------------------------------------------------------

    def depth(self) -> dict[tuple[str, str], int]:
        """(pipeline, state) -> how many payloads wait or run."""
        rows = self._read(
            "SELECT pipeline, state, COUNT(*) FROM payloads WHERE state IN (?, ?)"
            " GROUP BY pipeline, state",
            UNFINISHED,
        )
        return {(pipeline, state): count for pipeline, state, count in rows}

    def listing(
        self, state: str | None = None, pipeline: str | None = None, limit: int = 50
    ) -> list[Payload]:
        """The newest payloads first, of one state and pipeline when named."""
        where, params = [], []
        if state:
            where.append("state = ?")
            params.append(state)
        if pipeline:
            where.append("pipeline = ?")
            params.append(pipeline)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM payloads {clause} ORDER BY id DESC LIMIT ?", (*params, limit)
        ).fetchall()
        return [Payload(*row) for row in rows]

    def retry(self, payload_id: int) -> Payload:
        """Make a failed payload wait again; its run resumes under the same run key, so texts
        it already sent do not go again."""
        with self._write() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM payloads WHERE id = ?", (payload_id,)
            ).fetchone()
            if row is None:
                raise UsageError(f"{self.path}: no payload {payload_id}.")
            found = Payload(*row)
            if found.state != PayloadState.FAILED:
                raise UsageError(
                    f"Payload {payload_id} is {found.state}, not failed; only a failed payload "
                    "is retried."
                )
            db.execute(
                "UPDATE payloads SET state = ?, not_before = 0, first_attempt_at = NULL,"
                " finished_at = NULL, error = 'retry asked' WHERE id = ?",
                (PayloadState.WAITING, payload_id),
            )
        return found

    def server(self) -> str:
        """`ADDRESS (pid N)`: the serve process that last worked this queue."""
        row = self._read("SELECT address, pid FROM server").fetchone()
        return f"{row[0]} (pid {row[1]})" if row else "a serve process"


class _Rows(list):
    """Fetched rows, read like a cursor."""

    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list:
        return list(self)


class _Locked:
    """A transaction taken under this process's lock on the shared connection."""

    def __init__(self, guard: threading.Lock, transaction: Any):
        self.guard = guard
        self.transaction = transaction

    def __enter__(self) -> Any:
        self.guard.acquire()
        try:
            return self.transaction.__enter__()
        except BaseException:
            self.guard.release()
            raise

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self.transaction.__exit__(*exc_info)
        finally:
            self.guard.release()


def existing_queue(path: Path) -> QueueStore | None:
    """The queue for `queue list` and `queue retry`, or None when serve never ran here."""
    return QueueStore(path) if path.is_file() else None


def served(path: Path) -> bool:
    """True while a serve process works the queue at `path`. Asked before this process opens
    the file with SQLite: closing the probe's descriptor would drop SQLite's own locks."""
    if not path.is_file():
        return False
    probe = WriterLock(Path(os.path.realpath(path)))
    if probe.acquire():
        probe.release()
        return False
    return True
