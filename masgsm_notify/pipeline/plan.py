"""Planning: every recipient read, filtered, rendered, validated, costed and journaled.

Nothing is sent while planning, and sending starts only after the whole plan is written, so a
template error in row 90,000 or a bad number anywhere stops the run with nothing sent. Rows stream
from the source into the journal in chunks; memory does not grow with the recipient count.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from .. import numbers as phone
from .. import text as sms_text
from ..errors import InvalidNumberError
from ..plugins import collect
from ..render import Renderer, compile_text, is_true, load_template, render
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


@dataclass
class Planned:
    """One chunk's outcome: messages to journal, invalid rows, and how many rows were filtered."""

    rows: int = 0
    filtered: int = 0
    messages: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    invalid: list[tuple[str, str, str]] = field(default_factory=list)


def make_source(pipeline: Pipeline, input_data: Any) -> Source:
    spec = pipeline.recipients
    source_class = collect("register_sources")[spec.source]
    context = SourceContext(pipeline.base_dir, input_data, spec.where)
    return source_class(spec.value, spec.options, context)


class RowPlanner:
    """Turns recipient rows into messages: filter, number, text, cost. No I/O, no shared state.

    Pipelines and the Apprise service's contacts mode both plan rows with it, so a row means the
    same text, number and cost wherever it is sent from.
    """

    def __init__(
        self,
        number_of: Renderer,
        text_of: Renderer,
        *,
        when: Renderer | None = None,
        plain: bool = False,
        max_segments: int = sms_text.DEFAULT_MAX_SEGMENTS,
        limit_name: str = "send.max_segments",
    ):
        """`limit_name` is how a refusal names the segment limit to the one who can change it."""
        self.number_of = number_of
        self.text_of = text_of
        self.when = when
        self.plain = plain
        self.limit = max_segments
        self.limit_name = limit_name

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline, env: Any, lang: str) -> RowPlanner:
        spec, message = pipeline.recipients, pipeline.message
        if message.template:
            text_of = load_template(env, message.template, message.where)
        else:
            text_of = compile_text(env, message.inline or "", f"{message.where} (inline)")
        return cls(
            compile_text(env, spec.number, f"{spec.number_where} (number)"),
            text_of,
            when=compile_text(env, spec.when, f"{spec.when_where} (when)") if spec.when else None,
            plain=lang == "plain",
            max_segments=pipeline.send.max_segments,
        )

    def __call__(self, rows: Iterable[Row]) -> Planned:
        """Plan a chunk of rows; a template failure raises RenderError naming the row."""
        done = Planned()
        for where, fields in rows:
            done.rows += 1
            context = {**fields, "row": fields}
            if self.when is not None and not is_true(render(self.when, context, where)):
                done.filtered += 1
                continue
            raw_number = render(self.number_of, context, where)
            try:
                number = phone.normalize(raw_number)
            except InvalidNumberError as error:
                done.invalid.append((where, raw_number, error.reason))
                continue
            text = render(self.text_of, context, where).strip()
            if not text.isascii():
                text = unicodedata.normalize("NFC", text)
            if self.plain:
                text = sms_text.plain(text)
            if not text:
                done.invalid.append((where, number, "the message rendered empty"))
                continue
            cost = sms_text.cost(text, not self.plain)
            if cost.segments > self.limit:
                done.invalid.append(
                    (
                        where,
                        number,
                        f"the text needs {cost.segments} segments, "
                        f"more than {self.limit_name} ({self.limit})",
                    )
                )
                continue
            done.messages.append((where, number, text, cost.encoding.value, cost.segments))
        return done


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
    planner = RowPlanner.for_pipeline(pipeline, env, lang)
    stats = PlanStats()
    for done in map(planner, _chunks(source.rows())):
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
