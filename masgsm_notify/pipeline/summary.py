"""A run's account of itself: where every recipient ended up, what it cost, and the verdict.

Every recipient row lands in exactly one of: delivered, failed, pending (accepted, no final report
yet), unknown (the request left but no answer came back), not sent (never attempted, refused by
the provider, or beyond a partial send), or skipped (invalid and `on_invalid: skip`). Duplicate
rows (same number, same text) share their message's fate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from .journal import Journal, RunRecord
from .spec import PipelineError

# Journal message states grouped into what a person is told.
OUTCOMES = {
    "delivered": ("delivered",),
    "failed": ("failed",),
    "pending": ("sent", "pending"),
    "unknown": ("unknown", "in_flight"),
    "not_sent": ("planned", "rejected", "not_sent"),
}
# States whose messages were (or may have been) paid for.
SPENT = ("sent", "pending", "delivered", "failed", "unknown", "in_flight")
DEFAULT_FAIL_IF = "failed + pending + unknown + not_sent > 0"
# The default when `report.check` is false: numbers are pending because nobody asked.
UNCHECKED_FAIL_IF = "failed + unknown + not_sent > 0"


@dataclass
class Summary:
    name: str
    run_key: str
    journal: str | None  # None for a dry run or a sandbox run, whose journal is thrown away
    dry_run: bool
    rows: int
    filtered: int
    skipped: int
    duplicates: int
    messages: int
    credits: int
    outcomes: dict[str, int]
    credits_sent: int
    refused: int  # recipient rows whose last attempt the provider or the network refused
    batches: dict[str, int]
    failed_numbers: list[dict[str, str]] = field(default_factory=list)
    skipped_rows: list[dict[str, str]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)  # why batches did not go
    fail_if: str = DEFAULT_FAIL_IF
    failing: bool = False
    exit_code: int = 0
    error: str | None = None
    plan: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase

    def variables(self) -> dict[str, Any]:
        """Names a `report.fail_if` expression can use."""
        recipients = sum(self.outcomes.values())
        ratio = (lambda n: n / recipients) if recipients else (lambda n: 0.0)
        counts = {
            **self.outcomes,
            "skipped": self.skipped,
            "filtered": self.filtered,
            "recipients": recipients,
            "credits": self.credits_sent,
        }
        return {
            **counts,
            **{f"{k}_ratio": ratio(v) for k, v in self.outcomes.items()},
            "undelivered_ratio": ratio(recipients - self.outcomes["delivered"]),
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(journal: Journal, run: RunRecord, *, dry_run: bool, listed: int = 20) -> Summary:
    tally = journal.tally(run)
    outcomes = {name: tally.rows(states) for name, states in OUTCOMES.items()}
    return Summary(
        name=run.name,
        run_key=run.run_key,
        journal=str(journal.path),
        dry_run=dry_run,
        rows=run.rows,
        filtered=run.filtered,
        skipped=journal.skipped_count(run),
        duplicates=tally.rows() - tally.messages(),
        messages=tally.messages(),
        credits=tally.credits(),
        outcomes=outcomes,
        credits_sent=tally.credits(SPENT),
        refused=tally.rows(("rejected",)),
        batches=journal.batch_counts(run),
        failed_numbers=[{"row": r, "number": n} for r, n in journal.failed(run, listed)],
        skipped_rows=[
            {"row": r, "value": v, "reason": why} for r, v, why in journal.skipped(run, listed)
        ],
        problems=[
            {"state": state, "error": error, "batches": batches, "messages": messages}
            for state, error, batches, messages in journal.problems(run, listed)
        ],
    )


def compile_fail_if(env: SandboxedEnvironment, expression: str | None, where: str):
    """The fail_if expression as a function of the summary variables (checked at load)."""
    try:
        test = env.compile_expression(expression or DEFAULT_FAIL_IF, undefined_to_none=False)
    except TemplateError as error:
        raise PipelineError(f"{where}: report.fail_if is not a valid expression: {error}") from None
    # Tried once on sample counts now, so a misspelt name stops the run before anything is sent
    # rather than after.
    sample = Summary(
        name="",
        run_key="",
        journal="",
        dry_run=False,
        rows=5,
        filtered=1,
        skipped=1,
        duplicates=0,
        messages=5,
        credits=5,
        outcomes=dict.fromkeys(OUTCOMES, 1),
        credits_sent=5,
        refused=0,
        batches={},
    )
    evaluate_fail_if(test, sample, where)
    return test


def evaluate_fail_if(test, summary: Summary, where: str) -> bool:
    try:
        return bool(test(**summary.variables()))
    except Exception as error:  # any failure of the user's expression is the user's to fix
        names = ", ".join(summary.variables())
        raise PipelineError(f"{where}: report.fail_if failed: {error} (names: {names})") from None


def shorten(value: str, limit: int = 60) -> str:
    """A value for a message line: quoted, and cut when it is long."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} chars)"


def format_summary(summary: Summary) -> str:
    """The delivery report for a person."""
    o = summary.outcomes
    lines = [
        f"Delivery report for {summary.name} (run key {summary.run_key}):",
        f"  delivered {o['delivered']}, failed {o['failed']}, pending {o['pending']}, "
        f"unknown {o['unknown']}, not sent {o['not_sent']}, skipped {summary.skipped}",
        f"  {summary.credits_sent} credit(s) spent on {summary.messages} message(s)"
        + (f"; {summary.duplicates} duplicate row(s) merged" if summary.duplicates else ""),
    ]
    lines += [f"  failed: {f['number']} ({f['row']})" for f in summary.failed_numbers]
    lines += [
        f"  skipped: {s['row']}: {shorten(s['value'])}: {s['reason']}" for s in summary.skipped_rows
    ]
    lines += [
        f"  {p['state']} ({p['batches']} batch(es), {p['messages']} message(s)): {p['error']}"
        for p in summary.problems
    ]
    if o["unknown"]:
        lines.append(
            f"  {o['unknown']} recipient(s) unknown: their request got no usable answer, so "
            "they may or may not have the text. Re-run with --resend-unknown to send "
            "them again (some may then get it twice)."
        )
    if o["not_sent"] and not summary.dry_run:
        lines.append(
            f"  {o['not_sent']} recipient(s) not sent; run the same command again to "
            "send only those."
        )
    verdict = "FAIL" if summary.failing else "OK"
    lines.append(f"  fail_if: {summary.fail_if} -> {verdict}")
    return "\n".join(lines)
