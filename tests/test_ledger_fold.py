"""Folding the sent ledger in a process of its own (`state.fold`): what a run does while it reads
its reports. Real child processes on real SQLite files."""

from __future__ import annotations

import os
import subprocess
import sys

from masgsm_notify.state import fold as fold_module
from masgsm_notify.state.fold import fold_elsewhere
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


def test_a_fold_in_a_process_of_its_own_folds_the_settled_claims(tmp_path, monkeypatch):
    started = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        started.append((args[0], kwargs))
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(fold_module.subprocess, "Popen", popen)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        settled = claimed(ledger, "them", 300)
        in_flight = claimed(ledger, "others", 2, settle=False)
        fold_elsewhere(ledger)()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (1, 300)
        # Held wherever they are: folded, or still pending while in flight.
        assert ledger.seen(ACCOUNT, settled + in_flight, 0, not_owner="me") == set(
            settled + in_flight
        )
    ((command, options),) = started
    assert command == [
        sys.executable,
        "-m",
        "masgsm_notify.state.fold",
        str(tmp_path / "ledger.sqlite"),
    ]
    assert options["start_new_session"]  # a Ctrl-C at the run's terminal is the run's alone


def test_where_no_process_can_be_started_the_fold_runs_on_a_thread(tmp_path, monkeypatch):
    def refused(*args, **kwargs):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(fold_module.subprocess, "Popen", refused)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        claimed(ledger, "them", 3)
        fold_elsewhere(ledger)()
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, 3)


def test_the_fold_process_says_by_its_status_alone_that_it_could_not_fold(tmp_path):
    """A fold is never needed for correctness: a ledger that cannot be opened gives status 1
    and not a word on the run's terminal."""
    (tmp_path / "not-a-folder").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "masgsm_notify.state.fold", str(tmp_path / "not-a-folder" / "l")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "")


def test_the_fold_process_folds_a_ledger_file_and_says_so(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        claimed(ledger, "them", 5)
    done = subprocess.run(
        [sys.executable, "-m", "masgsm_notify.state.fold", str(tmp_path / "ledger.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert (rows(ledger, "pending"), rows(ledger, "sent")) == (0, 5)
