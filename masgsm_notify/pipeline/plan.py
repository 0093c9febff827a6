"""Planning: every recipient read, filtered, rendered, validated, costed and journaled.

Nothing is sent while planning, and sending starts only after the whole plan is written, so a
template error in row 90,000 or a bad number anywhere stops the run with nothing sent. Rows stream
from the source into the journal in chunks; memory does not grow with the recipient count.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import numbers as phone
from .. import text as sms_text
from ..errors import InvalidNumberError
from ..plugins import collect
from ..render import compile_text, is_true, load_template, render
from ..sources import Source, SourceContext
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
    spec, message = pipeline.recipients, pipeline.message
    number_of = compile_text(env, spec.number, f"{spec.number_where} (number)")
    when = compile_text(env, spec.when, f"{spec.when_where} (when)") if spec.when else None
    if message.template:
        text_of = load_template(env, message.template, message.where)
    else:
        text_of = compile_text(env, message.inline or "", f"{message.where} (inline)")
    plain = lang == "plain"
    limit = pipeline.send.max_segments
    stats = PlanStats()
    pending: list[tuple] = []
    skipped: list[tuple[str, str, str]] = []

    def invalid(where: str, value: str, reason: str) -> None:
        stats.invalid += 1
        if len(stats.invalid_examples) < LISTED_INVALID:
            stats.invalid_examples.append((where, value, reason))
        skipped.append((where, value, reason))

    for where, fields in source.rows():
        stats.rows += 1
        context = {**fields, "row": fields}
        if when is not None and not is_true(render(when, context, where)):
            stats.filtered += 1
            continue
        raw_number = render(number_of, context, where)
        try:
            number = phone.normalize(raw_number)
        except InvalidNumberError as error:
            invalid(where, raw_number, error.reason)
            continue
        text = render(text_of, context, where).strip()
        if not text.isascii():
            text = unicodedata.normalize("NFC", text)
        if plain:
            text = sms_text.plain(text)
        if not text:
            invalid(where, number, "the message rendered empty")
            continue
        cost = sms_text.cost(text, not plain)
        if cost.segments > limit:
            invalid(
                where,
                number,
                f"the text needs {cost.segments} segments, more than send.max_segments ({limit})",
            )
            continue
        pending.append((where, number, text, cost.encoding.value, cost.segments))
        if len(pending) >= CHUNK:
            _flush(journal, run, pending, skipped)
            progress(stats.rows)
    _flush(journal, run, pending, skipped)
    journal.merge_duplicates(run)
    progress(stats.rows)
    return stats


def _flush(
    journal: Journal, run: RunRecord, pending: list[tuple], skipped: list[tuple[str, str, str]]
) -> None:
    with journal.transaction():
        journal.add_messages(run, pending)
        journal.add_skipped(run, skipped)
    pending.clear()
    skipped.clear()
