"""Running a pipeline: plan, pre-flight checks, send, check the reports, summarise.

The order is the guarantee: the whole plan is journaled and validated first (nothing sent on bad
input), the balance and title are checked against the plan's cost second (nothing sent that the
account cannot pay for), and only then do batches leave. Re-running the same run key resumes from
the journal instead of planning again, so texts never change between attempts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..client import MasgsmClient
from ..errors import (
    CredentialsError,
    InsufficientBalanceError,
    MasgsmError,
    PluginError,
    TitleError,
    TransportError,
    UsageError,
)
from ..plugins import get_plugin_manager
from ..render import compile_text, make_environment, render, template_source, template_sources
from ..service import Service
from .checking import check_reports
from .connection import Connection
from .journal import SENDABLE, Journal, RunRecord
from .plan import PlanStats, make_source, plan
from .results import check_notify_templates, export, export_path, notify
from .sending import Batch, BatchSender, Outcome, SendPlan, send_all
from .spec import Pipeline, PipelineError, load_pipeline
from .summary import (
    DEFAULT_FAIL_IF,
    SPENT,
    UNCHECKED_FAIL_IF,
    Summary,
    compile_fail_if,
    evaluate_fail_if,
    shorten,
    summarize,
)

T = TypeVar("T")
READ_RETRIES = 3


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

    def plan(self, details: dict[str, Any]) -> None:
        """The plan, before anything is sent."""

    def note(self, text: str) -> None:
        """A line of progress news for a person."""

    def progress(self, label: str, total: int) -> contextlib.AbstractContextManager:
        """A context manager yielding `advance(n)`."""
        return contextlib.nullcontext(lambda n: None)


def default_journal(pipeline: Pipeline) -> Path:
    """Beside the pipeline: `invoice-reminder.yaml` keeps `invoice-reminder.journal.sqlite`."""
    return pipeline.path.with_name(pipeline.path.stem + ".journal.sqlite")


class Runner:
    def __init__(self, pipeline: Pipeline, options: RunOptions, ui: UI | None = None):
        self.pipeline = pipeline
        self.options = options
        self.ui = ui or UI()
        self.hooks = get_plugin_manager().hook
        self.env = make_environment(pipeline.template_dirs(), pipeline.locale)
        self.env.globals.update(
            vars={**pipeline.vars, **options.vars},
            input=options.input,
            now=dt.datetime.now().astimezone(),
        )
        self.connection = Connection(pipeline, self.env)
        self.details: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        report = pipeline.report
        # Without report checks every accepted number stays pending: that is not a failure.
        self.fail_if_text = report.fail_if or (
            DEFAULT_FAIL_IF if report.check else UNCHECKED_FAIL_IF
        )
        self.fail_if = compile_fail_if(self.env, self.fail_if_text, report.fail_if_where)
        # Tried now, while nothing is sent: a mistake in them must not surface after sending.
        self.export_to = export_path(pipeline, self.env)
        check_notify_templates(pipeline, self.env)

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> Summary:
        with self._service() as service, self._journal() as journal:
            lang = self.connection.lang(service)
            source = make_source(self.pipeline, self.options.input)
            fingerprint = self._fingerprint(source.fingerprint(), service)
            run_key = self._run_key(fingerprint)
            if self.options.dry_run:
                self._note_journaled(run_key)
            journal.lock()
            run = self._resume_or_plan(journal, run_key, fingerprint, source, service, lang)
            info = RunInfo(
                self.pipeline.name, run_key, self.pipeline.path, journal.path, self.options.dry_run
            )
            try:
                return self._run_planned(journal, run, info, service, lang)
            except MasgsmError as error:
                # "Nothing sent" (2) is no longer true once any text of this run went.
                if error.exit_code == 2 and journal.tally(run).credits(SPENT):
                    error.exit_code = 1
                raise

    def _run_planned(
        self, journal: Journal, run: RunRecord, info: RunInfo, service: Service | None, lang: str
    ) -> Summary:
        """Pre-flight, send and check a planned run (or only show it, in a dry run)."""
        if service is None:
            self._show_plan(journal, run, None, None)
            return self._finish(journal, run, info, stop=None)
        if service.method == "get":
            self.ui.note("Pipelines send with the POST API (type 1); method=get is ignored.")
        with self._client(service) as client:
            if not self.options.dry_run:
                self._settle_partial_batches(journal, run, client)
            self._show_plan(journal, run, client, service)
            if self.options.dry_run:
                return self._finish(journal, run, info, stop=None)
            stop = self._send(journal, run, info, client, service.title, lang)
            self._check(journal, run, client, partial_only=not self.pipeline.report.check)
            return self._finish(journal, run, info, stop)

    def check_again(self, journal: Journal, run: RunRecord, wait: float | None) -> Summary:
        """Poll a past run's reports once more (for `masgsm-notify check`), then summarise."""
        info = RunInfo(run.name, run.run_key, self.pipeline.path, journal.path, False)
        service = self.connection.configured()
        if run.account != account_of(service):
            raise UsageError(
                f"Run {run.run_key!r} was sent as {run.account or 'an unknown account'}; the "
                f"settings here name {account_of(service)}. Its reports can only be read from "
                "the account that sent it."
            )
        with self._client(service) as client:
            self._check(journal, run, client, wait=wait)
        return self._finish(journal, run, info, stop=None)

    def _client(self, service: Service) -> MasgsmClient:
        send = self.pipeline.send
        return service.client(pool_size=send.concurrency, timeout=(10.0, send.timeout))

    def _read(self, fetch: Callable[[], T]) -> T:
        """A read-only request (balance, titles), retried on transport failures: repeating a read
        is always safe, so it gets at least READ_RETRIES tries whatever send.retries says."""
        retries = max(self.pipeline.send.retries, READ_RETRIES)
        delay = 0.5
        for attempt in range(retries + 1):
            try:
                return fetch()
            except TransportError:
                if attempt == retries:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable: the loop returns or raises")

    @contextlib.contextmanager
    def _service(self) -> Iterator[Service | None]:
        if self.options.sandbox:
            with self.connection.sandbox() as service:
                self.ui.note(f"Sandbox MASGSM at {service.base_url} (no real SMS is sent).")
                yield service
            return
        try:
            service = self.connection.configured()
        except UsageError:
            if not self.options.dry_run or not self.connection.credentials_missing():
                raise
            self.ui.note("No MASGSM service configured: the dry run skips balance and title.")
            service = None
        yield service

    @contextlib.contextmanager
    def _journal(self) -> Iterator[Journal]:
        """The run's journal; a dry run or a sandbox run without --journal gets a throwaway one,
        so trying a pipeline never marks its messages as sent in the real journal."""
        if self._throwaway_journal():
            with (
                tempfile.TemporaryDirectory(prefix="masgsm-trial-") as folder,
                Journal(Path(folder) / "trial.journal.sqlite") as journal,
            ):
                yield journal
            return
        with Journal(self._journal_path(), durable=self.pipeline.send.durable) as journal:
            yield journal

    def _account(self, service: Service | None) -> str | None:
        """Who a run sends as, for its identity: user, base URL and title. Every embedded
        sandbox is the same account, whatever port it listens on this time."""
        if self.options.sandbox:
            return "embedded sandbox"
        return account_of(service) if service else None

    def _throwaway_journal(self) -> bool:
        return self.options.dry_run or (self.options.sandbox and not self.options.journal)

    def _journal_path(self) -> Path:
        return self.options.journal or default_journal(self.pipeline)

    def _took(self, phase: str, started: float, items: int = 0) -> str:
        """Record how long a phase took (for the summary) and say it for a person."""
        seconds = time.monotonic() - started
        self.timings[phase] = round(self.timings.get(phase, 0.0) + seconds, 3)
        rate = f" ({items / seconds:,.0f}/s)" if items and seconds > 0 else ""
        return f"{seconds:.2f} s{rate}"

    # -- the run key and the plan --------------------------------------------------------------

    def _fingerprint(self, source_bytes: bytes, service: Service | None) -> str:
        """What makes this run this run: the pipeline, its inputs and templates, and the account
        it sends through (so a run key never resumes against another account or a sandbox)."""
        digest = hashlib.sha256(self.pipeline.text.encode())
        digest.update(json.dumps(self.env.globals["vars"], sort_keys=True, default=str).encode())
        digest.update(self.options.input_bytes)
        digest.update(source_bytes)
        digest.update(f"\0{self._account(service)}".encode())
        message = self.pipeline.message
        main = (
            template_source(self.env, message.template, message.where)
            if message.template
            else message.inline or ""
        )
        for text in template_sources(self.env, main):
            digest.update(text.encode())
        return digest.hexdigest()

    def _run_key(self, fingerprint: str) -> str:
        if self.options.run_key:
            return self.options.run_key
        if self.pipeline.run_key:
            where = self.pipeline.run_key_where
            key = render(compile_text(self.env, self.pipeline.run_key, where), {}, where).strip()
            if not key:
                raise PipelineError(f"{where}: run_key rendered empty")
            return key
        return f"{self.pipeline.name}-{fingerprint[:12]}"

    def _note_journaled(self, run_key: str) -> None:
        """In a dry run, say what a real run would resume from the journal, if anything."""
        path = self._journal_path()
        if not path.is_file():
            return
        with Journal(path) as journal:
            run = journal.find_run(run_key)
            if run is None or not run.planned_at:
                return
            tally = journal.tally(run)
            self.ui.note(
                f"Run key {run_key!r} is already in {path}: a real run would resume it and send "
                f"{tally.messages(SENDABLE)} of its {tally.messages()} message(s), not this plan."
            )

    def _resume_or_plan(
        self,
        journal: Journal,
        run_key: str,
        fingerprint: str,
        source: Any,
        service: Service | None,
        lang: str,
    ) -> RunRecord:
        existing = journal.find_run(run_key)
        if existing and existing.planned_at and journal.ever_attempted(existing):
            if existing.fingerprint != fingerprint:
                raise UsageError(
                    f"Run key {run_key!r} was already sent from different inputs (the pipeline, "
                    "its recipients, templates, --var, --input or the account changed). Its "
                    "messages stay as they were; to send the new inputs, use another --run-key."
                )
            interrupted = journal.settle_interrupted(existing, self.options.resend_unknown)
            self.ui.note(
                f"Resuming run {run_key!r} from {journal.path}"
                + (f"; {interrupted} unknown message(s) will be sent again" if interrupted else "")
            )
            return existing
        if existing:
            journal.discard_plan(existing)
        run = journal.create_run(
            run_key,
            self.pipeline.name,
            str(self.pipeline.path.resolve()),  # `check` may run from another folder
            fingerprint,
            self._account(service),
        )
        started = time.monotonic()
        try:
            with self.ui.progress("Planning", 0) as advance:
                seen = 0

                def progress(rows: int) -> None:
                    nonlocal seen
                    advance(rows - seen)
                    seen = rows

                stats = plan(self.pipeline, source, self.env, journal, run, lang, progress)
            self._judge_invalid(stats)
        except BaseException:
            journal.discard_plan(run)
            raise
        journal.finish_plan(run, stats.rows, stats.filtered)
        self.ui.note(f"Planned {stats.rows} row(s) in {self._took('plan', started)}.")
        return journal.find_run(run_key) or run

    def _judge_invalid(self, stats: PlanStats) -> None:
        if not stats.invalid or self.pipeline.send.on_invalid == "skip":
            return
        listed = "\n".join(
            f"  {where}: {shorten(value)}: {reason}"
            for where, value, reason in stats.invalid_examples
        )
        more = stats.invalid - len(stats.invalid_examples)
        raise UsageError(
            f"{stats.invalid} invalid recipient(s); nothing was sent. Fix them, or set "
            f"send.on_invalid: skip to send the rest.\n{listed}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )

    # -- pre-flight and the plan ---------------------------------------------------------------

    def _show_plan(
        self, journal: Journal, run: RunRecord, client: MasgsmClient | None, service: Service | None
    ) -> None:
        tally = journal.tally(run)
        to_send, credits = tally.messages(SENDABLE), tally.credits(SENDABLE)
        self.details = {
            "name": run.name,
            "run_key": run.run_key,
            "journal": None if self._throwaway_journal() else str(journal.path),
            "dry_run": self.options.dry_run,
            "rows": run.rows,
            "filtered": run.filtered,
            "skipped": journal.skipped_count(run),
            "messages": tally.messages(),
            "duplicates": tally.rows() - tally.messages(),
            "credits": tally.credits(),
            "encodings": tally.by_encoding(),
            "segments": tally.by_segments(),
            "to_send": to_send,
            "credits_to_send": credits,
            "service": service.url(privacy=True) if service else None,
            "title": service.title if service else None,
            "preview": [
                {"row": r, "number": n, "text": t, "segments": s}
                for r, n, t, s in journal.preview(run, self.options.preview)
            ],
        }
        if client is not None and service is not None and to_send:
            self.details.update(self._preflight(client, service, credits))
        self.ui.plan(self.details)

    def _preflight(self, client: MasgsmClient, service: Service, credits: int) -> dict[str, Any]:
        """Balance and title checks. In a real run a short or unreadable balance, or a title
        the account does not list, stops the run; a dry run reports them. (A title list that
        cannot be read is only reported: some accounts lack the older API.)"""
        found: dict[str, Any] = {}
        problems: list[MasgsmError] = []
        try:
            found["balance"] = self._read(client.balance)
            if found["balance"] < credits:
                problems.append(
                    InsufficientBalanceError(
                        f"The plan needs {credits:,} credits but the balance is "
                        f"{found['balance']:,}; nothing was sent. Top up, or send fewer."
                    )
                )
        except CredentialsError:
            raise
        except MasgsmError as error:
            found["balance_error"] = str(error)
            problems.append(
                MasgsmError(f"The balance could not be read ({error}); nothing was sent.")
            )
        try:
            found["titles"] = self._read(client.titles)
            if service.title not in found["titles"]:
                problems.append(
                    TitleError(
                        f"The title {service.title!r} is not registered to the account "
                        f"(registered: {', '.join(found['titles']) or 'none'}); nothing was sent."
                    )
                )
        except CredentialsError:
            raise
        except MasgsmError as error:
            found["titles_error"] = str(error)
        if problems and not self.options.dry_run:
            raise problems[0]
        found["problems"] = [str(p) for p in problems]
        return found

    # -- sending and checking ------------------------------------------------------------------

    def _settle_partial_batches(
        self, journal: Journal, run: RunRecord, client: MasgsmClient
    ) -> None:
        """Before resuming, learn which numbers of an earlier partial send never went, so this
        run sends them; the report is the only place that says."""
        if journal.batches_to_check(run, partial_only=True):
            self._check(journal, run, client, partial_only=True)

    def _send(
        self,
        journal: Journal,
        run: RunRecord,
        info: RunInfo,
        client: MasgsmClient,
        title: str | None,
        lang: str,
    ) -> MasgsmError | None:
        to_send = journal.tally(run).messages(SENDABLE)
        if not to_send:
            self.ui.note("Nothing left to send for this run key.")
            return None
        started = time.monotonic()
        with self.ui.progress("Sending", to_send) as advance:

            def after(batch: Batch, outcome: Outcome) -> None:
                advance(len(batch.numbers))
                self._hook("after_batch", run=info, batch=batch, outcome=outcome)

            plan = SendPlan(
                batch_size=self.pipeline.send.batch_size,
                concurrency=self.pipeline.send.concurrency,
                title=title,
                lang=lang,
                before=lambda batch: self._hook("before_batch", run=info, batch=batch),
                after=after,
            )
            totals = send_all(journal, run, BatchSender(client, self.pipeline.send.retries), plan)
        partial = f" (and {totals.partial} partial batch(es))" if totals.partial else ""
        self.ui.note(
            f"Sent {totals.accepted} message(s){partial} in {totals.batches} batch(es) in "
            f"{self._took('send', started, totals.accepted)}."
        )
        return totals.stop

    def _check(
        self,
        journal: Journal,
        run: RunRecord,
        client: MasgsmClient,
        partial_only: bool = False,
        wait: float | None = None,
    ) -> None:
        spec = self.pipeline.report
        started = time.monotonic()
        try:
            with self.ui.progress("Reports read", 0) as advance:
                rounds = check_reports(
                    journal,
                    run,
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

    def _finish(
        self, journal: Journal, run: RunRecord, info: RunInfo, stop: MasgsmError | None
    ) -> Summary:
        summary = summarize(journal, run, dry_run=self.options.dry_run)
        summary.journal = None if self._throwaway_journal() else summary.journal
        summary.fail_if = self.fail_if_text
        summary.plan = self.details
        summary.timings = self.timings
        if self.options.dry_run:
            return summary
        try:
            summary.failing = evaluate_fail_if(
                self.fail_if, summary, self.pipeline.report.fail_if_where
            )
        except PipelineError as error:  # texts went out: say so, and count the run as failing
            self.ui.note(str(error))
            summary.failing = True
        summary.error = str(stop) if stop else None
        summary.exit_code = _exit_code(summary, stop)
        if self.export_to and self.options.sandbox:
            self.ui.note("report.export: skipped, this was a --sandbox run.")
        elif self.export_to:
            export(journal, run, self.export_to, self.ui.note)
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


def account_of(service: Service) -> str:
    return f"{service.user} at {service.base_url}, title {service.title}"


def _exit_code(summary: Summary, stop: MasgsmError | None) -> int:
    """2 only while nothing of the run was ever sent; refusals and transport failures are 1."""
    if stop is not None:
        return 1 if stop.exit_code == 2 and summary.credits_sent else stop.exit_code
    if summary.refused:
        return 1
    return 3 if summary.failing else 0


def find_journal(run_key: str, folder: Path) -> Path:
    """The journal holding `run_key` among `*.journal.sqlite` files in and below `folder`."""
    candidates = sorted([*folder.glob("*.journal.sqlite"), *folder.glob("*/*.journal.sqlite")])
    for path in candidates:
        try:
            with Journal(path) as journal:
                if journal.find_run(run_key):
                    return path
        except MasgsmError:
            continue  # another version's journal, or not a journal at all
    looked = ", ".join(str(p) for p in candidates) or f"no *.journal.sqlite in {folder}"
    raise UsageError(
        f"No journal holds run key {run_key!r} (looked at: {looked}); name it with --journal."
    )


def recheck(run_key: str, journal_path: Path, wait: float | None, ui: UI) -> Summary:
    """Poll the reports of a past run again and summarise it, as `masgsm-notify check` does."""
    with Journal(journal_path) as journal:
        run = journal.find_run(run_key)
        if run is None:
            recent = ", ".join(r.run_key for r in journal.latest_runs(5)) or "none"
            raise UsageError(f"{journal_path}: no run {run_key!r} (recent runs: {recent}).")
        journal.lock()
        pipeline_path = Path(run.pipeline)
        if not pipeline_path.is_file():
            raise UsageError(
                f"The pipeline of run {run_key!r} ({pipeline_path}) is gone; its "
                "service settings cannot be read."
            )
        runner = Runner(load_pipeline(pipeline_path), RunOptions(journal=journal_path), ui)
        return runner.check_again(journal, run, wait)
