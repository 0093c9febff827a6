"""What a run's page shows, read from its journal in a few aggregate queries.

A run may have a million recipients; the page must still be written in seconds and stay a few
megabytes. So every figure here is a `GROUP BY` in SQLite, and the per-recipient table takes at
most `RECIPIENTS_SHOWN` rows, those a person looks for first (not delivered), each kind read in
the order of the run's index until the table is full.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from phonenumbers import PhoneNumber, carrier

from ..pipeline.journal import STATE_NOW, STATE_NOW_ARGS
from ..pipeline.records import RunRecords
from ..state.sqlite import marks
from ..states import OUTCOMES, SET_ASIDE, MessageState

M = MessageState
RECIPIENTS_SHOWN = 10_000
SKIPPED = "skipped"

# Each journal state under the name a person is told (the summary's contract names).
OUTCOME_OF_STATE: dict[str, str] = {
    state: name
    for group in (OUTCOMES, SET_ASIDE)
    for name, states in group.items()
    for state in states
}
# The order of the per-recipient table: what went wrong first, then what is still open, then
# what was set aside on purpose (any other state), and the delivered last.
_FIRST: tuple[tuple[str, ...], ...] = (
    (M.FAILED,),
    (M.UNKNOWN, M.IN_FLIGHT),
    (M.REJECTED, M.NOT_SENT, M.PLANNED),
    (SKIPPED,),
    (M.SENT, M.PENDING),
)
SHOWN_ORDER = (
    *_FIRST,
    tuple(s for s in M if s != M.DELIVERED and all(s not in group for group in _FIRST)),
    (M.DELIVERED,),
)

# Why recipients were not delivered, where no batch error says more.
_REASON_OF_STATE = {
    M.FAILED: "the operator reported it undelivered (Hatali)",
    M.UNKNOWN: "the request left but no usable answer came back",
    M.IN_FLIGHT: "the request left but no answer was recorded",
    M.REJECTED: "refused before it was sent",
    M.NOT_SENT: "beyond a partial send (the provider took only part of the batch)",
    M.PLANNED: "never attempted (the run stopped before it)",
}


def label(name: str) -> str:
    """A contract name as words: `not_sent` is "not sent"."""
    return name.replace("_", " ")


@dataclass(frozen=True)
class Recipient:
    row: str
    number: str  # a skipped row's value as it was given
    outcome: str
    state: str
    segments: int
    copies: int  # recipient rows merged into this message (1: none)
    message_id: str | None


@dataclass(frozen=True)
class Reason:
    outcome: str
    reason: str
    recipients: int


@dataclass(frozen=True)
class PrefixLine:
    """Recipients of one operator range (`5xx`), by outcome."""

    prefix: str
    operator: str
    outcomes: dict[str, int]

    @property
    def recipients(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed_percent(self) -> float | None:
        """Failed among those with a final report; None while no report is final."""
        delivered, failed = self.outcomes.get("delivered", 0), self.outcomes.get("failed", 0)
        return 100 * failed / (delivered + failed) if delivered + failed else None


@dataclass(frozen=True)
class Moments:
    """When the run did what (seconds since the epoch; None: it has not happened)."""

    created: float
    planned: float | None
    first_batch: float | None
    last_answer: float | None

    @property
    def ended(self) -> float:
        return max(t for t in (self.created, self.planned, self.last_answer) if t is not None)


def moments(records: RunRecords) -> Moments:
    first, last = records.db.execute(
        "SELECT MIN(started_at), MAX(COALESCE(answered_at, started_at)) FROM batches"
        " WHERE run_id = ?",
        (records.run.id,),
    ).fetchone()
    return Moments(records.run.created_at, records.run.planned_at, first, last)


def reasons(records: RunRecords, dry_run: bool = False) -> list[Reason]:
    """Recipients not delivered (and rows skipped), grouped by why, most first."""
    states = tuple(_REASON_OF_STATE)
    why = (
        {**_REASON_OF_STATE, M.PLANNED: "a dry run sends nothing"} if dry_run else _REASON_OF_STATE
    )
    found = [
        Reason(OUTCOME_OF_STATE[state], error or why[state], rows)
        for state, error, rows in records.db.execute(
            f"SELECT {STATE_NOW} AS now, b.error, SUM(m.copies) FROM messages m"
            " LEFT JOIN batches b ON b.id = m.batch_id"
            f" WHERE m.run_id = ? GROUP BY now, b.error HAVING now IN ({marks(states)})",
            (*STATE_NOW_ARGS, records.run.id, *states),
        )
    ]
    found += [
        Reason(SKIPPED, reason, rows)
        for reason, rows in records.db.execute(
            "SELECT reason, COUNT(*) FROM skipped WHERE run_id = ? GROUP BY reason",
            (records.run.id,),
        )
    ]
    return sorted(found, key=lambda r: (-r.recipients, r.outcome, r.reason))


def prefixes(records: RunRecords) -> list[PrefixLine]:
    """Recipients the run meant to send to, by operator range and outcome, in range order.

    The page's one sort of the whole run, so it reads through a connection of its own: the
    page's other queries can run beside it (SQLite lets go of Python's lock while it works).
    """
    states = [state for group in OUTCOMES.values() for state in group]
    lines: dict[str, dict[str, int]] = {}
    reader = sqlite3.connect(f"{records.journal.path.as_uri()}?mode=ro", uri=True)
    try:
        found = reader.execute(
            f"SELECT substr(m.number, 1, 3), {STATE_NOW} AS now, SUM(m.copies) FROM messages m"
            f" WHERE m.run_id = ? GROUP BY 1, 2 HAVING now IN ({marks(states)})",
            (*STATE_NOW_ARGS, records.run.id, *states),
        ).fetchall()
    finally:
        reader.close()
    for prefix, state, rows in found:
        outcomes = lines.setdefault(prefix, {})
        name = OUTCOME_OF_STATE[state]
        outcomes[name] = outcomes.get(name, 0) + rows
    return [PrefixLine(p, operator(p), lines[p]) for p in sorted(lines)]


@functools.lru_cache(maxsize=128)
def operator(prefix: str) -> str:
    """The operator a `5xx` range was given to (libphonenumber's carrier data). A number
    carried to another operator keeps its range, so this is where the number began."""
    if not (len(prefix) == 3 and prefix.isdigit()):
        return ""
    sample = PhoneNumber(country_code=90, national_number=int(prefix + "1234567"))
    return carrier.name_for_number(sample, "en")


def recipients(records: RunRecords, limit: int = RECIPIENTS_SHOWN) -> list[Recipient]:
    """Up to `limit` messages and skipped rows in `SHOWN_ORDER`, each kind in row order.

    One query a kind, only for kinds the run has, each read in the order of the run's index and
    stopped at the limit: no sort of the whole run.
    """
    tally = records.tally()
    found: list[tuple[str, str, str, int, int, int | None]] = []
    for states in SHOWN_ORDER:
        room = limit - len(found)
        if room <= 0:
            break
        if states == (SKIPPED,):
            if records.skipped_count():
                found += [
                    (row, value, SKIPPED, 0, 1, None) for row, value, _ in records.skipped(room)
                ]
        elif tally.messages(states):
            found += records.db.execute(
                f"SELECT m.row, m.number, {STATE_NOW}, m.segments, m.copies, m.batch_id"
                f" FROM messages m WHERE m.run_id = ? AND {STATE_NOW} IN ({marks(states)})"
                " ORDER BY m.id LIMIT ?",
                (*STATE_NOW_ARGS, records.run.id, *STATE_NOW_ARGS, *states, room),
            ).fetchall()
    message_ids = _message_ids(records, {row[5] for row in found if row[5] is not None})
    return [
        Recipient(
            row,
            number,
            OUTCOME_OF_STATE.get(state, state),
            state,
            segments,
            copies,
            None if batch_id is None else message_ids.get(batch_id),
        )
        for row, number, state, segments, copies, batch_id in found
    ]


def recipient_count(records: RunRecords) -> int:
    """Entries of the whole per-recipient list: messages and skipped rows."""
    return records.tally().messages() + records.skipped_count()


def _message_ids(records: RunRecords, batch_ids: Iterable[int]) -> dict[int, str | None]:
    wanted = set(batch_ids)
    if not wanted:
        return {}
    return {
        batch_id: message_id
        for batch_id, message_id in records.db.execute(
            "SELECT id, message_id FROM batches WHERE run_id = ?", (records.run.id,)
        )
        if batch_id in wanted
    }
