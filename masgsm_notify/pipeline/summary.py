"""A run's account of itself: where every recipient ended up, what it cost, and the verdict.

Every recipient row the run meant to send to lands in exactly one outcome: delivered, failed,
pending (accepted, no final report yet), unknown (the request left but no answer came back), or
not sent (never attempted, refused by the provider, or beyond a partial send). Rows the run did
not mean to send to are counted beside them: filtered out by `when:`, skipped as invalid, already
sent (the sent ledger), held back by `--limit` for a later run, and merged into an identical row
(same number, same text), which shares its message's fate. The plan shown before sending and
the summary after share one `Counts`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from ..errors import MasgsmError, PipelineError
from ..states import OUTCOMES, SENDABLE, SET_ASIDE, SPENT, MessageState
from .records import RunRecords

DEFAULT_FAIL_IF = "failed + pending + unknown + not_sent > 0"
# The default when `report.check` is false: numbers are pending because nobody asked.
UNCHECKED_FAIL_IF = "failed + unknown + not_sent > 0"
LISTED = 20  # rows a person is shown per kind; --json lists them all


@dataclass
class Counts:
    """Where every row of a run stands, from one tally of its records."""

    rows: int
    filtered: int
    skipped: int
    merged: int
    already_sent: int
    messages: int
    credits: int
    outcomes: dict[str, int]
    credits_sent: int
    refused: int  # recipient rows whose last attempt the provider or the network refused
    held: int = 0  # rows a --limit kept back: planned, not sent this time on purpose
    opted_out: int = 0  # on the opt-out list (compliance.honour_optouts)
    no_consent: int = 0  # a commercial text without İYS consent (compliance.consent)

    @classmethod
    def of(cls, records: RunRecords) -> Counts:
        tally = records.tally()
        set_aside = {name: tally.rows(states) for name, states in SET_ASIDE.items()}
        outcomes = {name: tally.rows(states) for name, states in OUTCOMES.items()}
        held = records.held().rows
        outcomes["not_sent"] -= held  # held rows are planned, but set aside, not an outcome
        return cls(
            rows=records.run.rows,
            filtered=records.run.filtered,
            skipped=records.skipped_count(),
            merged=tally.rows() - tally.messages(),
            already_sent=set_aside["already_sent"],
            messages=tally.messages(),
            credits=tally.credits(),
            outcomes=outcomes,
            credits_sent=tally.credits(SPENT),
            refused=tally.rows((MessageState.REJECTED,)),
            held=held,
            opted_out=set_aside["opted_out"],
            no_consent=set_aside["no_consent"],
        )

    def beside(self) -> dict[str, int]:
        """The rows counted beside the outcomes, by their contract names."""
        return {
            "filtered": self.filtered,
            "skipped": self.skipped,
            "merged": self.merged,
            "already_sent": self.already_sent,
            "held": self.held,
            "opted_out": self.opted_out,
            "no_consent": self.no_consent,
        }


@dataclass
class Checks:
    """What pre-flight found: the balance, the registered titles, and what stands in the way."""

    balance: int | None = None
    titles: list[str] | None = None
    balance_error: str | None = None
    titles_error: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class PlanReport:
    """The plan a person sees before anything is sent (and `--json` shows under `plan`)."""

    name: str
    run_key: str
    journal: str | None
    dry_run: bool
    counts: Counts
    encodings: dict[str, int]
    segments: dict[int, int]
    to_send: int
    credits_to_send: int
    service: str | None
    title: str | None
    preview: list[dict[str, Any]]
    checks: Checks | None = None
    window: dict[str, Any] | None = None  # send.window and whether it is open (compliance.py)
    # How this run read the recipients file, when it chose an encoding: {"encoding", "evidence"}.
    source_encoding: dict[str, str] | None = None

    @classmethod
    def of(
        cls, records: RunRecords, *, journal: str | None, dry_run: bool, preview: int
    ) -> PlanReport:
        tally, held = records.tally(), records.held()
        return cls(
            name=records.run.name,
            run_key=records.run.run_key,
            journal=journal,
            dry_run=dry_run,
            counts=Counts.of(records),
            encodings=tally.by_encoding(),
            segments=tally.by_segments(),
            to_send=records.to_send(),
            credits_to_send=tally.credits(SENDABLE) - held.credits,
            service=None,
            title=None,
            preview=[
                {"row": r, "number": n, "text": t, "segments": s}
                for r, n, t, s in records.preview(preview)
            ],
        )

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts
        found: dict[str, Any] = {
            "name": self.name,
            "run_key": self.run_key,
            "journal": self.journal,
            "dry_run": self.dry_run,
            "rows": counts.rows,
            **counts.beside(),
            "messages": counts.messages,
            "credits": counts.credits,
            "encodings": self.encodings,
            "segments": self.segments,
            "to_send": self.to_send,
            "credits_to_send": self.credits_to_send,
            "service": self.service,
            "title": self.title,
            "preview": self.preview,
            "window": self.window,
            "source_encoding": self.source_encoding,
        }
        if self.checks is not None:
            found.update(
                {k: v for k, v in asdict(self.checks).items() if v is not None and k != "problems"}
            )
            found["problems"] = self.checks.problems
        return found


@dataclass
class Summary:
    name: str
    run_key: str
    journal: str | None  # None for a dry run or a sandbox run, whose journal is thrown away
    dry_run: bool
    counts: Counts
    batches: dict[str, int]
    failed_numbers: list[dict[str, str]] = field(default_factory=list)
    skipped_rows: list[dict[str, str]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)  # why batches did not go
    fail_if: str = DEFAULT_FAIL_IF
    failing: bool = False
    exit_code: int = 0
    error: str | None = None
    plan: PlanReport | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
    resume_command: str | None = None  # how to go on with a run its send window stopped

    @property
    def outcomes(self) -> dict[str, int]:
        return self.counts.outcomes

    @property
    def credits_sent(self) -> int:
        return self.counts.credits_sent

    def variables(self) -> dict[str, Any]:
        """Names a `report.fail_if` expression can use."""
        return fail_if_variables(self.counts)

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "name": self.name,
            "run_key": self.run_key,
            "journal": self.journal,
            "dry_run": self.dry_run,
            "rows": counts.rows,
            **counts.beside(),
            "messages": counts.messages,
            "credits": counts.credits,
            "outcomes": counts.outcomes,
            "credits_sent": counts.credits_sent,
            "refused": counts.refused,
            "batches": self.batches,
            "failed_count": len(self.failed_numbers),
            "failed_numbers": self.failed_numbers,
            "skipped_rows": self.skipped_rows,
            "problems": self.problems,
            "fail_if": self.fail_if,
            "failing": self.failing,
            "exit_code": self.exit_code,
            "error": self.error,
            "plan": self.plan.to_dict() if self.plan else {},
            "timings": self.timings,
            **({"resume_command": self.resume_command} if self.resume_command else {}),
        }


def fail_if_variables(counts: Counts) -> dict[str, Any]:
    recipients = sum(counts.outcomes.values())
    ratio = (lambda n: n / recipients) if recipients else (lambda n: 0.0)
    return {
        **counts.outcomes,
        **counts.beside(),
        "recipients": recipients,
        "credits": counts.credits_sent,
        **{f"{k}_ratio": ratio(v) for k, v in counts.outcomes.items()},
        "undelivered_ratio": ratio(recipients - counts.outcomes["delivered"]),
    }


def summarize(records: RunRecords, *, journal: str | None, dry_run: bool) -> Summary:
    return Summary(
        name=records.run.name,
        run_key=records.run.run_key,
        journal=journal,
        dry_run=dry_run,
        counts=Counts.of(records),
        batches=records.batch_counts(),
        failed_numbers=[{"row": r, "number": n} for r, n in records.failed()],
        skipped_rows=[{"row": r, "value": v, "reason": why} for r, v, why in records.skipped()],
        problems=[
            {"state": state, "error": error, "batches": batches, "messages": messages}
            for state, error, batches, messages in records.problems(LISTED)
        ],
    )


def compile_fail_if(env: SandboxedEnvironment, expression: str | None, where: str) -> Any:
    """The fail_if expression as a function of the summary variables (checked at load)."""
    try:
        test = env.compile_expression(expression or DEFAULT_FAIL_IF, undefined_to_none=False)
    except TemplateError as error:
        raise PipelineError(f"{where}: report.fail_if is not a valid expression: {error}") from None
    # Tried once on sample counts now, so a misspelt name stops the run before anything is sent
    # rather than after.
    sample = Counts(
        rows=5,
        filtered=1,
        skipped=1,
        merged=0,
        already_sent=0,
        messages=5,
        credits=5,
        outcomes=dict.fromkeys(OUTCOMES, 1),
        credits_sent=5,
        refused=0,
    )
    evaluate_fail_if(test, sample, where)
    return test


def evaluate_fail_if(test: Any, counts: Counts, where: str) -> bool:
    variables = fail_if_variables(counts)
    try:
        return bool(test(**variables))
    except Exception as error:  # any failure of the user's expression is the user's to fix
        names = ", ".join(variables)
        raise PipelineError(f"{where}: report.fail_if failed: {error} (names: {names})") from None


def exit_code(summary: Summary, stop: MasgsmError | None) -> int:
    """2 only while nothing of the run was ever sent; refusals and transport failures are 1."""
    if stop is not None:
        return 1 if stop.exit_code == 2 and summary.credits_sent else stop.exit_code
    if summary.counts.refused:
        return 1
    return 3 if summary.failing else 0


def shorten(value: str, limit: int = 60) -> str:
    """A value for a message line: quoted, and cut when it is long."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} chars)"


def _listed(lines: list[str], total: int) -> list[str]:
    """The first LISTED lines, and how many more there are."""
    shown = lines[:LISTED]
    if total > len(shown):
        shown.append(f"  ... and {total - len(shown):,} more")
    return shown


def skipped_lines(summary: Summary) -> list[str]:
    """The rows skipped as invalid, for a person: the first LISTED, and how many more."""
    skipped = summary.skipped_rows
    return _listed(
        [f"  skipped: {s['row']}: {shorten(s['value'])}: {s['reason']}" for s in skipped[:LISTED]],
        len(skipped),
    )


def set_aside_lines(counts: Counts) -> list[str]:
    """Why recipients were set aside for the law's sake, for the plan and the summary alike."""
    lines = []
    if counts.opted_out:
        lines.append(
            f"  {counts.opted_out:,} recipient(s) on the opt-out list are not sent to "
            "(masgsm-notify optouts list)"
        )
    if counts.no_consent:
        lines.append(
            f"  {counts.no_consent:,} recipient(s) without İYS consent for a commercial text are "
            "not sent to (compliance.consent)"
        )
    return lines


def format_summary(summary: Summary) -> str:
    """The delivery report for a person."""
    counts, o = summary.counts, summary.outcomes
    beside = [f"skipped {counts.skipped:,}"]
    if counts.already_sent:
        beside.append(f"already sent {counts.already_sent:,}")
    if counts.held:
        beside.append(f"held {counts.held:,}")
    if counts.opted_out:
        beside.append(f"opted out {counts.opted_out:,}")
    if counts.no_consent:
        beside.append(f"no consent {counts.no_consent:,}")
    lines = [
        f"Delivery report for {summary.name} (run key {summary.run_key}):",
        f"  delivered {o['delivered']:,}, failed {o['failed']:,}, pending {o['pending']:,}, "
        f"unknown {o['unknown']:,}, not sent {o['not_sent']:,}, " + ", ".join(beside),
        f"  {counts.credits_sent:,} credit(s) spent on {counts.messages:,} message(s)"
        + (f"; {counts.merged:,} duplicate row(s) merged" if counts.merged else ""),
    ]
    failed = summary.failed_numbers
    lines += _listed(
        [f"  failed: {f['number']} ({f['row']})" for f in failed[:LISTED]], len(failed)
    )
    lines += skipped_lines(summary)
    lines += [
        f"  {p['state']} ({p['batches']:,} batch(es), {p['messages']:,} message(s)): {p['error']}"
        for p in summary.problems
    ]
    if counts.already_sent:
        lines.append(
            f"  {counts.already_sent:,} recipient(s) already had the same text (the sent ledger, "
            "within send.dedupe); --resend-duplicates sends them again."
        )
    if counts.held:
        lines.append(
            f"  {counts.held:,} recipient(s) held by --limit; run again without it (the same "
            "run key) to send them."
        )
    lines += set_aside_lines(counts)
    if o["unknown"]:
        lines.append(
            f"  {o['unknown']:,} recipient(s) unknown: their request got no usable answer, so "
            "they may or may not have the text. Re-run with --resend-unknown to send "
            "them again (some may then get it twice)."
        )
    if o["not_sent"] and not summary.dry_run:
        lines.append(
            f"  {o['not_sent']:,} recipient(s) not sent; run the same command again to "
            "send only those."
        )
    verdict = "FAIL" if summary.failing else "OK"
    if summary.exit_code == 4:  # stopped by the send window: the run is not over
        verdict = "not judged until the run ends, inside the send window"
    lines.append(f"  fail_if: {summary.fail_if} -> {verdict}")
    return "\n".join(lines)
