"""`run`, `check` and `plugins`: the pipeline commands."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..errors import MasgsmError, RunInterrupted, UsageError
from ..logs import scrub
from ..pipeline import (
    UI,
    PlanReport,
    Runner,
    RunOptions,
    StopRequest,
    Summary,
    find_journal,
    format_summary,
    load_pipeline,
    parse_duration,
    recheck,
)
from ..pipeline.summary import set_aside_lines
from ..plugins import describe_plugins
from ..window import when
from .common import json_option, mask_option, output


class ClickUI(UI):
    """Human output on stdout (stderr with --json); progress bars on stderr, on a terminal only;
    with -q, no notes, no progress, and no plan unless it is a dry run's."""

    def __init__(self, as_json: bool):
        self.err = as_json
        self.quiet = output().quiet

    def echo(self, text: str) -> None:
        click.echo(text, err=self.err)

    def note(self, text: str) -> None:
        if not self.quiet:
            self.echo(text)

    def warn(self, text: str) -> None:
        if not self.quiet:
            click.echo(text, err=True)

    def plan(self, report: PlanReport) -> None:
        if report.dry_run or not self.quiet:  # a dry run's plan is its result
            self.echo(format_plan(report))

    @contextlib.contextmanager
    def progress(self, label: str, total: int) -> Iterator[Any]:
        """A bar when the total is known, a running count when it is not (rows of a stream)."""
        if self.quiet or not sys.stderr.isatty():
            yield lambda n: None
        elif total:
            with click.progressbar(
                length=total, label=label, file=sys.stderr, show_pos=True
            ) as bar:
                yield bar.update
        else:
            counter = _Counter(label)
            try:
                yield counter.advance
            finally:
                counter.close()


class _Counter:
    """`Planning: 12,345` on one line of standard error, redrawn at most ten times a second."""

    def __init__(self, label: str):
        self.label = label
        self.count = 0
        self.shown = 0.0

    def advance(self, n: int) -> None:
        self.count += n
        now = time.monotonic()
        if now - self.shown >= 0.1:
            self.shown = now
            click.echo(f"\r{self.label}: {self.count:,}", nl=False, err=True)

    def close(self) -> None:
        if self.shown:
            click.echo(f"\r{self.label}: {self.count:,}", err=True)


def format_plan(plan: PlanReport, head: str | None = None) -> str:
    """The plan for a person: counts, cost, checks and the first texts."""
    head = head or ("Dry run (nothing will be sent)" if plan.dry_run else "Plan")
    counts = plan.counts
    encodings = ", ".join(f"{v:,} {k}" for k, v in sorted(plan.encodings.items()))
    segments = ", ".join(f"{v:,} of {k}" for k, v in sorted(plan.segments.items()))
    lines = [
        f"{head}: {plan.name} (run key {plan.run_key})",
        f"  {counts.rows:,} row(s) read, {counts.filtered:,} filtered out by when:, "
        f"{counts.skipped:,} skipped as invalid, {counts.merged:,} duplicate(s) merged"
        + (f", {counts.already_sent:,} already sent" if counts.already_sent else "")
        + (f", {counts.opted_out:,} opted out" if counts.opted_out else "")
        + (f", {counts.no_consent:,} without consent" if counts.no_consent else ""),
        f"  {counts.messages:,} message(s) ({encodings or 'none'}), by segments "
        f"{segments or '-'}; {counts.credits:,} credit(s) in all",
        f"  to send now: {plan.to_send:,} message(s), {plan.credits_to_send:,} credit(s)"
        + (f"; {counts.held:,} recipient(s) held by --limit" if counts.held else ""),
    ]
    if counts.already_sent:
        lines.append(
            f"  {counts.already_sent:,} recipient(s) already had the same text within "
            "send.dedupe (the sent ledger); --resend-duplicates sends them again"
        )
    lines += set_aside_lines(counts)
    if plan.source_encoding:
        lines.append(
            f"  recipients read as {plan.source_encoding['encoding']}: "
            f"{plan.source_encoding['evidence']}"
        )
    if plan.window:
        lines.append(_window_line(plan))
    if plan.service:
        lines.append(f"  service {plan.service}, title {plan.title}")
    checks = plan.checks
    if checks is not None:
        if checks.balance is not None:
            lines.append(f"  balance {checks.balance:,} credit(s)")
        if checks.titles is not None:
            lines.append(f"  registered titles: {', '.join(checks.titles) or 'none'}")
        lines += [
            f"  could not check: {error}"
            for error in (checks.balance_error, checks.titles_error)
            if error
        ]
        lines += [f"  PROBLEM: {p}" for p in checks.problems]
    if plan.preview:
        lines.append("  first messages:")
        for p in plan.preview:
            lines.append(f"    {p['number']} ({p['row']}, {p['segments']} segment(s)):")
            lines += [f"      {line}" for line in p["text"].splitlines()]
    return "\n".join(lines)


def _window_line(plan: PlanReport) -> str:
    window = plan.window or {}
    named = f"  send window {window['window']} ({window['timezone']})"
    if window["open"]:
        return f"{named}: open until {when(dt.datetime.fromisoformat(window['closes_at']))}"
    closed = f"{named}: CLOSED until {when(dt.datetime.fromisoformat(window['opens_at']))}"
    if plan.dry_run:
        closed += " (a real run now sends nothing and exits 4, or waits with --wait-for-window)"
    return closed


# What a run and `validate` both take: the templates' vars and input document.
var_option = click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="KEY=VALUE",
    help="A value for templates as vars.KEY; repeatable; overrides the pipeline's vars.",
)
input_option = click.option(
    "--input",
    "input_file",
    metavar="FILE|-",
    help="A JSON document for templates (as input) and the input: source; - is stdin.",
)


def parse_vars(values: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--var")
        found[key.strip()] = text
    return found


def read_input(source: str | None) -> tuple[Any, bytes]:
    if source is None:
        return None, b""
    shown = "standard input" if source == "-" else source
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as error:
        raise UsageError(f"--input {shown}: cannot read it: {error.strerror}") from None
    try:
        return json.loads(raw.decode("utf-8-sig")), raw
    except UnicodeDecodeError:
        raise UsageError(f"--input {shown}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise UsageError(
            f"--input {shown}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}"
        ) from None


@contextlib.contextmanager
def json_errors(as_json: bool, **more: Any) -> Iterator[None]:
    """With --json, a failure is a JSON document on stdout too (the paragraph still goes to
    stderr), so a program reading stdout always gets one document; `more` adds keys to it."""
    try:
        yield
    except (MasgsmError, RunInterrupted, click.ClickException) as error:
        if as_json:
            message = error.format_message() if isinstance(error, click.ClickException) else error
            document = {**more, "error": scrub(str(message)), "exit_code": error.exit_code}
            click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        raise


def _conclude(summary: Summary, as_json: bool, stop: StopRequest | None = None) -> None:
    if stop is not None and stop.signum is not None and summary.exit_code < 128:
        summary.exit_code = 128 + stop.signum  # a signal that came while the run was ending
    resume = summary.resume_command if summary.exit_code == 4 else None
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    elif summary.dry_run:
        click.echo("Dry run: nothing was sent.")
    else:
        click.echo(format_summary(summary))
    if summary.error:
        click.echo(f"Error: {summary.error}", err=True)
    if resume:
        click.echo(f"Resume inside the send window with:\n  {resume}", err=True)
    sys.exit(summary.exit_code)


@click.command()
@click.argument(
    "pipeline_file", metavar="PIPELINE.yaml", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "-n",
    "--dry-run",
    is_flag=True,
    help="Render and validate everything, show the cost and checks; send nothing.",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Run against an embedded sandbox MASGSM (no account, no real SMS).",
)
@click.option(
    "--run-key",
    help="Identity of this run in the journal; re-running the same key "
    "sends only what was never attempted. Default: the pipeline's run_key, else "
    "derived from the pipeline and its inputs.",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Journal file (SQLite). Default: journals/<pipeline name>.sqlite in the state "
    "directory (MASGSM_STATE_DIR), or a PIPELINE.journal.sqlite that earlier versions left "
    "beside the pipeline.",
)
@var_option
@input_option
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Send again the messages whose earlier request got no answer (they may then "
    "arrive twice).",
)
@click.option(
    "--resend-duplicates",
    is_flag=True,
    help="Send texts the sent ledger says these numbers already had within send.dedupe.",
)
@click.option(
    "--preview",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="How many rendered texts the plan shows.",
)
@click.option(
    "--html",
    "html",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the run's report as one self-contained HTML page (opens offline, "
    "prints well) when the run ends.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    help="Send only the first N messages that would go, in source order (a test send to "
    "yourself); the rest are held, and a run of the same run key without --limit sends them.",
)
@click.option(
    "--wait-for-window",
    is_flag=True,
    help="Outside the pipeline's send.window, wait for it to open (and past its end, for the "
    "next one) instead of exiting 4.",
)
@mask_option
@json_option
def run(
    pipeline_file: Path,
    dry_run: bool,
    sandbox: bool,
    run_key: str | None,
    journal: Path | None,
    variables: tuple[str, ...],
    input_file: str | None,
    resend_unknown: bool,
    resend_duplicates: bool,
    preview: int,
    html: Path | None,
    limit: int | None,
    wait_for_window: bool,
    mask: bool,
    as_json: bool,
) -> None:
    """Run a pipeline: plan, check, send in personalised batches, check delivery, summarise.

    Exit codes: 0 all sent (and delivered, where checked); 1 runtime failure; 2 bad input,
    nothing sent; 3 sent, but report.fail_if holds (failures or pending numbers remain);
    4 the send window is closed: nothing (more) sent now, the printed command resumes;
    130 / 143 stopped by SIGINT / SIGTERM, after saying what was sent and how to resume.

    \b
    Examples:
      masgsm-notify run pipelines/invoice-reminder.yaml -n     # the plan; nothing is sent
      masgsm-notify run pipelines/demo.yaml --sandbox          # the whole flow, no real SMS
      masgsm-notify run pipelines/invoice-reminder.yaml --limit 1   # the first text only
      masgsm-notify run pipelines/invoice-reminder.yaml --var shop=ACME
      masgsm-notify run pipelines/alertmanager.yaml --input - --json < payload.json
      masgsm-notify run pipelines/demo.yaml --sandbox --html demo-report.html
    """
    stop = StopRequest(say=lambda text: click.echo(text, err=True))
    with json_errors(as_json), stop.watching():
        input_data, input_bytes = read_input(input_file)
        options = RunOptions(
            dry_run=dry_run,
            sandbox=sandbox,
            run_key=run_key,
            journal=journal,
            vars=parse_vars(variables),
            input=input_data,
            input_bytes=input_bytes,
            input_name=input_file,
            resend_unknown=resend_unknown,
            resend_duplicates=resend_duplicates,
            preview=preview,
            html=html,
            limit=limit,
            wait_for_window=wait_for_window,
            mask=mask,
        )
        runner = Runner(load_pipeline(pipeline_file), options, ClickUI(as_json), stop)
        summary = runner.run()
    _conclude(summary, as_json, stop)


@click.command()
@click.argument("run_key")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Journal file. Default: the journal that holds RUN_KEY among those of the state "
    "directory (and older *.journal.sqlite files here or one folder down).",
)
@click.option(
    "--wait",
    "wait",
    metavar="DURATION",
    help="How long to keep polling pending numbers (30s, 10m); default the pipeline's report.wait.",
)
@click.option(
    "--html",
    "html",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write (or rewrite) the run's report as one self-contained HTML page, with the "
    "reports as they stand.",
)
@mask_option
@json_option
def check(
    run_key: str,
    journal: Path | None,
    wait: str | None,
    html: Path | None,
    mask: bool,
    as_json: bool,
) -> None:
    """Check the delivery reports of a past run again, and summarise it.

    \b
    Examples:
      masgsm-notify check invoice-reminder-2026-11-25
      masgsm-notify check invoice-reminder-2026-11-25 --wait 10m --json
      masgsm-notify check invoice-reminder-2026-11-25 --wait 0s --html report.html
    """
    with json_errors(as_json):
        try:
            seconds = None if wait is None else parse_duration(wait)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--wait") from None
        path = journal or find_journal(run_key, Path.cwd())
        _conclude(recheck(run_key, path, seconds, ClickUI(as_json), html, mask), as_json)


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """List the loaded plugins and the hooks each implements.

    \b
    Examples:
      masgsm-notify plugins
      MASGSM_NOTIFY_NO_PLUGINS=1 masgsm-notify plugins --json   # the built-ins only
    """
    found = describe_plugins()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for plugin in found:
        click.echo(f"{plugin['name']} ({plugin['package']}): {', '.join(plugin['hooks'])}")


COMMANDS = (run, check, plugins)
