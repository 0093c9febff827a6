"""The run's page: one self-contained HTML file, from Jinja templates shipped with the package.

Everything the page shows comes from the journal and the run's summary, the same figures
`--json` prints. The templates render with autoescaping on (row labels, numbers, errors and run
keys are data); the CSS and the small script are package files inlined as they are, and the
charts are pygal's SVG. A Content-Security-Policy allows nothing to be fetched, so a page that
tried would show the error instead of reaching out.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from .. import __version__, phone
from ..filters import mask_phone
from ..logs import scrub
from ..pipeline import history
from ..pipeline.records import RunRecords
from ..pipeline.summary import Summary
from ..state.paths import open_private
from . import charts, facts

# What the rows counted beside the outcomes are called on the page (others: their JSON name).
BESIDE_LABELS = {
    "filtered": "filtered out by when:",
    "skipped": "skipped as invalid",
    "already_sent": "already sent (the sent ledger)",
    "opted_out": "opted out",
    "no_consent": "no consent on record",
    "held": "held back (--limit)",
}
OUTCOME_LABELS = {
    "delivered": "delivered",
    "failed": "failed",
    "pending": "pending (no final report yet)",
    "unknown": "unknown (no answer came back)",
    "not_sent": "not sent",
}


@dataclass(frozen=True)
class Step:
    """One line of the funnel; `key` is the figure's name in `--json` (or a sum of them)."""

    key: str
    label: str
    count: int
    level: int
    colour: str | None = None


def funnel(summary: Summary) -> list[Step]:
    """Rows read, what was set aside, and where every recipient the run meant to reach ended."""
    counts = summary.counts
    outcomes = counts.outcomes
    beside = counts.beside()
    steps = [Step("rows", "rows read", counts.rows, 0)]
    steps += [
        Step(name, BESIDE_LABELS.get(name, facts.label(name)), count, 1, charts.SET_ASIDE_COLOUR)
        for name, count in beside.items()
        if name != "merged"
    ]
    steps.append(Step("recipients", "to send to", sum(outcomes.values()), 0))
    accepted = ("delivered", "failed", "pending")
    steps.append(Step("sent", "accepted by MASGSM", sum(outcomes[n] for n in accepted), 1))
    steps += [Step(n, OUTCOME_LABELS[n], outcomes[n], 2, charts.COLOURS[n]) for n in accepted]
    steps += [
        Step(n, OUTCOME_LABELS.get(n, facts.label(n)), outcomes[n], 1, charts.COLOURS.get(n))
        for n in outcomes
        if n not in accepted
    ]
    return steps


def shown_number(number: str, masked: bool) -> str:
    """A number as the page shows it; masked, a value that is no valid number is hidden whole."""
    if not masked:
        return number
    return mask_phone(number) if phone.is_valid(number) else "(hidden)"


def local_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return dt.datetime.fromtimestamp(seconds).astimezone().isoformat(sep=" ", timespec="seconds")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("masgsm_notify.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        count=lambda n: f"{n:,}",
        when=local_time,
        elapsed=charts.elapsed,
        label=facts.label,
    )
    return env


_ENV = _environment()


def page_context(
    records: RunRecords,
    summary: Summary,
    *,
    service: str | None,
    export: Path | None,
    sandbox: bool,
    masked: bool,
) -> dict[str, Any]:
    """Everything the template shows, gathered from the journal once."""
    with ThreadPoolExecutor(1, thread_name_prefix="masgsm-page") as beside:
        by_range = beside.submit(facts.prefixes, records)
        context = _gather(records, summary, by_range, service, export, sandbox, masked)
    return context


def _gather(
    records: RunRecords,
    summary: Summary,
    by_range: Future[list[facts.PrefixLine]],
    service: str | None,
    export: Path | None,
    sandbox: bool,
    masked: bool,
) -> dict[str, Any]:
    moments = facts.moments(records)
    polls = history.polls(records)
    started = moments.first_batch or moments.created
    cap = facts.RECIPIENTS_SHOWN
    shown = facts.recipients(records, cap)
    counts = summary.counts
    tally = records.tally()
    return {
        "summary": summary,
        "counts": counts,
        "outcomes": counts.outcomes,
        "recipients_total": sum(counts.outcomes.values()),
        "account": records.run.account or "",  # user, base URL and title: never a password
        "service": scrub(service or ""),
        "pipeline": str(records.run.pipeline),
        "moments": moments,
        "last_poll": polls[-1].at if polls else None,
        "ended": max(moments.ended, polls[-1].at if polls else 0),
        "written": time.time(),
        "funnel": funnel(summary),
        "colours": {**charts.COLOURS, "set_aside": charts.SET_ASIDE_COLOUR},
        "polls": charts.sample(polls),
        "poll_rounds": len(polls),
        "since": started,
        "delivery_chart": charts.delivery_over_time(polls, started),
        "reasons": [
            facts.Reason(r.outcome, scrub(r.reason), r.recipients)
            for r in facts.reasons(records, summary.dry_run)
        ],
        "prefixes": by_range.result(),
        "prefix_chart": charts.failures_by_prefix(by_range.result()),
        "segments": sorted(tally.by_segments().items()),
        "balances": history.balances(records),
        "recipients": [(r, shown_number(r.number, masked)) for r in shown],
        "listed_total": facts.recipient_count(records),
        "cap": cap,
        "export": str(export) if export else None,
        "sandbox": sandbox,
        "masked": masked,
        "version": __version__,
    }


def write_report(
    path: Path,
    records: RunRecords,
    summary: Summary,
    *,
    service: str | None = None,
    export: Path | None = None,
    sandbox: bool = False,
    masked: bool = False,
) -> int:
    """Write the run's page to `path` (owner-only: it lists customers' numbers), whole or not
    at all; return its size in bytes."""
    context = page_context(
        records, summary, service=service, export=export, sandbox=sandbox, masked=masked
    )
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open_private(partial, "w", encoding="utf-8", newline="\n") as file:
            for chunk in _ENV.get_template("report.html.j2").generate(context):
                file.write(chunk)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path.stat().st_size
