"""One run's records in its journal: its plan, its batches, their answers and their reports.

The batch state machine lives here. A batch is committed as in flight before its request
leaves and as sent (with the provider's message id), partial, rejected or unknown after; a batch
found in flight later, after a crash, is unknown, and is only sent again when the user asks.
Reports are joined back to messages by number. Counts come from one cached pass (`tally`),
redone only after a write.

A batch answered sent or partial is written in its own row alone: its messages stay in flight
until its report sets each one's state, which rewrites them anyway (once instead of twice: the
sending thread's largest write per batch). `tally` counts them as sent meanwhile, in any
process; the run writes down as sent those whose reports it did not read when it ends or stops
(`settle_answered`), and a run found later with such messages (a crash, another process's
`check`) has them written down before anything else (`settle_all_answered`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from operator import itemgetter
from typing import TYPE_CHECKING

from .. import phone
from ..batching import distinct_batches
from ..errors import InvalidNumberError
from ..state.sqlite import marks
from ..states import (
    ANSWERED_SENT,
    AWAITING_REPORT,
    MESSAGE_STATE_OF_BATCH,
    SENDABLE,
    BatchState,
    MessageState,
)
from .journal import STATE_NOW, STATE_NOW_ARGS, Journal, RunRecord
from .tally import Group, Tally

if TYPE_CHECKING:  # compose brings Jinja, which the journal's readers do without
    import sqlite3

    from ..compose import Message

M = MessageState


@dataclass(frozen=True)
class Held:
    """Sendable messages a `--limit` keeps back for a later run: how many, their rows, credits."""

    messages: int = 0
    rows: int = 0
    credits: int = 0


@dataclass(frozen=True)
class Draft:
    """Messages picked for one batch, in journal order, not yet journaled as a batch."""

    ids: list[int]
    numbers: list[str]
    texts: list[str]
    segments: list[int]
    wire: list[str | None] = field(default_factory=list)  # the texts escaped while planning

    @property
    def credits(self) -> int:
        return sum(self.segments)

    def without(self, positions: set[int]) -> Draft:
        keep = [i for i in range(len(self.ids)) if i not in positions]
        return Draft(
            [self.ids[i] for i in keep],
            [self.numbers[i] for i in keep],
            [self.texts[i] for i in keep],
            [self.segments[i] for i in keep],
            [self.wire[i] for i in keep] if self.wire else [],
        )


class RunRecords:
    """This run's records: everything the runner, sender and checker write and read."""

    def __init__(self, journal: Journal, run: RunRecord):
        self.journal = journal
        self.db = journal.db
        self.run = run
        self._tally: Tally | None = None
        self._skipped: int | None = None
        self._held: Held | None = None
        self._unreported: set[int] = set()  # batches answered here, their messages in flight

    def _changed(self) -> None:
        self._tally = None
        self._skipped = None
        self._held = None

    def reload(self) -> RunRecord:
        found = self.journal.find_run(self.run.run_key)
        assert found is not None
        self.run = found
        return found

    # -- planning ------------------------------------------------------------------------------

    def add_planned(
        self,
        messages: Iterable[Message],
        invalid: Iterable[tuple[str, str, str]],
        aside: Mapping[int, MessageState] | None = None,
        wire: Sequence[str] = (),
    ) -> None:
        """Write one part of the plan: (row, number, text, encoding, segments) messages,
        planned unless `aside` gives their position another state, their texts escaped for
        the wire if known (`wire`, kept for this connection), and (row, value, reason)
        invalid rows; `merge_duplicates` runs after the last part.

        The composed tuples go to SQLite as they are (the run id is part of the statement),
        so writing a row costs SQLite's work and no Python of its own.
        """
        with self.journal.transaction() as db:
            written = db.executemany(
                "INSERT INTO messages (run_id, row, number, text, encoding, segments)"
                f" VALUES ({int(self.run.id)}, ?, ?, ?, ?, ?)",
                messages,
            ).rowcount
            # One writer, one transaction: the part's ids are consecutive, ending here.
            last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
            first = last - written + 1
            if wire:
                db.executemany(
                    "INSERT OR REPLACE INTO temp.wire (id, body) VALUES (?, ?)",
                    zip(count(first), wire),
                )
            elif written:  # ids of messages deleted earlier may be used again: none stays stale
                db.execute("DELETE FROM temp.wire WHERE id BETWEEN ? AND ?", (first, last))
            if aside:
                db.executemany(
                    "UPDATE messages SET state = ? WHERE id = ?",
                    ((state, first + position) for position, state in aside.items()),
                )
            db.executemany(
                "INSERT INTO skipped (run_id, row, value, reason) VALUES (?, ?, ?, ?)",
                ((self.run.id, *row) for row in invalid),
            )
        self._changed()

    def forget_wire(self) -> None:
        """Drop the texts escaped while planning (when sending is over, and before a plan), so a
        long-lived process (`serve`) does not keep every plan's."""
        self.db.execute("DELETE FROM temp.wire")

    def merge_duplicates(self) -> int:
        """Fold repeated (number, text) pairs into their first message; return how many went.

        One sort of the whole plan once it is written costs a fraction of what a unique index
        maintained row by row would, and keeps memory flat however many rows there are.
        """
        run_id = self.run.id
        with self.journal.transaction() as db:
            db.execute("DROP TABLE IF EXISTS temp.repeats")
            db.execute(
                "CREATE TEMP TABLE repeats AS SELECT MIN(id) AS keep, COUNT(*) AS copies"
                " FROM messages WHERE run_id = ? GROUP BY number, text HAVING COUNT(*) > 1",
                (run_id,),
            )
            db.execute(
                "UPDATE messages SET copies = (SELECT copies FROM repeats WHERE keep = messages.id)"
                " WHERE id IN (SELECT keep FROM repeats)"
            )
            merged = (
                db.execute(
                    "DELETE FROM messages WHERE run_id = ? AND id NOT IN"
                    " (SELECT MIN(id) FROM messages WHERE run_id = ? GROUP BY number, text)",
                    (run_id, run_id),
                ).rowcount
                if db.execute("SELECT 1 FROM repeats LIMIT 1").fetchone()
                else 0
            )
            db.execute("DROP TABLE temp.repeats")
        self._changed()
        return merged

    def finish_plan(self, rows: int, filtered: int) -> None:
        with self.journal.transaction() as db:
            db.execute(
                "UPDATE runs SET planned_at = ?, rows = ?, filtered = ? WHERE id = ?",
                (time.time(), rows, filtered, self.run.id),
            )
        self.reload()

    def discard(self) -> None:
        """Forget an unfinished or never-sent plan so it can be made again from the inputs."""
        with self.journal.transaction() as db:
            for table in ("messages", "skipped", "batches", "report_polls", "balances", "limits"):
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (self.run.id,))
            db.execute("DELETE FROM runs WHERE id = ?", (self.run.id,))
        self._changed()

    def ever_attempted(self) -> bool:
        """True once any batch of the run may have reached the provider."""
        row = self.db.execute(
            "SELECT 1 FROM batches WHERE run_id = ? AND state != ? LIMIT 1",
            (self.run.id, BatchState.REJECTED),
        ).fetchone()
        return row is not None

    # -- sending -------------------------------------------------------------------------------

    def hold_beyond(self, limit: int | None) -> None:
        """Let this run send only the first `limit` sendable messages, in source order (`--limit`);
        the rest are held for a later run of the same run key. None lifts an earlier limit.

        The limit is kept with the run, so `check` and `runs` still show what it held.
        """
        with self.journal.transaction() as db:
            db.execute("DELETE FROM limits WHERE run_id = ?", (self.run.id,))
            last = (
                None
                if limit is None
                else db.execute(
                    f"SELECT id FROM messages WHERE run_id = ? AND state IN ({marks(SENDABLE)})"
                    " ORDER BY id LIMIT 1 OFFSET ?",
                    (self.run.id, *SENDABLE, limit - 1),
                ).fetchone()
            )
            if last is not None:
                db.execute(
                    "INSERT INTO limits (run_id, held_after_id) VALUES (?, ?)", (self.run.id, *last)
                )
        self._changed()

    def _last_sendable_id(self) -> int:
        """The id after which messages are held (the largest id when nothing is)."""
        row = self.db.execute(
            "SELECT held_after_id FROM limits WHERE run_id = ?", (self.run.id,)
        ).fetchone()
        return row[0] if row else _NO_LIMIT

    def settle_interrupted(self, resend_unknown: bool) -> int:
        """Batches left in flight by a crash become unknown (or sendable again, if asked).

        Returns how many messages were made sendable again.
        """
        with self.journal.transaction() as db:
            self._settle_all_answered(db)  # answered, their reports not read: they went
            db.execute(
                "UPDATE batches SET state = ?, error = 'interrupted while in flight'"
                " WHERE run_id = ? AND state = ?",
                (BatchState.UNKNOWN, self.run.id, BatchState.IN_FLIGHT),
            )
            db.execute(
                "UPDATE messages SET state = ? WHERE run_id = ? AND state = ?",
                (M.UNKNOWN, self.run.id, M.IN_FLIGHT),
            )
            resent = (
                db.execute(
                    "UPDATE messages SET state = ?, batch_id = NULL WHERE run_id = ? AND state = ?",
                    (M.PLANNED, self.run.id, M.UNKNOWN),
                ).rowcount
                if resend_unknown
                else 0
            )
        self._changed()
        return resent

    def drafts(self, size: int) -> Iterator[Draft]:
        """Sendable messages in journal order, `size` at a time, each number once per draft
        (see `batching.distinct_batches`), read from the journal a page at a time."""
        query = (
            # `+run_id` keeps SQLite on the rowid range instead of the run_id index, which
            # would make every page a scan of the whole run.
            "SELECT m.id, m.number, m.text, m.segments, w.body FROM messages m"
            " LEFT JOIN temp.wire w ON w.id = m.id WHERE +m.run_id = ? AND m.id > ?"
            f" AND m.id <= ? AND m.state IN ({marks(SENDABLE)}) ORDER BY m.id LIMIT ?"
        )
        last = self._last_sendable_id()

        def sendable() -> Iterator[tuple[int, str, str, int, str | None]]:
            after = 0
            while rows := self.db.execute(
                query, (self.run.id, after, last, *SENDABLE, size)
            ).fetchall():
                after = rows[-1][0]
                yield from rows

        for batch in distinct_batches(sendable(), size, key=itemgetter(1)):
            ids, numbers, texts, segments, wire = zip(*batch, strict=True)
            yield Draft(list(ids), list(numbers), list(texts), list(segments), list(wire))

    def sendable_numbers(self, size: int) -> Iterator[list[tuple[int, str]]]:
        """(id, number) of the sendable messages, `size` at a time (for screening a resumed run
        against opt-outs and consent before it sends)."""
        after = 0
        query = (
            "SELECT id, number FROM messages WHERE +run_id = ? AND id > ?"
            f" AND state IN ({marks(SENDABLE)}) ORDER BY id LIMIT ?"
        )
        while page := self.db.execute(query, (self.run.id, after, *SENDABLE, size)).fetchall():
            after = page[-1][0]
            yield page

    def set_aside(self, ids: Iterable[int], state: MessageState) -> None:
        """Messages the sent ledger keeps from going: another run has them (`already_sent`), or
        this run's own earlier claim makes their fate unknown."""
        with self.journal.transaction() as db:
            db.executemany("UPDATE messages SET state = ? WHERE id = ?", ((state, i) for i in ids))
        self._changed()

    def open_batch(self, draft: Draft) -> int:
        """Record a batch as in flight before its request is sent.

        The commit survives the process being killed at any moment. With the journal's
        `durable`, it is also synced to disk (surviving power loss), at an fsync per batch.
        """
        with self.journal.transaction(sync=self.journal.durable) as db:
            batch_id = db.execute(
                "INSERT INTO batches (run_id, state, size, credits, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (self.run.id, BatchState.IN_FLIGHT, len(draft.ids), draft.credits, time.time()),
            ).lastrowid
            # One statement for the batch, its ids given as one JSON array.
            db.execute(
                "UPDATE messages SET state = ?, batch_id = ?"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (M.IN_FLIGHT, batch_id, json.dumps(draft.ids)),
            )
        self._changed()
        assert batch_id is not None
        return batch_id

    def close_batch(
        self,
        batch_id: int,
        state: BatchState,
        message_id: str | None = None,
        code: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record a batch's answer: sent, partial, rejected (nothing sent) or unknown. The
        messages of a batch that went keep their state until its report (see the module)."""
        went = state in ANSWERED_SENT
        with self.journal.transaction() as db:
            db.execute(
                "UPDATE batches SET state = ?, message_id = ?, code = ?, error = ?,"
                " answered_at = ? WHERE id = ?",
                (state, message_id, code, error, time.time(), batch_id),
            )
            if not went:
                db.execute(
                    "UPDATE messages SET state = ? WHERE batch_id = ?",
                    (MESSAGE_STATE_OF_BATCH[state], batch_id),
                )
        if went:
            self._unreported.add(batch_id)
        self._changed()

    def settle_answered(self) -> None:
        """Write down as sent the messages of the batches this object saw answered whose
        reports were not applied: when the run ends or stops, for whatever reads the journal."""
        if not self._unreported:
            return
        batches = sorted(self._unreported)
        with self.journal.transaction() as db:
            db.execute(
                "UPDATE messages SET state = ? WHERE state = ?"
                " AND batch_id IN (SELECT value FROM json_each(?))",
                (M.SENT, M.IN_FLIGHT, json.dumps(batches)),
            )
        self._unreported.clear()
        self._changed()

    def settle_all_answered(self) -> None:
        """The messages of every answered batch of the run that are still in flight are sent:
        for a run that stopped, or was sent by another process, before its reports were read."""
        with self.journal.transaction() as db:
            self._settle_all_answered(db)
        self._changed()

    def _settle_all_answered(self, db: sqlite3.Connection) -> None:
        db.execute(
            "UPDATE messages SET state = ? WHERE state = ? AND batch_id IN"
            f" (SELECT id FROM batches WHERE run_id = ? AND state IN ({marks(ANSWERED_SENT)}))",
            (M.SENT, M.IN_FLIGHT, self.run.id, *ANSWERED_SENT),
        )
        self._unreported.clear()

    # -- delivery reports ----------------------------------------------------------------------

    def batches_to_check(self, partial_only: bool = False) -> list[tuple[int, str]]:
        """(batch id, message id) of accepted batches with numbers not yet final."""
        states = (BatchState.PARTIAL,) if partial_only else ANSWERED_SENT
        # EXISTS stops at a batch's first message still awaiting its report.
        return self.db.execute(
            "SELECT b.id, b.message_id FROM batches b WHERE b.run_id = ?"
            f" AND b.state IN ({marks(states)}) AND b.message_id IS NOT NULL AND EXISTS"
            " (SELECT 1 FROM messages m WHERE m.batch_id = b.id"
            f" AND m.state IN ({marks(_UNREPORTED)})) ORDER BY b.id",
            (self.run.id, *states, *_UNREPORTED),
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
            "SELECT state = ? FROM batches WHERE id = ?", (BatchState.PARTIAL, batch_id)
        ).fetchone()[0]
        # One string, split in C, instead of a row object a number.
        joined = self.db.execute(
            "SELECT group_concat(number, ',') FROM messages WHERE batch_id = ?", (batch_id,)
        ).fetchone()[0]
        ours = set(joined.split(",")) if joined else set()
        lists = {
            M.DELIVERED: _ours(delivered, ours),
            M.FAILED: _ours(failed, ours),
            M.PENDING: _ours(pending, ours),
        }
        covered = set().union(*lists.values())
        # One statement sets the commonest state for the whole batch; only the exceptions are
        # then written number by number.
        if covered != ours:
            # An empty report proves nothing (an id the provider does not know, a report not
            # built yet): only a settled report that lists some numbers says who never went.
            settled = covered and not lists[M.PENDING]
            base = M.NOT_SENT if partial and settled else M.PENDING
        else:
            base = max(lists, key=lambda state: len(lists[state]))
        with self.journal.transaction() as db:
            db.execute(
                "UPDATE messages SET state = ? WHERE batch_id = ?"
                f" AND state IN ({marks(_UNREPORTED)})",
                (base, batch_id, *_UNREPORTED),
            )
            for state, numbers in lists.items():
                if state != base:
                    db.executemany(
                        "UPDATE messages SET state = ? WHERE batch_id = ? AND number = ?",
                        ((state, batch_id, number) for number in numbers),
                    )
        self._unreported.discard(batch_id)
        self._changed()

    # -- reading -------------------------------------------------------------------------------

    def tally(self) -> Tally:
        """Counts of the run's messages by state, encoding and segments, in one pass. A message
        in flight whose batch was answered sent or partial counts as sent (see the module), so
        the counts are right in any process, before the run has written it down, or if it
        could not."""
        if self._tally is None:
            rows = self.db.execute(
                f"SELECT {STATE_NOW} AS now, m.encoding, m.segments, COUNT(*), SUM(m.copies)"
                " FROM messages m WHERE m.run_id = ? GROUP BY now, m.encoding, m.segments",
                (*STATE_NOW_ARGS, self.run.id),
            )
            self._tally = Tally([Group(*row) for row in rows])
        return self._tally

    def to_send(self) -> int:
        """Messages this run would send now: the sendable ones, less what `--limit` holds."""
        return self.tally().messages(SENDABLE) - self.held().messages

    def held(self) -> Held:
        """What the run's `--limit` keeps back (nothing when the run has no limit)."""
        if self._held is None:
            found = self.db.execute(
                "SELECT COUNT(*), SUM(copies), SUM(segments) FROM messages WHERE run_id = ?"
                f" AND id > ? AND state IN ({marks(SENDABLE)})",
                (self.run.id, self._last_sendable_id(), *SENDABLE),
            ).fetchone()
            self._held = Held(found[0], found[1] or 0, found[2] or 0)
        return self._held

    def skipped_count(self) -> int:
        if self._skipped is None:
            self._skipped = self.db.execute(
                "SELECT COUNT(*) FROM skipped WHERE run_id = ?", (self.run.id,)
            ).fetchone()[0]
        return self._skipped

    def skipped(self, limit: int | None = None) -> list[tuple[str, str, str]]:
        return self.db.execute(
            "SELECT row, value, reason FROM skipped WHERE run_id = ? ORDER BY id LIMIT ?",
            (self.run.id, -1 if limit is None else limit),
        ).fetchall()

    def failed(self, limit: int | None = None) -> list[tuple[str, str]]:
        """(row, number) of failed deliveries, first first."""
        return self.db.execute(
            "SELECT row, number FROM messages WHERE run_id = ? AND state = ? ORDER BY id LIMIT ?",
            (self.run.id, M.FAILED, -1 if limit is None else limit),
        ).fetchall()

    def problems(self, limit: int) -> list[tuple[str, str, int, int]]:
        """Why messages are still unsent or unknown: (state, error, batches, messages), first
        seen first. Errors of batches whose messages went later are history, not listed."""
        open_states = (M.REJECTED, M.UNKNOWN, M.IN_FLIGHT)
        # CROSS JOIN: the run's few batches with an error first, then their messages; left to
        # itself SQLite walks every message in a batch (40 ms at 100,000) to find none.
        return self.db.execute(
            "SELECT b.state, b.error, COUNT(DISTINCT b.id), COUNT(*) FROM batches b"
            " CROSS JOIN messages m ON m.batch_id = b.id"
            " WHERE b.run_id = ? AND b.error IS NOT NULL"
            f" AND {STATE_NOW} IN ({marks(open_states)})"
            " GROUP BY b.state, b.error ORDER BY MIN(b.id) LIMIT ?",
            (self.run.id, *STATE_NOW_ARGS, *open_states, limit),
        ).fetchall()

    def batch_counts(self) -> dict[str, int]:
        return dict(
            self.db.execute(
                "SELECT state, COUNT(*) FROM batches WHERE run_id = ? GROUP BY state",
                (self.run.id,),
            ).fetchall()
        )

    def credits_spent(self) -> int:
        """Credits of every batch of the run that went or may have gone, each attempt counted
        (a text sent again after an unknown answer may have been paid for twice)."""
        spent = (BatchState.IN_FLIGHT, BatchState.SENT, BatchState.PARTIAL, BatchState.UNKNOWN)
        return self.db.execute(
            f"SELECT COALESCE(SUM(credits), 0) FROM batches WHERE run_id = ?"
            f" AND state IN ({marks(spent)})",
            (self.run.id, *spent),
        ).fetchone()[0]

    def preview(self, limit: int) -> list[tuple[str, str, str, int]]:
        """The first texts that would go: (row, number, text, segments)."""
        return self.db.execute(
            "SELECT row, number, text, segments FROM messages WHERE run_id = ? AND id <= ?"
            f" AND state IN ({marks(SENDABLE)}) ORDER BY id LIMIT ?",
            (self.run.id, self._last_sendable_id(), *SENDABLE, limit),
        ).fetchall()

    def results(self) -> Iterator[tuple]:
        """Each message, then each skipped row, as export rows (see `results.export_csv`)."""
        yield from self.db.execute(
            f"SELECT m.row, m.number, {STATE_NOW}, b.message_id, m.segments, m.copies, m.text"
            " FROM messages m LEFT JOIN batches b ON b.id = m.batch_id WHERE m.run_id = ?"
            " ORDER BY m.id",
            (*STATE_NOW_ARGS, self.run.id),
        )
        for row, value, reason in self.skipped():
            yield row, value, "skipped", None, 0, 1, reason


_NO_LIMIT = 2**63 - 1  # SQLite's largest id
# The messages of a batch MASGSM took that its report has not set yet.
_UNREPORTED = (*AWAITING_REPORT, M.IN_FLIGHT)


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
