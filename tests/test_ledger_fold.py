"""Folding the sent ledger alongside the reading of reports (`state.fold`): a large fold in a
process of its own, a small one on a thread, and a fold never lost to a process that did not do
it. Real child processes on real SQLite files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from helpers.journal import query
from helpers.pipelines import mobile_numbers, people_pipeline, run_pipeline
from helpers.sandbox import accepted

from masgsm_notify.state import fold as fold_module
from masgsm_notify.state import sqlite as sqlite_module
from masgsm_notify.state.fold import REFUSED, fold_alongside
from masgsm_notify.state.ledger import ACCEPTED, Ledger, account_key, digest

ACCOUNT = account_key("http://127.0.0.1:8080/MasApiV2", "5300000000")


def claimed(ledger: Ledger, owner: str, count: int, settle: bool = True) -> list:
    pairs = [(f"53{i:08d}", digest(f"{owner} {i}")) for i in range(count)]
    claims = ledger.claim(ACCOUNT, pairs, owner=owner, run_key=owner, since=0)
    if settle:
        ledger.settle(claims.id, ACCEPTED)
    return pairs


def rows(ledger: Ledger, table: str) -> int:
    return ledger.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.fixture
def started(monkeypatch):
    """The fold processes started: (command, options) each."""
    calls: list = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        calls.append((args[0], kwargs))
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(fold_module, "ELSEWHERE_AT", 100)
    return calls


def python_that_exits(tmp_path, status: int) -> str:
    """An executable that ends at once with `status`, as a fold process that could not run."""
    script = tmp_path / f"exits-{status}"
    script.write_text(f"#!/bin/sh\nexit {status}\n")
    script.chmod(0o755)
    return str(script)


def test_a_large_fold_alongside_the_reports_runs_quietly_in_a_process_of_its_own(
    tmp_path, monkeypatch, started
):
    # What the working directory holds (another masgsm_notify, a module named as the standard
    # library's) must not be what the process imports.
    elsewhere = tmp_path / "a checkout of another version"
    (elsewhere / "masgsm_notify" / "state").mkdir(parents=True)
    (elsewhere / "masgsm_notify" / "__init__.py").write_text("")
    (elsewhere / "masgsm_notify" / "state" / "__init__.py").write_text("")
    imported = f"open({str(tmp_path / 'wrong module')!r}, 'w').close()\n"
    (elsewhere / "masgsm_notify" / "state" / "fold.py").write_text(
        f"def main(path):\n    {imported}    return 0\n"
    )
    (elsewhere / "sqlite3.py").write_text(imported)
    monkeypatch.chdir(elsewhere)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        settled = claimed(ledger, "them", 300)
        in_flight = claimed(ledger, "others", 2, settle=False)
        fold_alongside(ledger, overlapped=True)()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (1, 300)
        assert ledger.claimed_since_fold == 0
        # Held wherever they are: folded, or still pending while in flight.
        both = settled + in_flight
        assert ledger.seen(ACCOUNT, both, 0, not_owner="me") == set(both)
    assert not (tmp_path / "wrong module").exists()
    ((command, options),) = started
    assert command[0] == sys.executable and command[-1] == str(tmp_path / "ledger.sqlite")
    # A Ctrl-C at the run's terminal is the run's alone, and the process says nothing there.
    assert options["start_new_session"]
    assert options["stdout"] == options["stderr"] == subprocess.DEVNULL


@pytest.mark.parametrize("count, overlapped", [(3, True), (300, False)])
def test_a_small_fold_or_one_with_nothing_alongside_stays_in_the_run(
    tmp_path, started, count, overlapped
):
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        claimed(ledger, "them", count)
        fold_alongside(ledger, overlapped)()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, count)
    assert started == []


@pytest.mark.parametrize("frozen, executable", [(True, sys.executable), (False, "")])
def test_where_the_executable_is_not_python_the_fold_runs_on_a_thread(
    tmp_path, monkeypatch, started, frozen, executable
):
    """A frozen application's executable is the application; an embedded one may have none."""
    monkeypatch.setattr(fold_module.sys, "frozen", frozen, raising=False)
    monkeypatch.setattr(fold_module.sys, "executable", executable)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        claimed(ledger, "them", 300)
        fold_alongside(ledger, overlapped=True)()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, 300)
    assert started == []


def test_where_no_process_can_be_started_the_fold_runs_on_a_thread(tmp_path, monkeypatch):
    def refused(*args, **kwargs):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", refused)
    monkeypatch.setattr(fold_module, "ELSEWHERE_AT", 1)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        claimed(ledger, "them", 3)
        fold_alongside(ledger, overlapped=True)()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, 3)


def test_a_fold_process_that_did_not_fold_is_made_good_by_the_run(tmp_path, monkeypatch, started):
    """It could not start Python, or it crashed: the run folds on its own."""
    monkeypatch.setattr(fold_module.sys, "executable", python_that_exits(tmp_path, 1))
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        claimed(ledger, "them", 300)
        fold_alongside(ledger, overlapped=True)()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, 300)
        assert ledger.claimed_since_fold == 0
    assert len(started) == 1


def test_a_fold_the_ledger_refused_is_left_for_the_next(tmp_path, monkeypatch, started):
    monkeypatch.setattr(fold_module.sys, "executable", python_that_exits(tmp_path, REFUSED))
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        claimed(ledger, "them", 300)
        fold_alongside(ledger, overlapped=True)()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (1, 0)
        assert ledger.claimed_since_fold == 300  # still counted towards the next fold


def test_the_fold_process_reports_a_locked_ledger_as_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_module, "PATIENCE", 0.05)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        claimed(ledger, "them", 2)
    other = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert fold_module.main(str(tmp_path / "ledger.sqlite")) == REFUSED
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert fold_module.main(str(tmp_path / "ledger.sqlite")) == 0
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, 2)


@pytest.mark.parametrize("openable", [True, False])
def test_the_fold_process_as_started_folds_or_says_refused(tmp_path, openable):
    path = tmp_path / "ledger.sqlite"
    if openable:
        with Ledger(path) as ledger:
            claimed(ledger, "them", 5)
    else:
        (tmp_path / "not-a-folder").write_text("")
        path = tmp_path / "not-a-folder" / "ledger.sqlite"
    command = [sys.executable, "-c", fold_module._CHILD, fold_module._PACKAGE_HOME, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == ((0 if openable else REFUSED), "", "")
    if openable:
        with Ledger(path) as ledger:
            assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, 5)


def test_a_run_large_enough_folds_in_a_process_and_leaves_every_pair_in_the_index(
    sandbox, cli_env, tmp_path
):
    """A real run of `ELSEWHERE_AT` recipients against the sandbox: its pairs are folded by the
    time it ends, while it read its reports."""
    count = fold_module.ELSEWHERE_AT
    pipeline = people_pipeline(
        tmp_path,
        mobile_numbers(count),
        name="many",
        text="Sayın {{ name }}, faturanız hazır.",
        send="batch_size: 500, concurrency: 4",
        # The sandbox fails a number in a hundred, by design; those were sent all the same.
        report="report: {wait: 5s, poll_every: 100ms, fail_if: 'unknown + not_sent > 0'}\n",
    )
    result = run_pipeline(pipeline, cli_env, "--json", journal="default")
    assert result.returncode == 0, result.output
    assert len(accepted(sandbox)) == count
    ledger = tmp_path / "state" / "ledger.sqlite"
    assert query(ledger, "SELECT COUNT(*) FROM pending") == [(0,)]
    assert query(ledger, "SELECT COUNT(*) FROM sent") == [(count,)]
