"""Planning: every recipient read, filtered, rendered, validated, costed and journaled.

Nothing is sent while planning, and sending starts only after the whole plan is written, so a
template error in row 90,000 or a bad number anywhere stops the run with nothing sent. Rows stream
from the source into the journal in chunks; memory does not grow with the recipient count. Each
chunk's texts are looked up in the sent ledger on the way in, so the plan already says which
recipients have had the same text within `send.dedupe`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from ..compose import Composer, Message
from ..plugins import collect
from ..render import compile_text, load_template
from ..sources import Row, Source, SourceContext
from ..states import MessageState
from .records import RunRecords
from .spec import Pipeline

ROWS_PER_CHUNK = 2000
LISTED_INVALID = 20

# Given a chunk's messages, the positions of those the sent ledger already has.
AlreadySent = Callable[[list[Message]], set[int]]


@dataclass
class PlanningStats:
    rows: int = 0
    filtered: int = 0
    invalid: int = 0
    invalid_examples: list[tuple[str, str, str]] = field(default_factory=list)


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
        max_segments=pipeline.send.max_segments,
    )


def plan_run(
    records: RunRecords,
    composer: Composer,
    source: Source,
    already_sent: AlreadySent,
    progress: Callable[[int], None],
) -> PlanningStats:
    """Write the run's messages (and invalid rows) to the journal; return the counts."""
    stats = PlanningStats()
    for done in map(composer, _chunks(source.rows())):
        stats.rows += done.rows
        stats.filtered += done.filtered
        stats.invalid += len(done.invalid)
        room = LISTED_INVALID - len(stats.invalid_examples)
        stats.invalid_examples.extend(done.invalid[: max(room, 0)])
        seen = already_sent(done.messages) if done.messages else set()
        records.add_planned(
            (
                (*message, MessageState.ALREADY_SENT if i in seen else MessageState.PLANNED)
                for i, message in enumerate(done.messages)
            ),
            done.invalid,
        )
        progress(stats.rows)
    records.merge_duplicates()
    return stats


def _chunks(rows: Iterator[Row]) -> Iterator[list[Row]]:
    while chunk := list(islice(rows, ROWS_PER_CHUNK)):
        yield chunk
