"""Storage errors, unit by unit: every refusal of SQLite or the disk becomes one `StorageError`
that names the file, the cause and the remedy, and a failed transaction leaves nothing behind."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from masgsm_notify.errors import StorageError
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.state.failures import storage_error
from masgsm_notify.state.ledger import Ledger


@pytest.mark.parametrize(
    ("error", "problem", "says"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "full", "its disk is full"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "quota", "quota of this user"),
        (OSError(errno.EFBIG, "File too large"), "too-big", "size limit of this process"),
        (OSError(errno.EISDIR, "Is a directory"), "is-a-folder", "that path is a folder"),
        (OSError(errno.ENOTDIR, "Not a directory"), "file-in-the-way", "a file stands where"),
        (OSError(errno.ENOENT, "No such file"), "missing-folder", "its folder does not exist"),
        (sqlite3.OperationalError("database or disk is full"), "full", "its disk is full"),
        (sqlite3.OperationalError("database is locked"), "busy", "kept it locked for more"),
        (sqlite3.OperationalError("disk I/O error"), "io", "I/O error"),
        (sqlite3.DatabaseError("file is not a database"), "corrupt", "not a SQLite database"),
        (sqlite3.OperationalError("no such table: x"), "other", "no such table: x"),
    ],
)
def test_each_refusal_names_the_file_the_cause_and_a_remedy(
    tmp_path: Path, error: BaseException, problem: str, says: str
) -> None:
    found = storage_error(tmp_path / "j.sqlite", "journal", error, waited=10)
    assert isinstance(found, StorageError)
    assert found.problem == problem
    assert found.path == str(tmp_path / "j.sqlite")
    assert str(found).startswith(f"{tmp_path / 'j.sqlite'}: cannot write the journal: ")
    assert says in str(found)
    assert str(found).endswith(".") and "\n" not in str(found)


def test_a_failed_statement_rolls_the_whole_transaction_back(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        with pytest.raises(StorageError) as raised, ledger.transaction() as db:
            db.execute("INSERT INTO journals (path, last_used) VALUES ('a', 1)")
            db.execute("INSERT INTO no_such_table VALUES (1)")
        assert "no such table" in str(raised.value)
        assert str(tmp_path / "ledger.sqlite") in str(raised.value)
        assert ledger.db.execute("SELECT COUNT(*) FROM journals").fetchone() == (0,)
        assert not ledger.db.in_transaction
        with ledger.transaction() as db:  # and the next one works
            db.execute("INSERT INTO journals (path, last_used) VALUES ('b', 1)")
        assert ledger.db.execute("SELECT path FROM journals").fetchall() == [("b",)]


def test_a_file_that_is_not_a_journal_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are notes, not a database\n" * 100)
    with pytest.raises(StorageError) as raised:
        Journal(path)
    assert raised.value.problem == "corrupt"
    assert str(raised.value).startswith(f"{path}: cannot write the journal: the file is damaged")


def test_a_journal_where_a_file_stands_in_its_path(tmp_path: Path) -> None:
    (tmp_path / "journals").write_text("a file where a folder should be")
    with pytest.raises(StorageError) as raised:
        Journal(tmp_path / "journals" / "j.sqlite")
    assert raised.value.problem == "file-in-the-way"
