"""What a run's journal keeps besides its messages: the outcome counts after each round of
delivery reports, and each balance read.

Messages only hold where each recipient stands now; a report written later (`--html`) also
wants to show how delivery went over time and what the run cost against the account, so those
moments are kept here, one small row each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import MasgsmError
from ..states import OUTCOMES
from .records import RunRecords
from .summary import Counts

# Where a balance was read, as the report names it.
PRE_FLIGHT = "pre-flight"
AFTER_SENDING = "after sending"
AT_CHECK = "at check"

_OUTCOME_COLUMNS = ", ".join(OUTCOMES)


@dataclass(frozen=True)
class Poll:
    """The run's outcomes (contract names) once a round of reports was applied."""

    at: float
    reports: int  # reports read in that round
    outcomes: dict[str, int]


@dataclass(frozen=True)
class BalanceRead:
    at: float
    moment: str
    credits: int


def record_poll(records: RunRecords, reports: int) -> None:
    """Count the run's outcomes now and keep them, with the reports read since the last count."""
    outcomes = Counts.of(records).outcomes
    with records.journal.transaction() as db:
        db.execute(
            f"INSERT INTO report_polls (run_id, at, reports, {_OUTCOME_COLUMNS})"
            f" VALUES (?, ?, ?, {', '.join('?' * len(OUTCOMES))})",
            (records.run.id, time.time(), reports, *(outcomes[name] for name in OUTCOMES)),
        )


class PollLog:
    """Keeps the counts after rounds of reports, spending at most about a tenth of the checking
    time on it: a count is a pass over the whole run (a second or more for a million
    recipients), while a round of a small run is over in milliseconds. Rounds that come too soon
    after a count are folded into the next; `close` keeps the last."""

    SHARE = 0.1

    def __init__(self, records: RunRecords):
        self.records = records
        self.unrecorded: int | None = None  # reports read since the last count (None: no round)
        self.last = 0.0
        self.cost = 0.0

    def after_round(self, reports: int) -> None:
        self.unrecorded = (self.unrecorded or 0) + reports
        if time.monotonic() - self.last >= self.cost / self.SHARE:
            self._count()

    def close(self) -> None:
        if self.unrecorded is not None:
            self._count()

    def _count(self) -> None:
        started = time.monotonic()
        record_poll(self.records, self.unrecorded or 0)
        self.last = time.monotonic()
        self.cost = self.last - started
        self.unrecorded = None


def polls(records: RunRecords) -> list[Poll]:
    rows = records.db.execute(
        f"SELECT at, reports, {_OUTCOME_COLUMNS} FROM report_polls WHERE run_id = ? ORDER BY id",
        (records.run.id,),
    )
    return [
        Poll(at, reports, dict(zip(OUTCOMES, rest, strict=True))) for at, reports, *rest in rows
    ]


def record_balance(records: RunRecords, moment: str, credits: int) -> None:
    with records.journal.transaction() as db:
        db.execute(
            "INSERT INTO balances (run_id, at, moment, credits) VALUES (?, ?, ?, ?)",
            (records.run.id, time.time(), moment, credits),
        )


def read_balance(
    records: RunRecords, moment: str, read: Callable[[], int], note: Callable[[str], None]
) -> None:
    """Read the account's balance now and keep it; a failure is only noted (the run is over)."""
    try:
        credits = read()
    except MasgsmError as error:
        note(f"The balance could not be read for the report: {error}")
        return
    record_balance(records, moment, credits)


def balances(records: RunRecords) -> list[BalanceRead]:
    rows = records.db.execute(
        "SELECT at, moment, credits FROM balances WHERE run_id = ? ORDER BY id",
        (records.run.id,),
    )
    return [BalanceRead(*row) for row in rows]
