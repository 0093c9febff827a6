"""Running a pipeline: plan, pre-flight checks, send, check the reports, summarise.

The order is the guarantee: the whole plan is journaled and validated first (nothing sent on bad
input), the balance and title are checked against the plan's cost second (nothing sent that the
account cannot pay for), and only then do batches leave. Re-running the same run key resumes from
the journal instead of planning again, so texts never change between attempts; the sent ledger
keeps a text from reaching a number twice across runs, journals and folders.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client import MasgsmClient
from ..errors import MasgsmError, PipelineError, PluginError, UsageError
from ..plugins import get_plugin_manager
from ..render import make_environment
from ..service import Service
from ..sources import Source
from ..state.ledger import Ledger, existing_ledger
from ..states import SENDABLE, SPENT
from .checking import check_reports
from .identity import RunIdentity, account_label, identify
from .journal import Journal
from .journals import choose_journal
from .ledger_guard import DEFAULT_DEDUPE, LedgerGuard
from .planning import PlanningStats, composer_for, make_source, plan_run
from .preflight import preflight, read_with_retries
from .records import RunRecords
from .resolver import ServiceResolver
from .results import check_notify_templates, export, export_path, notify
from .sending import Batch, BatchSender, Outcome, SendSettings, send_all
from .spec import Pipeline, load_pipeline
from .summary import (
    DEFAULT_FAIL_IF,
    UNCHECKED_FAIL_IF,
    PlanReport,
    Summary,
    compile_fail_if,
    evaluate_fail_if,
    shorten,
    summarize,
)


@dataclass
class RunOptions:
    dry_run: bool = False
    sandbox: bool = False
    run_key: str | None = None
    journal: Path | None = None
    vars: dict[str, str] = field(default_factory=dict)
    input: Any = None
    input_bytes: bytes = b""
    resend_unknown: bool = False
    resend_duplicates: bool = False
    preview: int = 3


@dataclass(frozen=True)
class RunInfo:
    """What hooks see of the run."""

    name: str
    run_key: str
    pipeline: Path
    journal: Path
    dry_run: bool


class UI:
    """Where the runner reports as it goes; the CLI prints, tests may collect."""

    def plan(self, report: PlanReport) -> None:
        """The plan, before anything is sent."""

    def note(self, text: str) -> None:
        """A line of progress news for a person."""

    def progress(self, label: str, total: int) -> contextlib.AbstractContextManager:
        """A context manager yielding `advance(n)`."""
        return contextlib.nullcontext(lambda n: None)


class Runner:
    def __init__(self, pipeline: Pipeline, options: RunOptions, ui: UI | None = None):
        self.pipeline = pipeline
        self.options = options
        self.ui = ui or UI()
        self.hooks = get_plugin_manager().hook
        self.env = make_environment(pipeline.template_dirs())
        self.env.globals.update(
            vars={**pipeline.vars, **options.vars},
            input=options.input,
            now=dt.datetime.now().astimezone(),
        )
        self.resolver = ServiceResolver(pipeline, self.env)
        self.read = read_with_retries(pipeline.send.retries)
        self.timings: dict[str, float] = {}
        self.plan: PlanReport | None = None
        report = pipeline.report
        # Without report checks every accepted number stays pending: that is not a failure.
        self.fail_if_text = report.fail_if or (
            DEFAULT_FAIL_IF if report.check else UNCHECKED_FAIL_IF
        )
        self.fail_if = compile_fail_if(self.env, self.fail_if_text, report.fail_if_where)
        # Tried now, while nothing is sent: a mistake in them must not surface after sending.
        self.export_to = export_path(pipeline, self.env)
        check_notify_templates(pipeline, self.env)

    @property
    def throwaway(self) -> bool:
        """A dry run, or a sandbox run without --journal, keeps no journal and no ledger: trying
        a pipeline never marks its messages as sent."""
        return self.options.dry_run or (self.options.sandbox and not self.options.journal)

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> Summary:
        with self._service() as service, self._journal() as journal, self._ledger() as ledger:
            lang = self.resolver.lang(service)
            source = make_source(self.pipeline, self.options.input)
            identity = identify(
                self.pipeline,
                self.env,
                run_key=self.options.run_key,
                input_bytes=self.options.input_bytes,
                source_bytes=source.fingerprint(),
                service=service,
                sandbox=self.options.sandbox,
            )
            if self.options.dry_run:
                self._note_journaled(identity.run_key)
            else:
                journal.lock()
                self._adopt(journal, ledger)
            records = self._resume_or_plan(journal, identity, source, lang, ledger)
            guard = self._guard(ledger, identity, records)
            info = RunInfo(
                self.pipeline.name,
                identity.run_key,
                self.pipeline.path,
                journal.path,
                self.options.dry_run,
            )
            try:
                return self._run_planned(records, info, service, lang, guard)
            except MasgsmError as error:
                # "Nothing sent" (2) is no longer true once any text of this run went.
                if error.exit_code == 2 and records.tally().credits(SPENT):
                    error.exit_code = 1
                raise

    def _run_planned(
        self,
        records: RunRecords,
        info: RunInfo,
        service: Service | None,
        lang: str,
        guard: LedgerGuard,
    ) -> Summary:
        """Pre-flight, send and check a planned run (or only show it, in a dry run)."""
        if service is None:
            self.ui.plan(self._plan_report(records, None, None))
            return self._finish(records, info, stop=None)
        if service.method == "get":
            self.ui.note("Pipelines send with the POST API (type 1); method=get is ignored.")
        with self._client(service) as client:
            if not self.options.dry_run and records.batches_to_check(partial_only=True):
                # Before resuming, learn which numbers of an earlier partial send never went,
                # so this run sends them; the report is the only place that says.
                self._check(records, client, partial_only=True)
            self.ui.plan(self._plan_report(records, client, service))
            if self.options.dry_run:
                return self._finish(records, info, stop=None)
            stop = self._send(records, info, client, service.title, lang, guard)
            self._check(records, client, partial_only=not self.pipeline.report.check)
            return self._finish(records, info, stop)

    def check_again(self, records: RunRecords, info: RunInfo, wait: float | None) -> Summary:
        """Poll a past run's reports once more (for `masgsm-notify check`), then summarise."""
        service = self.resolver.configured()
        if records.run.account != account_label(service):
            sent_as = records.run.account or "an unknown account"
            raise UsageError(
                f"Run {records.run.run_key!r} was sent as {sent_as}; the settings here name "
                f"{account_label(service)}. Its reports can only be read from the account that "
                "sent it."
            )
        with self._client(service) as client:
            self._check(records, client, wait=wait)
        return self._finish(records, info, stop=None)

    def _client(self, service: Service) -> MasgsmClient:
        send = self.pipeline.send
        return service.client(pool_size=send.concurrency, timeout=(10.0, send.timeout))

    @contextlib.contextmanager
    def _service(self) -> Iterator[Service | None]:
        if self.options.sandbox:
            with self.resolver.sandbox() as service:
                self.ui.note(f"Sandbox MASGSM at {service.base_url} (no real SMS is sent).")
                yield service
            return
        try:
            service = self.resolver.configured()
        except UsageError:
            if not self.options.dry_run or not self.resolver.credentials_missing():
                raise
            self.ui.note("No MASGSM service configured: the dry run skips balance and title.")
            service = None
        yield service

    @contextlib.contextmanager
    def _journal(self) -> Iterator[Journal]:
        if self.throwaway:
            with (
                tempfile.TemporaryDirectory(prefix="masgsm-trial-") as folder,
                Journal(Path(folder) / "trial.journal.sqlite") as journal,
            ):
                yield journal
            return
        choice = choose_journal(self.pipeline, self.options.journal)
        if choice.legacy:
            self.ui.note(f"Using the journal beside the pipeline: {choice.path}.")
        with Journal(choice.path, durable=self.pipeline.send.durable) as journal:
            yield journal

    @contextlib.contextmanager
    def _ledger(self) -> Iterator[Ledger | None]:
        """The sent ledger: read by dry runs (when one exists), kept by real runs, not used by
        sandbox runs (an embedded sandbox is new every time)."""
        if self.options.sandbox:
            yield None
            return
        ledger = existing_ledger() if self.options.dry_run else Ledger()
        if ledger is None:
            yield None
            return
        with ledger:
            yield ledger

    def _adopt(self, journal: Journal, ledger: Ledger | None) -> None:
        """Remember the journal in the state directory; the first time, seed the ledger with
        what its runs sent (a journal of an earlier version, which kept no ledger)."""
        if ledger is None or self.options.sandbox:
            return
        if ledger.note_journal(journal.path):
            seeded = ledger.seed(journal.path, journal.ledger_entries())
            if seeded:
                self.ui.note(
                    f"Recorded {seeded:,} text(s) sent from {journal.path} in the sent ledger, "
                    "so they are not sent again."
                )

    def _guard(
        self, ledger: Ledger | None, identity: RunIdentity, records: RunRecords
    ) -> LedgerGuard:
        return LedgerGuard(
            ledger,
            identity.ledger_account,
            owner=records.run.uid,
            run_key=identity.run_key,
            window=self._dedupe_window(),
            resend=self.options.resend_duplicates,
            writes=not self.options.dry_run,
        )

    def _dedupe_window(self) -> float | None:
        """`send.dedupe`; by default 24 hours, and off for runs driven by an input document
        (an alert that fires again must page again)."""
        chosen = self.pipeline.send.dedupe
        if chosen == "off":
            return None
        if isinstance(chosen, float):
            return chosen
        driven = self.options.input is not None or self.pipeline.recipients.source == "input"
        return None if driven else DEFAULT_DEDUPE

    def _took(self, phase: str, started: float, items: int = 0) -> str:
        """Record how long a phase took (for the summary) and say it for a person."""
        seconds = time.monotonic() - started
        self.timings[phase] = round(self.timings.get(phase, 0.0) + seconds, 3)
        rate = f" ({items / seconds:,.0f}/s)" if items and seconds > 0 else ""
        return f"{seconds:.2f} s{rate}"

    # -- the plan ------------------------------------------------------------------------------

    def _note_journaled(self, run_key: str) -> None:
        """In a dry run, say what a real run would resume from the journal, if anything."""
        path = choose_journal(self.pipeline, self.options.journal).path
        if not path.is_file():
            return
        with Journal(path) as journal:
            run = journal.find_run(run_key)
            if run is None or not run.planned_at:
                return
            tally = RunRecords(journal, run).tally()
            self.ui.note(
                f"Run key {run_key!r} is already in {path}: a real run would resume it and send "
                f"{tally.messages(SENDABLE):,} of its {tally.messages():,} message(s), not this "
                "plan."
            )

    def _resume_or_plan(
        self,
        journal: Journal,
        identity: RunIdentity,
        source: Source,
        lang: str,
        ledger: Ledger | None,
    ) -> RunRecords:
        run_key = identity.run_key
        existing = journal.find_run(run_key)
        if existing and existing.planned_at:
            records = RunRecords(journal, existing)
            if records.ever_attempted():
                self._refuse_changed_inputs(records, identity)
                again = records.settle_interrupted(self.options.resend_unknown)
                self.ui.note(
                    f"Resuming run {run_key!r} from {journal.path}"
                    + (f"; {again:,} unknown message(s) will be sent again" if again else "")
                )
                return records
        if existing:
            RunRecords(journal, existing).discard()
        records = RunRecords(
            journal,
            journal.create_run(
                run_key,
                self.pipeline.name,
                str(self.pipeline.path.resolve()),  # `check` may run from another folder
                identity.fingerprint,
                identity.account,
                identity.ledger_account,
            ),
        )
        guard = self._guard(ledger, identity, records)
        started = time.monotonic()
        try:
            with self.ui.progress("Planning", 0) as advance:
                seen = 0

                def progress(rows: int) -> None:
                    nonlocal seen
                    advance(rows - seen)
                    seen = rows

                composer = composer_for(self.pipeline, self.env, lang)
                stats = plan_run(records, composer, source, guard.already_sent, progress)
            self._judge_invalid(stats)
        except BaseException:
            records.discard()
            raise
        records.finish_plan(stats.rows, stats.filtered)
        self.ui.note(f"Planned {stats.rows:,} row(s) in {self._took('plan', started)}.")
        return records

    def _refuse_changed_inputs(self, records: RunRecords, identity: RunIdentity) -> None:
        """A run key that already sent keeps its texts: new inputs need a new run key, and the
        sent ledger keeps whatever the old one sent from going again."""
        if records.run.fingerprint == identity.fingerprint:
            return
        window = self._dedupe_window()
        protects = (
            "The sent ledger keeps every text this run already sent from going again under a "
            "new key (counted already_sent), so a new --run-key sends only what is new or changed."
            if window is not None and not self.options.sandbox
            else "Dedupe is off for this pipeline, so a new --run-key would send every text "
            "again, including those this run already sent."
        )
        raise UsageError(
            f"Run key {identity.run_key!r} was already sent from different inputs (the recipients, "
            "templates, message, vars, --input or the account changed); its messages stay as "
            f"they were. {protects}"
        )

    def _judge_invalid(self, stats: PlanningStats) -> None:
        if not stats.invalid or self.pipeline.send.on_invalid == "skip":
            return
        listed = "\n".join(
            f"  {where}: {shorten(value)}: {reason}"
            for where, value, reason in stats.invalid_examples
        )
        more = stats.invalid - len(stats.invalid_examples)
        raise UsageError(
            f"{stats.invalid:,} invalid recipient(s); nothing was sent. Fix them, or set "
            f"send.on_invalid: skip to send the rest.\n{listed}"
            + (f"\n  ... and {more:,} more" if more > 0 else "")
        )

    def _plan_report(
        self, records: RunRecords, client: MasgsmClient | None, service: Service | None
    ) -> PlanReport:
        report = PlanReport.of(
            records,
            journal=None if self.throwaway else str(records.journal.path),
            dry_run=self.options.dry_run,
            preview=self.options.preview,
        )
        if service is not None:
            report.service = service.url(privacy=True)
            report.title = service.title
        if client is not None and service is not None and report.to_send:
            report.checks, problems = preflight(
                client, service.title, report.credits_to_send, self.read
            )
            if problems and not self.options.dry_run:
                raise problems[0]
        self.plan = report
        return report

    # -- sending and checking ------------------------------------------------------------------

    def _send(
        self,
        records: RunRecords,
        info: RunInfo,
        client: MasgsmClient,
        title: str | None,
        lang: str,
        guard: LedgerGuard,
    ) -> MasgsmError | None:
        to_send = records.tally().messages(SENDABLE)
        if not to_send:
            self.ui.note("Nothing left to send for this run key.")
            return None
        started = time.monotonic()
        with self.ui.progress("Sending", to_send) as advance:

            def after(batch: Batch, outcome: Outcome) -> None:
                advance(len(batch.numbers))
                self._hook("after_batch", run=info, batch=batch, outcome=outcome)

            settings = SendSettings(
                batch_size=self.pipeline.send.batch_size,
                concurrency=self.pipeline.send.concurrency,
                title=title,
                lang=lang,
                before=lambda batch: self._hook("before_batch", run=info, batch=batch),
                after=after,
            )
            sender = BatchSender(client, self.pipeline.send.retries)
            totals = send_all(records, sender, settings, guard)
        partial = f" (and {totals.partial:,} partial batch(es))" if totals.partial else ""
        self.ui.note(
            f"Sent {totals.accepted:,} message(s){partial} in {totals.batches:,} batch(es) in "
            f"{self._took('send', started, totals.accepted)}."
        )
        if totals.already_sent:
            self.ui.note(
                f"{totals.already_sent:,} message(s) were not sent: another run sent the same "
                "text to the same number meanwhile (the sent ledger)."
            )
        return totals.stop

    def _check(
        self,
        records: RunRecords,
        client: MasgsmClient,
        partial_only: bool = False,
        wait: float | None = None,
    ) -> None:
        spec = self.pipeline.report
        started = time.monotonic()
        try:
            with self.ui.progress("Reports read", 0) as advance:
                rounds = check_reports(
                    records,
                    client,
                    wait=spec.wait if wait is None else wait,
                    poll_every=spec.poll_every,
                    concurrency=self.pipeline.send.concurrency,
                    partial_only=partial_only,
                    progress=advance,
                )
        except MasgsmError as error:
            self.ui.note(f"The delivery reports could not be read: {error}")
            return
        if rounds:
            self.ui.note(
                f"Checked delivery reports in {rounds} round(s), {self._took('check', started)}."
            )

    # -- the end -------------------------------------------------------------------------------

    def _finish(self, records: RunRecords, info: RunInfo, stop: MasgsmError | None) -> Summary:
        summary = summarize(
            records,
            journal=None if self.throwaway else str(records.journal.path),
            dry_run=self.options.dry_run,
        )
        summary.fail_if = self.fail_if_text
        summary.plan = self.plan
        summary.timings = self.timings
        if self.options.dry_run:
            return summary
        try:
            summary.failing = evaluate_fail_if(
                self.fail_if, summary.counts, self.pipeline.report.fail_if_where
            )
        except PipelineError as error:  # texts went out: say so, and count the run as failing
            self.ui.note(str(error))
            summary.failing = True
        summary.error = str(stop) if stop else None
        summary.exit_code = exit_code(summary, stop)
        if self.export_to and self.options.sandbox:
            self.ui.note("report.export: skipped, this was a --sandbox run.")
        elif self.export_to:
            export(records, self.export_to, self.ui.note)
        self._hook("after_report", run=info, summary=summary)
        if self.pipeline.notify:
            if self.options.sandbox:
                self.ui.note("notify: skipped, this was a --sandbox run.")
            else:
                notify(self.pipeline, self.env, summary, self.ui.note)
        return summary

    def _hook(self, name: str, **kwargs: Any) -> None:
        """Call a plugin hook. A failing `before_batch` stops the run (its batch is not sent);
        a failing hook after the fact is reported, since what it reports on has happened."""
        try:
            getattr(self.hooks, name)(**kwargs)
        except Exception as error:  # a plugin's failure, whatever it is
            if name == "before_batch":
                raise PluginError(
                    f"A plugin's before_batch hook stopped the run ({type(error).__name__}: "
                    f"{error}); that batch and the rest were not sent."
                ) from error
            self.ui.note(f"A plugin's {name} hook failed: {type(error).__name__}: {error}")


def exit_code(summary: Summary, stop: MasgsmError | None) -> int:
    """2 only while nothing of the run was ever sent; refusals and transport failures are 1."""
    if stop is not None:
        return 1 if stop.exit_code == 2 and summary.credits_sent else stop.exit_code
    if summary.counts.refused:
        return 1
    return 3 if summary.failing else 0


def recheck(run_key: str, journal_path: Path, wait: float | None, ui: UI) -> Summary:
    """Poll the reports of a past run again and summarise it, as `masgsm-notify check` does.

    A reader: it needs no writer's lock, so it works while the run (or `serve`) is sending.
    """
    with Journal(journal_path) as journal:
        run = journal.find_run(run_key)
        if run is None:
            recent = ", ".join(r.run_key for r in journal.latest_runs(5)) or "none"
            raise UsageError(f"{journal.path}: no run {run_key!r} (recent runs: {recent}).")
        pipeline_path = Path(run.pipeline)
        if not pipeline_path.is_file():
            raise UsageError(
                f"The pipeline of run {run_key!r} ({pipeline_path}) is gone; its "
                "service settings cannot be read."
            )
        runner = Runner(load_pipeline(pipeline_path), RunOptions(journal=journal.path), ui)
        info = RunInfo(run.name, run.run_key, pipeline_path, journal.path, False)
        return runner.check_again(RunRecords(journal, run), info, wait)
