"""Planning: every recipient read, filtered, rendered, validated, costed and journaled.

Nothing is sent while planning, and sending starts only after the whole plan is written, so a
template error in row 90,000 or a bad number anywhere stops the run with nothing sent. Rows stream
from the source into the journal in chunks; memory does not grow with the recipient count. Each
chunk's texts are looked up in the sent ledger on the way in, so the plan already says which
recipients have had the same text within `send.dedupe`, and which are set aside for the law's
sake (opted out, no İYS consent: see `compliance.py`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from ..compose import Composed, Composer, Message
from ..errors import RenderError, UsageError
from ..plugins import collect
from ..privacy import shown_number
from ..render import cheap_failures, compile_text, load_template
from ..sources import Row, Source, SourceContext
from ..states import MessageState
from .compliance import Screen
from .context import RunContext
from .fanout import composed
from .identity import RunIdentity
from .purge import refuse_purged
from .records import RunRecords
from .spec import Pipeline
from .storage import Storage, dedupe_window
from .summary import shorten

ROWS_PER_CHUNK = 2000
LISTED_INVALID = 20
LISTED_BROKEN = 10  # rows whose templates failed, named in the error; the rest are counted

# Given a chunk's messages, the positions of those the sent ledger already has.
AlreadySent = Callable[[list[Message]], set[int]]


@dataclass
class PlanningStats:
    rows: int = 0
    filtered: int = 0
    invalid: int = 0
    invalid_examples: list[tuple[str, str, str]] = field(default_factory=list)
    broken: int = 0  # rows whose templates failed
    broken_examples: list[RenderError] = field(default_factory=list)

    def add(self, done: Composed) -> None:
        """Count a composed chunk, keeping the first few refusals and failures to name."""
        self.rows += done.rows
        self.filtered += done.filtered
        self.invalid += len(done.invalid)
        self.invalid_examples.extend(done.invalid[: LISTED_INVALID - len(self.invalid_examples)])
        self.broken += len(done.errors)
        self.broken_examples.extend(done.errors[: LISTED_BROKEN - len(self.broken_examples)])


def make_source(pipeline: Pipeline, input_data: Any) -> Source:
    spec = pipeline.recipients
    source_class = collect("register_sources")[spec.source]
    context = SourceContext(pipeline.base_dir, input_data, spec.where)
    return source_class(spec.value, spec.options, context)


def composer_for(pipeline: Pipeline, env: Any, lang: str) -> Composer:
    """The pipeline's `recipients:` and `message:` as a Composer."""
    spec, message = pipeline.recipients, pipeline.message
    if message.template:
        text_of = load_template(env, message.template, message.where)
    else:
        text_of = compile_text(env, message.inline or "", f"{message.where} (inline)")
    return Composer(
        compile_text(env, spec.number, f"{spec.number_where} (number)"),
        text_of,
        when=compile_text(env, spec.when, f"{spec.when_where} (when)") if spec.when else None,
        plain=lang == "plain",
        escape=lang != "plain",  # plain texts are made plain again, and escaped, as they go
        max_segments=pipeline.send.max_segments,
        suffix=pipeline.compliance.optout_text or "",
    )


def plan_run(
    records: RunRecords,
    composer: Composer,
    source: Source,
    already_sent: AlreadySent,
    progress: Callable[[int], None],
    env: Any,
    screen: Screen | None = None,
) -> PlanningStats:
    """Write the run's messages (and invalid rows) to the journal; return the counts.

    Once a row's template has failed the plan cannot be used, so the rest of the rows are only
    read and rendered, to name and count every failure, and not written; once LISTED_BROKEN
    are named, failures in `env` are only counted, which is cheaper (`cheap_failures`).
    """
    stats = PlanningStats()
    records.forget_wire()  # an earlier plan's, on this connection
    with contextlib.ExitStack() as counting:
        for done in composed(composer, _chunks(source.rows())):
            named = len(stats.broken_examples)
            stats.add(done)
            if named < LISTED_BROKEN <= len(stats.broken_examples):
                counting.enter_context(cheap_failures(env))
            if not stats.broken:
                aside = _set_aside(done.messages, screen, already_sent) if done.messages else {}
                records.add_planned(done.messages, done.invalid, aside, done.wire)
            progress(stats.rows)
    if not stats.broken:
        records.merge_duplicates()
    return stats


def _set_aside(
    messages: list[Message], screen: Screen | None, already_sent: AlreadySent
) -> dict[int, MessageState]:
    """Positions of the chunk's messages that are not to be sent, and why: the screen's reasons
    (opted out, no consent) first, then the sent ledger's for the rest."""
    aside = screen([message[1] for message in messages]) if screen is not None else {}
    rest = [i for i in range(len(messages)) if i not in aside]
    seen = already_sent([messages[i] for i in rest]) if rest else set()
    aside.update((rest[j], MessageState.ALREADY_SENT) for j in seen)
    return aside


def _chunks(rows: Iterator[Row]) -> Iterator[list[Row]]:
    while chunk := list(islice(rows, ROWS_PER_CHUNK)):
        yield chunk


def resume_or_plan(
    context: RunContext,
    storage: Storage,
    identity: RunIdentity,
    source: Source,
    lang: str,
    screen: Screen | None = None,
) -> RunRecords:
    """The run's records: resumed from the journal when the run key already sent something,
    else planned afresh (an unfinished or never-sent plan is made again from the inputs)."""
    journal, run_key = storage.journal, identity.run_key
    existing = journal.find_run(run_key)
    if existing and existing.planned_at:
        records = RunRecords(journal, existing)
        if records.ever_attempted():
            refuse_purged(records)
            _refuse_changed_inputs(context, records, identity)
            again = records.settle_interrupted(context.options.resend_unknown)
            context.ui.note(
                f"Resuming run {run_key!r} from {journal.path}"
                + (f"; {again:,} unknown message(s) will be sent again" if again else "")
            )
            moved = screen.rescreen(records) if screen is not None else 0
            if moved:
                context.ui.note(
                    f"{moved:,} recipient(s) of the run opted out or lost consent since it was "
                    "planned; they are not sent."
                )
            return records
    if existing:
        RunRecords(journal, existing).discard()
    records = RunRecords(
        journal,
        journal.create_run(
            run_key,
            context.pipeline.name,
            str(context.pipeline.path.resolve()),  # `check` may run from another folder
            identity.fingerprint,
            identity.account,
            identity.ledger_account,
        ),
    )
    started = time.monotonic()
    try:
        with context.ui.progress("Planning", 0) as advance:
            seen = 0

            def progress(rows: int) -> None:
                nonlocal seen
                advance(rows - seen)
                seen = rows

            composer = composer_for(context.pipeline, context.env, lang)
            guard = storage.guard(context, identity, records)
            stats = plan_run(
                records, composer, source, guard.already_sent, progress, context.env, screen
            )
        _judge_broken(stats)
        _judge_invalid(context, stats)
    except BaseException:
        records.discard()
        raise
    records.finish_plan(stats.rows, stats.filtered)
    context.ui.note(f"Planned {stats.rows:,} row(s) in {context.took('plan', started)}.")
    return records


def _refuse_changed_inputs(context: RunContext, records: RunRecords, identity: RunIdentity) -> None:
    """A run key that already sent keeps its texts: new inputs need a new run key, and the sent
    ledger keeps whatever the old one sent from going again."""
    if records.run.fingerprint == identity.fingerprint:
        return
    protects = (
        "The sent ledger keeps every text this run already sent from going again under a new "
        "key (counted already_sent), so a new --run-key sends only what is new or changed."
        if dedupe_window(context) is not None and not context.options.sandbox
        else "Dedupe is off for this pipeline, so a new --run-key would send every text again, "
        "including those this run already sent."
    )
    raise UsageError(
        f"Run key {identity.run_key!r} was already sent from different inputs (the recipients, "
        "templates, message, vars, --input or the account changed); its messages stay as they "
        f"were. {protects}"
    )


def _judge_broken(stats: PlanningStats) -> None:
    """One failed row is its own error; more are named up to LISTED_BROKEN and counted."""
    if not stats.broken:
        return
    if stats.broken == 1:
        raise stats.broken_examples[0]
    listed = "\n".join(f"  {error}" for error in stats.broken_examples)
    more = stats.broken - len(stats.broken_examples)
    raise RenderError(
        f"The templates failed for {stats.broken:,} row(s); nothing was sent.\n{listed}"
        + (f"\n  ... and {more:,} more" if more > 0 else "")
    )


def _judge_invalid(context: RunContext, stats: PlanningStats) -> None:
    if not stats.invalid or context.pipeline.send.on_invalid == "skip":
        return
    listed = "\n".join(
        f"  {where}: {shorten(shown_number(value, context.masked))}: {reason}"
        for where, value, reason in stats.invalid_examples
    )
    more = stats.invalid - len(stats.invalid_examples)
    raise UsageError(
        f"{stats.invalid:,} invalid recipient(s); nothing was sent. Fix them, or set "
        f"send.on_invalid: skip to send the rest.\n{listed}"
        + (f"\n  ... and {more:,} more" if more > 0 else "")
    )
