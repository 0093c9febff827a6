"""How a run ends: its summary and verdict (`fail_if`), the results CSV, the notices to
`notify:`, the `after_report` hook and the run's page (`--html`).

Everything after the verdict happens once texts went out, so none of it may turn a finished run
into an error: a failure here is reported as a note and the run's result stands, except a results
file that could not be written (a full disk, a read-only folder), which makes a run that would
have exited 0 exit 1, so a job that reads the file learns it is not there. The verdict's
expression and the templates are tried when the run starts (`Outputs`), so a mistake in them is
found while nothing has been sent.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import MasgsmError, PipelineError, SendWindowClosedError, StorageError, UsageError
from ..privacy import shown_number
from ..render import compile_text, render
from ..state.failures import storage_error
from ..state.paths import open_private
from .compliance import mask_summary
from .context import RunContext, RunInfo
from .records import RunRecords
from .resume import resume_command
from .spec import Pipeline
from .summary import (
    DEFAULT_FAIL_IF,
    UNCHECKED_FAIL_IF,
    PlanReport,
    Summary,
    compile_fail_if,
    evaluate_fail_if,
    exit_code,
    summarize,
)


class Outputs:
    """The run's verdict and what it leaves behind, checked before anything is sent."""

    def __init__(self, context: RunContext):
        self.context = context
        pipeline, env = context.pipeline, context.env
        report = pipeline.report
        # Without report checks every accepted number stays pending: that is not a failure.
        self.fail_if_text = report.fail_if or (
            DEFAULT_FAIL_IF if report.check else UNCHECKED_FAIL_IF
        )
        self.fail_if = compile_fail_if(env, self.fail_if_text, report.fail_if_where)
        self.export_to = export_path(pipeline, env)
        self.notify_urls = notify_urls(pipeline, env)
        if context.options.html:
            check_page_path(context.options.html)

    def finish(
        self,
        records: RunRecords,
        info: RunInfo,
        stop: MasgsmError | None,
        plan: PlanReport | None,
    ) -> Summary:
        summary = self._summarise(records, info, stop, plan)
        if self.context.options.html:
            self._write_page(self.context.options.html, records, summary, plan)
        return summary

    def _summarise(
        self,
        records: RunRecords,
        info: RunInfo,
        stop: MasgsmError | None,
        plan: PlanReport | None,
    ) -> Summary:
        context = self.context
        options, note = context.options, context.ui.note
        summary = summarize(
            records,
            journal=None if context.throwaway else str(records.journal.path),
            dry_run=options.dry_run,
        )
        summary.fail_if = self.fail_if_text
        summary.plan = plan
        summary.timings = context.timings
        # A run the send window stopped is not over: the rest goes inside the window, and the
        # verdict, the export, the notices and after_report wait for it.
        unfinished = isinstance(stop, SendWindowClosedError)
        if unfinished:
            summary.resume_command = resume_command(context, info)
        if options.dry_run:  # it exits as the real run would start: `stop` is what would stop it
            summary.error = str(stop) if stop else None
            summary.exit_code = stop.exit_code if stop else 0
        else:
            self._judge(summary, stop, unfinished)
        if context.masked:
            mask_summary(summary)
        if options.dry_run or unfinished:
            return summary
        if self.export_to and options.sandbox:
            note("report.export: skipped, this was a --sandbox run.")
        elif self.export_to:
            failure = export(records, self.export_to, note, masked=context.masked)
            if failure is not None:
                summary.error = summary.error or (
                    f"{failure} The results stay in the journal: `masgsm-notify check "
                    f"{records.run.run_key}` writes the file again."
                )
                summary.exit_code = summary.exit_code or 1
        context.hook("after_report", run=info, summary=summary)
        if context.pipeline.notify:
            if options.sandbox:
                note("notify: skipped, this was a --sandbox run.")
            else:
                notify(self.notify_urls, summary, note)
        return summary

    def _judge(self, summary: Summary, stop: MasgsmError | None, unfinished: bool) -> None:
        """The verdict (`fail_if`) and the exit code."""
        if not unfinished:
            try:
                summary.failing = evaluate_fail_if(
                    self.fail_if, summary.counts, self.context.pipeline.report.fail_if_where
                )
            except PipelineError as error:  # texts went out: say so, count the run as failing
                self.context.ui.note(str(error))
                summary.failing = True
        summary.error = str(stop) if stop else None
        summary.exit_code = exit_code(summary, stop)

    def _write_page(
        self, path: Path, records: RunRecords, summary: Summary, plan: PlanReport | None
    ) -> None:
        from ..report import write_report  # pygal is loaded by the runs that write a page

        try:
            size = write_report(
                path,
                records,
                summary,
                service=plan.service if plan else None,
                export=self.export_to,
                sandbox=self.context.options.sandbox,
                masked=self.context.masked,
            )
        except OSError as error:
            self.context.ui.note(
                f"Could not write the report to {path}: {error.strerror or error}."
            )
            return
        shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"
        self.context.ui.note(f"Wrote the run's report to {path} ({shown}).")


def check_page_path(path: Path) -> None:
    """Refuse a page that could not be written, while nothing is sent."""
    if path.is_dir():
        raise UsageError(f"--html {path}: that is a folder; name a file in it (nothing was sent).")
    target = path.absolute()
    folder = next(p for p in target.parents if p.exists())
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(
            f"--html {path}: cannot write there ({folder} is not a writable folder); "
            "nothing was sent."
        )


# Characters that make a spreadsheet treat a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_path(pipeline: Pipeline, env: Any) -> Path | None:
    """Where `report.export` writes, rendered now (a RenderError names the place)."""
    if not pipeline.report.export:
        return None
    where = f"{pipeline.path}: report.export"
    name = render(compile_text(env, pipeline.report.export, where), {}, where)
    return pipeline.base_dir / name


def export_csv(records: RunRecords, path: Path, masked: bool = False) -> int:
    """Write one row per message and skipped row; cells that could be formulas are defused.

    The file is owner-only: it holds customers' numbers and texts (numbers masked, if asked).
    It is written beside its place and moved there when whole, so a full disk never leaves half
    a file behind.
    """
    written = 0
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open_private(partial, "w", newline="", encoding="utf-8-sig") as file:
            writer = csv.writer(file)
            writer.writerow(["row", "number", "state", "message_id", "segments", "copies", "text"])
            for row, number, *rest in records.results():
                shown = (row, shown_number(number, masked), *rest)
                writer.writerow([_safe_cell(value) for value in shown])
                written += 1
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return written


def export(
    records: RunRecords, path: Path, note: Callable[[str], None], masked: bool = False
) -> StorageError | None:
    """Write the results file and say so; what went wrong, if it could not be written."""
    try:
        rows = export_csv(records, path, masked)
    except OSError as error:
        failure = storage_error(path, "results file", error)
        note(str(failure))
        return failure
    note(f"Wrote {rows:,} result row(s) to {path}.")
    return None


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def notify_urls(pipeline: Pipeline, env: Any) -> list[str]:
    """Every `notify:` URL, rendered before anything is sent: a URL template that cannot render
    (bad syntax, an undefined name, a render past `limits:`) is a RenderError naming it."""
    urls = []
    for index, template in enumerate(pipeline.notify):
        where = f"{pipeline.path}: notify[{index}]"
        urls.append(render(compile_text(env, template, where), {"env": os.environ}, where))
    return urls


def notify(urls: list[str], summary: Summary, note: Callable[[str], None]) -> None:
    """Send the run's summary to every `notify:` URL (Apprise); report what could not go."""
    import apprise  # loaded by the runs that notify, not by every command

    from ..apprise_plugin import register

    register()  # masgsm:// targets
    notifier = apprise.Apprise()
    for index, url in enumerate(urls):
        if not notifier.add(url):
            note(f"notify[{index}]: not a usable Apprise URL; skipped.")
    o, counts = summary.outcomes, summary.counts
    lawful = (("opted out", counts.opted_out), ("no consent", counts.no_consent))
    body = (
        f"{summary.name} ({summary.run_key}): {o['delivered']:,} delivered, "
        f"{o['failed']:,} failed, {o['pending']:,} pending, {o['unknown']:,} unknown, "
        f"{o['not_sent']:,} not sent, {summary.counts.skipped:,} skipped"
        + "".join(f", {count:,} {label}" for label, count in lawful if count)
        + f"; {summary.credits_sent:,} credits."
    )
    if len(notifier) and not notifier.notify(body=body, title=f"masgsm-notify: {summary.name}"):
        note("Some notify targets could not be reached (see the log).")
