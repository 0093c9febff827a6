"""The project's SQLite files (journals, the ledger): owner-only, WAL, versioned, patient.

Several processes share these files (a cron run, `serve`, `check`), so every connection waits a
bounded time for another writer instead of failing at once, and every write is a transaction
that commits whole or not at all. Whatever SQLite or the operating system refuses (a full disk,
a lock held past the wait, a read-only file or folder) leaves as a `StorageError` naming the file
and what to do, from every statement: a failed transaction is rolled back whole.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import MasgsmError, StorageError
from ..retry import polling, retry
from .failures import storage_error
from .paths import private_file

PATIENCE = 10.0  # seconds to wait for another process holding a write lock
# What the files ask of SQLite: upserts (3.24) and the JSON functions (built in since 3.38, an
# option before it that most builds turned on).
OLDEST_SQLITE = (3, 24, 0)


class Database:
    """One SQLite file with its schema at `version`; older versions are upgraded in place.

    `upgrades[n]` takes a database at version n to n + 1. A version newer than this code's is
    refused: another release wrote it.
    """

    kind = "database"  # how messages name it: "journal", "ledger"

    def __init__(
        self,
        path: Path,
        schema: str,
        version: int,
        upgrades: Mapping[int, Callable[[sqlite3.Connection], None]] | None = None,
    ):
        self.path = path
        missing = missing_sqlite_features()
        if missing:
            raise StorageError(
                f"{path}: cannot open the {self.kind}: this Python's SQLite {missing}. "
                "masgsm-notify needs SQLite 3.24 or later with its JSON functions (built in "
                "since 3.38): use a Python whose sqlite3 module has one (python.org's "
                "installers and current Linux distributions' Pythons do).",
                path=str(path),
                problem="old-sqlite",
            )
        try:
            private_file(path)  # before SQLite creates it, and its -wal and -shm, with its mode
            self.db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, factory=Connection
            )
            self.db.label = (path, self.kind)
            self.db.execute(f"PRAGMA busy_timeout={int(PATIENCE * 1000)}")
            self._use_wal()
            self.db.execute("PRAGMA synchronous=NORMAL")
            with self.transaction():  # one process at a time creates or upgrades the tables
                found = self.db.execute("PRAGMA user_version").fetchone()[0]
                if found > version:
                    raise MasgsmError(
                        f"{path}: this {self.kind} was written by a newer masgsm-notify (schema "
                        f"{found}, this one reads up to {version}); upgrade masgsm-notify."
                    )
                if found and found < version:
                    for step in range(found, version):
                        if upgrades is None or step not in upgrades:
                            raise MasgsmError(
                                f"{path}: this {self.kind} has schema {found}, which this "
                                f"version cannot upgrade; use a new one."
                            )
                        upgrades[step](self.db)
                for statement in schema.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={version}")
        except (sqlite3.Error, OSError) as error:
            raise storage_error(path, self.kind, error, waited=PATIENCE) from error

    def _use_wal(self) -> None:
        """Switch to WAL. Two processes creating one file at the same moment make SQLite refuse
        the switch at once, without waiting on the busy timeout, so it is polled."""
        retry(
            lambda: self.db.execute("PRAGMA journal_mode=WAL"),
            worth_retrying=lambda error: getattr(error, "problem", None) == "busy",
            pauses=polling(PATIENCE),
        )

    def transaction(self, sync: bool = False) -> Transaction:
        """`with database.transaction():` commits on success and rolls back on error.

        `sync` makes this one commit wait for the disk (SQLite's synchronous=FULL).
        """
        return Transaction(self.db, sync)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class Connection(sqlite3.Connection):
    """A connection whose statements raise `StorageError` (naming the file) for whatever SQLite
    or the disk refuses, so no caller meets a bare `sqlite3.Error`."""

    label: tuple[Path, str] = (Path("?"), "database")  # (path, kind), set once opened

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as error:
            raise self.failure(error) from error

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.Error as error:
            raise self.failure(error) from error

    def failure(self, error: sqlite3.Error) -> StorageError:
        return storage_error(*self.label, error, waited=PATIENCE)


class Transaction:
    def __init__(self, db: Connection, sync: bool):
        self.db = db
        self.sync = sync

    def __enter__(self) -> Connection:
        if self.sync:
            self.db.execute("PRAGMA synchronous=FULL")
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:  # a signal's exception may come just after BEGIN took effect
            self._end()
            raise
        return self.db

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        try:
            if exc_type is None:
                self.db.execute("COMMIT")
        finally:
            self._end()

    def _end(self) -> None:
        """After an error (or a commit that failed) nothing of the transaction may stay.

        SQLite has already rolled back after some errors (a full disk): then there is nothing
        left to roll back, and a failing rollback must not hide the first error.
        """
        if self.db.in_transaction:
            with contextlib.suppress(StorageError):
                self.db.execute("ROLLBACK")
        if self.sync:
            with contextlib.suppress(StorageError):
                self.db.execute("PRAGMA synchronous=NORMAL")


@functools.cache
def missing_sqlite_features() -> str | None:
    """What this Python's SQLite lacks that the files need, said for a person; None when
    nothing is. Found before any file is made, instead of as a failing statement mid-run."""
    if sqlite3.sqlite_version_info < OLDEST_SQLITE:
        return f"is {sqlite3.sqlite_version}, older than 3.24"
    if not has_json_functions():
        return f"({sqlite3.sqlite_version}) was built without its JSON functions"
    return None


def has_json_functions() -> bool:
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("SELECT value FROM json_each('[1]')").fetchall()
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()
    return True


def marks(values: tuple | list) -> str:
    """`?, ?, ?` for an IN (...) of `values`."""
    return ", ".join("?" * len(values))
