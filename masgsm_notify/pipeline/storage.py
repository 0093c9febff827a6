"""Where a run keeps its records: its journal, and the sent ledger it shares with every run.

A dry run, or a `--sandbox` run without `--journal`, writes a throwaway journal and no ledger
(a dry run still reads an existing ledger, to show what would count as already sent). A real run
takes its journal's writer lock, remembers the journal in the state directory, and the first
time it meets a journal written before the ledger existed, records what that journal sent.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..state.ledger import Ledger, existing_ledger
from ..states import SENDABLE
from .context import RunContext
from .identity import RunIdentity
from .journal import Journal
from .journals import choose_journal
from .ledger_guard import DEFAULT_DEDUPE, LedgerGuard
from .records import RunRecords


@dataclass
class Storage:
    journal: Journal
    ledger: Ledger | None

    def guard(self, context: RunContext, identity: RunIdentity, records: RunRecords) -> LedgerGuard:
        return LedgerGuard(
            self.ledger,
            identity.ledger_account,
            owner=records.run.uid,
            run_key=identity.run_key,
            window=dedupe_window(context),
            resend=context.options.resend_duplicates,
            writes=not context.options.dry_run,
        )


def dedupe_window(context: RunContext) -> float | None:
    """`send.dedupe` in seconds; by default 24 hours, and off (None) for runs driven by an
    input document: an alert that fires again must page again."""
    chosen = context.pipeline.send.dedupe
    if chosen == "off":
        return None
    if isinstance(chosen, float):
        return chosen
    driven = context.options.input is not None or context.pipeline.recipients.source == "input"
    return None if driven else DEFAULT_DEDUPE


@contextlib.contextmanager
def open_storage(context: RunContext) -> Iterator[Storage]:
    if context.options.held is not None:  # serve's, opened once by this same function
        yield context.options.held
        return
    with _journal(context) as journal, _ledger(context) as ledger:
        if not context.options.dry_run:
            journal.lock()
            if ledger is not None:
                _adopt(context, journal, ledger)
        yield Storage(journal, ledger)


@contextlib.contextmanager
def _journal(context: RunContext) -> Iterator[Journal]:
    if context.throwaway:
        with (
            tempfile.TemporaryDirectory(prefix="masgsm-trial-") as folder,
            Journal(Path(folder) / "trial.journal.sqlite") as journal,
        ):
            yield journal
        return
    choice = choose_journal(context.pipeline, context.options.journal)
    if choice.legacy:
        context.ui.note(f"Using the journal beside the pipeline: {choice.path}.")
    with Journal(choice.path, durable=context.pipeline.send.durable) as journal:
        yield journal


@contextlib.contextmanager
def _ledger(context: RunContext) -> Iterator[Ledger | None]:
    """Read by dry runs (when one exists), kept by real runs, not used by sandbox runs (an
    embedded sandbox is new every time) or offline ones (`validate`)."""
    if context.options.sandbox or context.options.offline:
        yield None
        return
    ledger = existing_ledger() if context.options.dry_run else Ledger()
    if ledger is None:
        yield None
        return
    with ledger:
        yield ledger


def _adopt(context: RunContext, journal: Journal, ledger: Ledger) -> None:
    """Remember the journal in the state directory; the first time, seed the ledger with what
    its runs sent (a journal of an earlier version, which kept no ledger)."""
    if ledger.note_journal(journal.path):
        seeded = ledger.seed(journal.path, journal.ledger_entries())
        if seeded:
            context.ui.note(
                f"Recorded {seeded:,} text(s) sent from {journal.path} in the sent ledger, so "
                "they are not sent again."
            )


def note_journaled(context: RunContext, run_key: str) -> None:
    """In a dry run, say what a real run would resume from the journal, if anything."""
    path = choose_journal(context.pipeline, context.options.journal).path
    if not path.is_file():
        return
    with Journal(path) as journal:
        run = journal.find_run(run_key)
        if run is None or not run.planned_at:
            return
        tally = RunRecords(journal, run).tally()
        context.ui.note(
            f"Run key {run_key!r} is already in {path}: a real run would resume it and send "
            f"{tally.messages(SENDABLE):,} of its {tally.messages():,} message(s), not this plan."
        )
