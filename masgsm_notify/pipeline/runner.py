"""Running a pipeline: plan, pre-flight checks, send, check the reports, summarise.

The order is the guarantee: the whole plan is journaled and validated first (nothing sent on bad
input), the balance and title are checked against the plan's cost second (nothing sent that the
account cannot pay for), and only then do batches leave. Re-running the same run key resumes from
the journal instead of planning again, so texts never change between attempts.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apprise

from ..errors import CredentialsError, InsufficientBalanceError, MasgsmError, TitleError, UsageError
from ..plugins import get_plugin_manager
from ..render import (
    RenderError,
    compile_text,
    make_environment,
    render,
    template_source,
    template_sources,
)
from ..sandbox import SandboxConfig, SandboxServer
from ..service import Service
from .checking import check_reports
from .journal import SENDABLE, Journal, RunRecord
from .plan import PlanStats, make_source, plan
from .sending import Batch, BatchSender, Outcome, send_all
from .spec import Pipeline, PipelineError, load_pipeline
from .summary import (
    DEFAULT_FAIL_IF,
    UNCHECKED_FAIL_IF,
    Summary,
    compile_fail_if,
    evaluate_fail_if,
    export_csv,
    summarize,
)

log = logging.getLogger(__name__)


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
        self.env = make_environment(pipeline.template_dirs())
        self.now = dt.datetime.now().astimezone()
        self.env.globals.update(vars=self._vars(), input=options.input, now=self.now)
        self.details: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        report = pipeline.report
        # Without report checks every accepted number stays pending: that is not a failure.
        self.fail_if_text = report.fail_if or (
            DEFAULT_FAIL_IF if report.check else UNCHECKED_FAIL_IF
        )
        self.fail_if = compile_fail_if(self.env, self.fail_if_text, report.fail_if_where)

    def _vars(self) -> dict[str, Any]:
        return {**self.pipeline.vars, **self.options.vars}

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> Summary:
        with self._service() as service, self._journal() as journal:
            lang = self.pipeline.message.lang
            if lang == "auto" and service:
                lang = service.lang
            source = make_source(self.pipeline, self.options.input)
            fingerprint = self._fingerprint(source.fingerprint())
            run_key = self._run_key(fingerprint)
            if self.options.dry_run:
                self._note_journaled(run_key)
            journal.lock()
            run = self._resume_or_plan(journal, run_key, fingerprint, source, service, lang)
            info = RunInfo(
                self.pipeline.name, run_key, self.pipeline.path, journal.path, self.options.dry_run
            )
            client = service.client(pool_size=self.pipeline.send.concurrency) if service else None
            with contextlib.ExitStack() as stack:
                if client:
                    stack.enter_context(client)
                self.details = self._plan_details(journal, run, client, service)
                self.ui.plan(self.details)
                if self.options.dry_run:
                    return self._finish(journal, run, info, stop=None)
                stop = self._send(journal, run, info, client, service.title, lang)
                if self.pipeline.report.check:
                    self._check(journal, run, client)
                return self._finish(journal, run, info, stop)

    def check_again(self, journal: Journal, run: RunRecord, wait: float | None) -> Summary:
        """Poll a past run's reports once more (for `masgsm-notify check`), then summarise."""
        info = RunInfo(run.name, run.run_key, self.pipeline.path, journal.path, False)
        spec = self.pipeline.report
        with self._configured_service().client() as client:
            check_reports(
                journal,
                run,
                client,
                wait=spec.wait if wait is None else wait,
                poll_every=spec.poll_every,
                concurrency=self.pipeline.send.concurrency,
            )
        return self._finish(journal, run, info, stop=None)

    @contextlib.contextmanager
    def _service(self) -> Iterator[Service | None]:
        if self.options.sandbox:
            title = self.pipeline.message.title or self._title_from_url() or "MASGSMTEST"
            config = SandboxConfig()
            config.titles = tuple(dict.fromkeys((*config.titles, title)))
            with SandboxServer(config) as sandbox:
                self.ui.note(f"Sandbox MASGSM at {sandbox.base_url} (no real SMS is sent).")
                yield Service(
                    config.user,
                    config.password,
                    title,
                    sandbox.base_url,
                    self.pipeline.message.lang,
                )
            return
        try:
            service = self._configured_service()
        except UsageError:
            if not self.options.dry_run or not self._credentials_missing():
                raise
            self.ui.note("No MASGSM service configured: the dry run skips balance and title.")
            service = None
        yield service

    def _credentials_missing(self) -> bool:
        """True when the service fails only for want of credentials in the environment.

        A dry run may go on without them; a service URL that is wrong in itself stays an error.
        """
        if not self.pipeline.service:
            return not (os.environ.get("MASGSM_USER") and os.environ.get("MASGSM_PASSWORD"))
        try:
            stand_ins = collections.defaultdict(lambda: "sandbox", os.environ)
            Service.from_url(self._service_url(stand_ins))
        except MasgsmError:
            return False
        return True

    def _title_from_url(self) -> str | None:
        """The title the pipeline's service URL names, read with stand-ins for its secrets."""
        if not self.pipeline.service:
            return None
        try:
            stand_ins = collections.defaultdict(lambda: "sandbox", os.environ)
            return Service.from_url(self._service_url(stand_ins)).title
        except MasgsmError:
            return None

    def _service_url(self, environment: Mapping[str, str]) -> str:
        spec = self.pipeline
        renderer = compile_text(self.env, spec.service or "", f"{spec.service_where} (service)")
        return render(renderer, {"env": environment}, spec.service_where)

    def _configured_service(self) -> Service:
        spec = self.pipeline
        if spec.service:
            try:
                service = Service.from_url(self._service_url(os.environ))
            except RenderError:
                raise
            except UsageError as error:
                raise UsageError(f"{spec.service_where}: service: {error}") from None
        else:
            service = Service.from_env()
        if spec.message.title:
            service = Service(
                service.user,
                service.password,
                spec.message.title,
                service.base_url,
                service.lang,
                service.method,
            )
        if not service.title:
            raise UsageError(
                f"{spec.path}: no title (sender ID): put it in the service URL "
                "(masgsm://USER:PASS@TITLE), message.title, or MASGSM_TITLE."
            )
        return service

    @contextlib.contextmanager
    def _journal(self) -> Iterator[Journal]:
        if self.options.dry_run:
            with (
                tempfile.TemporaryDirectory(prefix="masgsm-dry-run-") as folder,
                Journal(Path(folder) / "plan.sqlite") as journal,
            ):
                yield journal
            return
        with Journal(self._journal_path(), durable=self.pipeline.send.durable) as journal:
            yield journal

    def _took(self, phase: str, started: float, items: int = 0) -> str:
        """Record how long a phase took (for the summary) and say it for a person."""
        seconds = time.monotonic() - started
        self.timings[phase] = round(seconds, 3)
        rate = f" ({items / seconds:,.0f}/s)" if items and seconds > 0 else ""
        return f"{seconds:.2f} s{rate}"

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

    def _journal_path(self) -> Path:
        return self.options.journal or default_journal(self.pipeline)

    def _fingerprint(self, source_bytes: bytes) -> str:
        digest = hashlib.sha256(self.pipeline.text.encode())
        digest.update(json.dumps(self._vars(), sort_keys=True, default=str).encode())
        digest.update(self.options.input_bytes)
        digest.update(source_bytes)
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
            renderer = compile_text(self.env, self.pipeline.run_key, "run_key")
            key = render(renderer, {}, f"{self.pipeline.path}: run_key").strip()
            if not key:
                raise PipelineError(f"{self.pipeline.path}: run_key rendered empty")
            return key
        return f"{self.pipeline.name}-{fingerprint[:12]}"

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
                    "its recipients, templates, --var or --input changed). Its messages stay as "
                    "they were; to send the new inputs, use another --run-key."
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
            service.url(privacy=True) if service else None,
            service.title if service else None,
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
            f"  {where}: {value!r}: {reason}" for where, value, reason in stats.invalid_examples
        )
        more = stats.invalid - len(stats.invalid_examples)
        raise UsageError(
            f"{stats.invalid} invalid recipient(s); nothing was sent. Fix them, or set "
            f"send.on_invalid: skip to send the rest.\n{listed}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )

    # -- pre-flight and the plan ---------------------------------------------------------------

    def _plan_details(
        self, journal: Journal, run: RunRecord, client: Any, service: Service | None
    ) -> dict[str, Any]:
        tally = journal.tally(run)
        to_send, credits = tally.messages(SENDABLE), tally.credits(SENDABLE)
        details: dict[str, Any] = {
            "name": run.name,
            "run_key": run.run_key,
            "journal": str(journal.path),
            "dry_run": self.options.dry_run,
            "rows": run.rows,
            "filtered": run.filtered,
            "skipped": journal.skipped_count(run),
            "messages": tally.messages(),
            "duplicates": tally.rows() - tally.messages(),
            "credits": tally.credits(),
            "encodings": tally.by(1),
            "segments": tally.by(2),
            "to_send": to_send,
            "credits_to_send": credits,
            "service": service.url(privacy=True) if service else None,
            "title": service.title if service else None,
            "preview": [
                {"row": r, "number": n, "text": t, "segments": s}
                for r, n, t, s in journal.preview(run, self.options.preview)
            ],
        }
        if client is not None and to_send:
            details.update(self._preflight(client, service, credits))
        return details

    def _preflight(self, client: Any, service: Service, credits: int) -> dict[str, Any]:
        """Balance and title checks; fatal in a real run, reported in a dry run."""
        found: dict[str, Any] = {}
        problems: list[MasgsmError] = []
        try:
            found["balance"] = client.balance()
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
        try:
            found["titles"] = client.titles()
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

    def _send(
        self,
        journal: Journal,
        run: RunRecord,
        info: RunInfo,
        client: Any,
        title: str | None,
        lang: str,
    ) -> MasgsmError | None:
        to_send = journal.tally(run).messages(SENDABLE)
        if not to_send:
            self.ui.note("Nothing left to send for this run key.")
            return None
        sender = BatchSender(client, self.pipeline.send.retries)
        started = time.monotonic()
        with self.ui.progress("Sending", to_send) as advance:

            def after(batch: Batch, outcome: Outcome) -> None:
                advance(len(batch.numbers))
                self._hook("after_batch", run=info, batch=batch, outcome=outcome)

            totals = send_all(
                journal,
                run,
                sender,
                batch_size=self.pipeline.send.batch_size,
                concurrency=self.pipeline.send.concurrency,
                title=title,
                lang=lang,
                before=lambda batch: self._hook("before_batch", run=info, batch=batch),
                after=after,
            )
        self.ui.note(
            f"Sent {totals.messages} message(s) in {totals.batches} batch(es) in "
            f"{self._took('send', started, totals.messages)}."
        )
        return totals.stop

    def _check(self, journal: Journal, run: RunRecord, client: Any) -> None:
        spec = self.pipeline.report
        started = time.monotonic()
        with self.ui.progress("Checking reports", 0) as advance:
            rounds = check_reports(
                journal,
                run,
                client,
                wait=spec.wait,
                poll_every=spec.poll_every,
                concurrency=self.pipeline.send.concurrency,
                progress=lambda done, total: advance(1),
            )
        self.ui.note(
            f"Checked delivery reports in {rounds} round(s), {self._took('check', started)}."
        )

    def _finish(
        self, journal: Journal, run: RunRecord, info: RunInfo, stop: MasgsmError | None
    ) -> Summary:
        summary = summarize(journal, run, dry_run=self.options.dry_run)
        spec = self.pipeline.report
        summary.fail_if = self.fail_if_text
        if not self.options.dry_run:
            summary.failing = evaluate_fail_if(self.fail_if, summary, spec.fail_if_where)
            if spec.export:
                name = render(
                    compile_text(self.env, spec.export, "report.export"),
                    {},
                    f"{self.pipeline.path}: report.export",
                )
                path = self.pipeline.base_dir / name
                rows = export_csv(journal, run, path)
                self.ui.note(f"Wrote {rows} result row(s) to {path}.")
        summary.exit_code = _exit_code(summary, stop, journal.batch_counts(run))
        summary.error = str(stop) if stop else None
        summary.plan = self.details
        summary.timings = self.timings
        if not self.options.dry_run:
            self._hook("after_report", run=info, summary=summary)
            self._notify(summary)
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

    def _notify(self, summary: Summary) -> None:
        if not self.pipeline.notify:
            return
        if self.options.sandbox:
            self.ui.note("notify: skipped, this was a --sandbox run.")
            return
        notifier = apprise.Apprise()
        for index, template in enumerate(self.pipeline.notify):
            where = f"{self.pipeline.path}: notify[{index}]"
            try:
                url = render(compile_text(self.env, template, where), {"env": os.environ}, where)
            except RenderError as error:
                self.ui.note(f"{error}; that notify target was skipped.")
                continue
            if not notifier.add(url):
                self.ui.note(f"notify[{index}]: not a usable Apprise URL; skipped.")
        o = summary.outcomes
        body = (
            f"{summary.name} ({summary.run_key}): {o['delivered']} delivered, {o['failed']} "
            f"failed, {o['pending']} pending, {o['unknown']} unknown, {o['not_sent']} not "
            f"sent, {summary.skipped} skipped; {summary.credits_sent} credits."
        )
        if len(notifier) and not notifier.notify(body=body, title=f"masgsm-notify: {summary.name}"):
            self.ui.note("Some notify targets could not be reached (see the log).")


class PluginError(MasgsmError):
    """A plugin hook failed before a batch left; nothing of that batch was sent."""


def _exit_code(summary: Summary, stop: MasgsmError | None, batches: dict[str, int]) -> int:
    if stop is not None:
        return stop.exit_code
    if batches.get("rejected"):
        return 1
    return 3 if summary.failing else 0


def find_journal(run_key: str, folder: Path) -> Path:
    """The journal holding `run_key` among `*.journal.sqlite` files in and below `folder`."""
    candidates = sorted([*folder.glob("*.journal.sqlite"), *folder.glob("*/*.journal.sqlite")])
    for path in candidates:
        with Journal(path) as journal:
            if journal.find_run(run_key):
                return path
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
