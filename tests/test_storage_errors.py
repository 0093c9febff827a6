"""Storage errors, unit by unit: every refusal of SQLite or the disk becomes one `StorageError`
that names the file, the cause and the remedy, and a failed transaction leaves nothing behind."""

from __future__ import annotations

import errno
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import assert_no_traceback, run_command, sandbox_env
from helpers.pipelines import mobile_numbers, people_pipeline

from masgsm_notify.errors import StorageError
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.sandbox import SandboxServer
from masgsm_notify.state import sqlite as database
from masgsm_notify.state.failures import storage_error
from masgsm_notify.state.ledger import Ledger
from masgsm_notify.state.sqlite import has_json_functions, missing_sqlite_features


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


@pytest.fixture
def sqlite_says(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh look at this Python's SQLite before and after the test."""
    missing_sqlite_features.cache_clear()
    yield
    monkeypatch.undo()
    missing_sqlite_features.cache_clear()


def test_this_pythons_sqlite_has_what_the_files_need(sqlite_says: None) -> None:
    assert has_json_functions()
    assert missing_sqlite_features() is None


@pytest.mark.parametrize(
    ("version", "json", "says"),
    [
        ((3, 23, 1), True, "SQLite is 3.23.1, older than 3.24"),
        ((3, 31, 1), False, "SQLite (3.31.1) was built without its JSON functions"),
    ],
)
def test_a_sqlite_without_what_the_files_need_is_named_before_any_file_is_made(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_says: None,
    version: tuple[int, int, int],
    json: bool,
    says: str,
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", version)
    monkeypatch.setattr(sqlite3, "sqlite_version", ".".join(map(str, version)))
    monkeypatch.setattr(database, "has_json_functions", lambda: json)
    with pytest.raises(StorageError) as raised:
        Ledger(tmp_path / "ledger.sqlite")
    assert raised.value.problem == "old-sqlite"
    assert str(raised.value).startswith(f"{tmp_path / 'ledger.sqlite'}: cannot open the ")
    assert says in str(raised.value)
    assert "SQLite 3.24 or later with its JSON functions" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


# A run under a Python whose SQLite says it is 3.23: the CLI, in a process of its own.
OLD_SQLITE_RUN = """
import sqlite3, sys
sqlite3.sqlite_version_info = (3, 23, 1)
sqlite3.sqlite_version = "3.23.1"
from masgsm_notify.cli import main
main(sys.argv[1:], prog_name="masgsm-notify")
"""


def test_a_run_on_an_old_sqlite_stops_before_planning_with_one_paragraph(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    pipeline = people_pipeline(
        tmp_path, mobile_numbers(3), name="old-sqlite", text="Merhaba {{ name }}", send=""
    )
    env = sandbox_env(sandbox, tmp_path)
    result = run_command([sys.executable, "-c", OLD_SQLITE_RUN, "run", str(pipeline)], env)
    assert result.returncode == 1, result.output
    assert_no_traceback(result)
    assert "SQLite is 3.23.1, older than 3.24" in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert sandbox.messages() == []
    assert not (tmp_path / "state" / "journals").exists()
