"""Past runs from every journal the state directory knows, for `masgsm-notify runs`.

A reader, like `check`: it opens journals without ever taking a writer's lock, so it may run
while a run (or `serve`) is sending. Whether some process is writing a journal is read from the
kernel's table of locks (/proc/locks) instead of by trying the lock, which would turn a writer
starting at that moment away; where that table is missing, from the process id the writer left
in the journal.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MasgsmError
from ..states import MessageState
from .journal import Journal
from .journals import known_journals
from .records import RunRecords
from .summary import Counts

LOCKS = Path("/proc/locks")


@dataclass(frozen=True)
class PastRun:
    run_key: str
    name: str
    pipeline: str
    journal: Path
    started: float
    ended: float | None
    state: str  # planning, planned, sending, interrupted, limited, finished
    counts: Counts

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "run_key": self.run_key,
            "name": self.name,
            "pipeline": self.pipeline,
            "journal": str(self.journal),
            "started": _iso(self.started),
            "ended": _iso(self.ended),
            "state": self.state,
            "rows": counts.rows,
            **counts.beside(),
            "messages": counts.messages,
            "credits": counts.credits,
            "credits_sent": counts.credits_sent,
            "outcomes": counts.outcomes,
        }


@dataclass(frozen=True)
class History:
    runs: list[PastRun]  # newest first
    journals: list[Path]  # every journal looked at
    unreadable: list[str]  # journals that could not be read, and why
    more: int  # runs left out by `last`


def past_runs(journals: list[Path] | None = None, last: int | None = 20) -> History:
    """The `last` newest runs (all with None) of `journals`, by default every journal known
    from the state directory and the working folder (see `journals.known_journals`)."""
    paths = known_journals(Path.cwd()) if journals is None else journals
    found: list[PastRun] = []
    unreadable: list[str] = []
    total = 0
    for path in paths:
        try:
            with Journal(path) as journal:
                total += journal.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                found += _runs_of(journal, last)
        except MasgsmError as error:  # another version's journal, or not a journal at all
            unreadable.append(str(error))
    found.sort(key=lambda run: run.started, reverse=True)
    shown = found if last is None else found[:last]
    return History(shown, paths, unreadable, total - len(shown))


def _runs_of(journal: Journal, last: int | None) -> list[PastRun]:
    writing = is_being_written(journal)
    runs = journal.latest_runs(-1 if last is None else last)
    found = []
    for position, run in enumerate(runs):
        records = RunRecords(journal, run)
        ended = journal.db.execute(
            "SELECT MAX(COALESCE(answered_at, started_at)) FROM batches WHERE run_id = ?",
            (run.id,),
        ).fetchone()[0]
        found.append(
            PastRun(
                run_key=run.run_key,
                name=run.name,
                pipeline=run.pipeline,
                journal=journal.path,
                started=run.created_at,
                ended=ended or run.planned_at,
                # Only a journal's newest run can be the one its writer is working on.
                state=run_state(records, writing and position == 0),
                counts=Counts.of(records),
            )
        )
    return found


def run_state(records: RunRecords, writing: bool) -> str:
    """Where a run stands: planning, planned (nothing sent yet), sending, interrupted (texts
    left to send or in flight, and nobody sending them), limited (the rest held by --limit),
    or finished (reports may still be pending: the counts say)."""
    run = records.run
    if run.planned_at is None:
        return "planning" if writing else "interrupted"
    tally = records.tally()
    left = records.to_send()
    in_flight = tally.messages((MessageState.IN_FLIGHT,))
    if writing and (left or in_flight):
        return "sending"
    if in_flight:
        return "interrupted"
    if left:
        return "interrupted" if records.ever_attempted() else "planned"
    return "limited" if records.held().messages else "finished"


def is_being_written(journal: Journal) -> bool:
    """True while some process holds the journal's writer lock, found without trying it."""
    status = journal.path.stat()
    try:
        table = LOCKS.read_text()
    except OSError:
        return _writer_alive(journal)
    wanted = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == wanted:
            return True
    return False


def _writer_alive(journal: Journal) -> bool:
    row = journal.db.execute("SELECT pid, host FROM writer").fetchone()
    if row is None or row[1] != socket.gethostname():
        return False
    try:
        os.kill(row[0], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return dt.datetime.fromtimestamp(moment).astimezone().isoformat(timespec="seconds")
