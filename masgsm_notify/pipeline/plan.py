"""Planning: every recipient read, filtered, rendered, validated, costed and journaled.

Nothing is sent while planning, and sending starts only after the whole plan is written, so a
template error in row 90,000 or a bad number anywhere stops the run with nothing sent. Rows stream
from the source into the journal in chunks; memory does not grow with the recipient count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from ..compose import Composer
from ..plugins import collect
from ..render import compile_text, load_template
from ..sources import Row, Source, SourceContext
from .journal import Journal, RunRecord
from .spec import Pipeline

CHUNK = 2000
LISTED_INVALID = 20


@dataclass
class PlanStats:
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


def plan(
    pipeline: Pipeline,
    source: Source,
    env: Any,
    journal: Journal,
    run: RunRecord,
    lang: str,
    progress: Callable[[int], None],
) -> PlanStats:
    """Write the run's messages (and skipped rows) to the journal; return the counts."""
    composer = composer_for(pipeline, env, lang)
    stats = PlanStats()
    for done in map(composer, _chunks(source.rows())):
        stats.rows += done.rows
        stats.filtered += done.filtered
        stats.invalid += len(done.invalid)
        room = LISTED_INVALID - len(stats.invalid_examples)
        stats.invalid_examples.extend(done.invalid[: max(room, 0)])
        with journal.transaction():
            journal.add_messages(run, done.messages)
            journal.add_skipped(run, done.invalid)
        progress(stats.rows)
    journal.merge_duplicates(run)
    return stats


def _chunks(rows: Iterator[Row]) -> Iterator[list[Row]]:
    while chunk := list(islice(rows, CHUNK)):
        yield chunk
