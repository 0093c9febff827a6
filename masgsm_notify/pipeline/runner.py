"""Running a pipeline: plan, pre-flight checks, send, check the reports, summarise.

The order is the guarantee: the whole plan is journaled and validated first (nothing sent on bad
input), the balance and title are checked against the plan's cost second (nothing sent that the
account cannot pay for), and only then do batches leave. Re-running the same run key resumes from
the journal instead of planning again, so texts never change between attempts; the sent ledger
keeps a text from reaching a number twice across runs, journals and folders.

Each phase lives in its own module; this one only puts them in order.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..client import MasgsmClient
from ..errors import (
    InterruptedRunError,
    MasgsmError,
    ProviderDownError,
    RunStoppedError,
    StorageError,
    UsageError,
)
from ..service import Service
from ..states import SPENT
from .checking import check_reports
from .compliance import Screen, WindowGate, describe_window, mask_plan, open_screen
from .context import UI, RunContext, RunInfo, RunOptions
from .history import AFTER_SENDING, AT_CHECK, PRE_FLIGHT, read_balance, record_balance
from .identity import account_label, identify
from .journal import Journal
from .ledger_guard import LedgerGuard
from .limits import Pace, SpendingCap, over_budget, paced_batch_size
from .patience import Patience
from .planning import make_source, resume_or_plan
from .preflight import preflight
from .records import RunRecords
from .resolver import ServiceResolver
from .results import Outputs
from .resume import check_command, explain, resume_command
from .sending import Batch, BatchSender, Outcome, SendSettings, SendTotals, send_all
from .spec import Pipeline, load_pipeline
from .stopping import StopRequest
from .storage import note_journaled, open_storage
from .summary import Checks, PlanReport, Summary, summarize


class Runner:
    def __init__(
        self,
        pipeline: Pipeline,
        options: RunOptions,
        ui: UI | None = None,
        stop: StopRequest | None = None,
    ):
        self.context = RunContext(pipeline, options, ui)
        self.pipeline, self.options, self.ui = pipeline, options, self.context.ui
        self.resolver = ServiceResolver(pipeline, self.context.env)
        self.stop = stop or StopRequest()  # a signal's request (see stopping.py)
        self.patience = Patience(pipeline.send.give_up_after, self.ui.warn)
        self.outputs = Outputs(self.context)  # tried now, while nothing is sent
        self.window = WindowGate(self.context)
        self.plan: PlanReport | None = None
        self.source_encoding: dict[str, str] | None = None  # set when this run read the source
        self.blocked: MasgsmError | None = None  # what would stop a real run (dry runs go on)

    def run(self) -> Summary:
        context = self.context
        with (
            self._service() as service,
            open_storage(context) as storage,
            open_screen(context) as screen,
        ):
            lang = self.resolver.lang(service)
            source = make_source(self.pipeline, self.options.input)
            identity = identify(
                self.pipeline,
                context.env,
                run_key=self.options.run_key,
                input_bytes=self.options.input_bytes,
                source_bytes=source.fingerprint(),
                service=service,
                sandbox=self.options.sandbox,
            )
            if self.options.dry_run and not self.options.offline:
                note_journaled(context, identity.run_key)
            records = resume_or_plan(context, storage, identity, source, lang, screen)
            if source.encoding and source.encoding_evidence:
                self.source_encoding = {
                    "encoding": source.encoding,
                    "evidence": source.encoding_evidence,
                }
            records.hold_beyond(self.options.limit)
            info = RunInfo(
                self.pipeline.name,
                identity.run_key,
                self.pipeline.path,
                storage.journal.path,
                self.options.dry_run,
            )
            guard = storage.guard(context, identity, records)
            try:
                return self._run_planned(records, info, service, lang, guard, screen)
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
        screen: Screen,
    ) -> Summary:
        """Pre-flight, send and check a planned run (or only show it, in a dry run)."""
        if service is None or self.options.offline:
            self._show_plan(records, None, service)
            return self.outputs.finish(records, info, None, self.plan)
        if service.method == "get":
            self.ui.note("Pipelines send with the POST API (type 1); method=get is ignored.")
        with self._client(service) as client:
            if not self.options.dry_run and records.batches_to_check(partial_only=True):
                # Before resuming, learn which numbers of an earlier partial send never went,
                # so this run sends them; the report is the only place that says.
                self._check(records, client, partial_only=True)
            self._show_plan(records, client, service)
            if self.options.dry_run:
                return self.outputs.finish(records, info, self.blocked, self.plan)
            stop = self._send(records, info, client, service.title, lang, guard, screen)
            while self.window.waits_again(stop):  # --wait-for-window, past the window's end
                stop = self._send(records, info, client, service.title, lang, guard, screen)
            # Neither a person who stopped the run nor a provider that is gone is waited for.
            reads_reports = not self.options.check_later and not isinstance(
                stop, (InterruptedRunError, ProviderDownError)
            )
            with guard.folding(overlapped=reads_reports):
                if self.options.check_later:
                    records.settle_answered()
                    if stop is not None:
                        raise stop
                    return summarize(records, journal=str(records.journal.path), dry_run=False)
                if reads_reports:
                    stopping = threading.Event()
                    with self.stop.graceful(stopping, "no more waiting for delivery reports."):
                        self._check(
                            records,
                            client,
                            partial_only=not self.pipeline.report.check,
                            stop=stopping,
                        )
                    stop = stop or self.stop.interrupted(
                        "while waiting for delivery reports (everything was sent); read them "
                        f"later with: {check_command(self.context, info)}"
                    )
            records.settle_answered()  # the batches whose reports were not read
            self._balance_for_page(records, client, AFTER_SENDING)
            return self.outputs.finish(records, info, stop, self.plan)

    def check_again(
        self,
        records: RunRecords,
        info: RunInfo,
        wait: float | None,
        stop: MasgsmError | None = None,
    ) -> Summary:
        """Poll a past run's reports once more (for `masgsm-notify check`, and `serve` after a
        `check_later` run, with what stopped its send), then summarise."""
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
            records.settle_all_answered()  # reports that did not come, of a run stopped
            self._balance_for_page(records, client, AT_CHECK)
        return self.outputs.finish(records, info, stop, None)

    def _balance_for_page(self, records: RunRecords, client: MasgsmClient, moment: str) -> None:
        """What is left, for the run's page: one more read-only request, made only for it."""
        if self.options.html:
            read_balance(records, moment, lambda: self.patience.read(client.balance), self.ui.note)

    def _client(self, service: Service) -> MasgsmClient:
        send = self.pipeline.send
        return service.client(pool_size=send.concurrency, timeout=(10.0, send.timeout))

    @contextlib.contextmanager
    def _service(self) -> Iterator[Service | None]:
        service: Service | None
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
            if not self.options.offline:
                self.ui.note("No MASGSM service configured: the dry run skips balance and title.")
            service = None
        yield service

    def _show_plan(
        self, records: RunRecords, client: MasgsmClient | None, service: Service | None
    ) -> None:
        """Show the plan; with a client, check the balance and title against it first."""
        plan = PlanReport.of(
            records,
            journal=None if self.context.throwaway else str(records.journal.path),
            dry_run=self.options.dry_run,
            preview=self.options.preview,
        )
        if service is not None:
            plan.service = service.url(privacy=True)
            plan.title = service.title
        over = over_budget(plan.credits_to_send, self.pipeline.send.max_credits)
        if over is not None and not self.options.dry_run:
            raise over  # before asking MASGSM anything
        plan.window = describe_window(self.pipeline)
        plan.source_encoding = self.source_encoding
        if self.context.masked:
            mask_plan(plan)
        if client is not None and service is not None and plan.to_send:
            plan.checks, problems = preflight(
                client, service.title, plan.credits_to_send, self.patience.read
            )
            if plan.checks.balance is not None:
                record_balance(records, PRE_FLIGHT, plan.checks.balance)
            if problems and not self.options.dry_run:
                raise problems[0]
            self.blocked = problems[0] if problems else None
        if over is not None:
            plan.checks = plan.checks or Checks()
            plan.checks.problems.append(str(over))
            self.blocked = self.blocked or over
        self.plan = plan
        self.ui.plan(plan)
        if not plan.to_send:
            self.ui.note(nothing_to_send(records, self.pipeline))

    def _send(
        self,
        records: RunRecords,
        info: RunInfo,
        client: MasgsmClient,
        title: str | None,
        lang: str,
        guard: LedgerGuard,
        screen: Screen,
    ) -> MasgsmError | None:
        context = self.context
        to_send = records.to_send()
        if not to_send:
            return None
        closed = self.window.hold(screen, records)  # closed: stop, or wait for it to open
        if closed is not None:
            return closed
        to_send = records.to_send()
        send = self.pipeline.send
        resume = resume_command(context, info)
        self.stop.farewell = "Batches still out count as unknown, as after a crash." + (
            f" Resume with: {resume}" if resume else ""
        )
        started = time.monotonic()
        with self.ui.progress("Sending", to_send) as advance:
            settings = self._send_settings(records, info, title, lang, advance)
            sender = BatchSender(client, send.retries, self.patience)
            waiting = (
                "no new batch will leave; waiting for the batches already out to answer "
                f"(each within send.timeout, {send.timeout:g} s)."
            )
            with self.stop.graceful(sender.stopping, waiting):
                try:
                    totals = send_all(records, sender, settings, guard)
                except StorageError as error:
                    explain(error, records, resume)
                    raise
        self._say_sent(totals, started)
        stop = (
            self.stop.interrupted(
                "while sending: no batch left after it, and the batches already out were "
                "answered and recorded."
            )
            or totals.stop
        )
        if isinstance(stop, RunStoppedError):
            explain(stop, records, resume)
        return stop

    def _send_settings(
        self,
        records: RunRecords,
        info: RunInfo,
        title: str | None,
        lang: str,
        advance: Callable[[int], None],
    ) -> SendSettings:
        """How this run sends: batch size and pace, the plugins' hooks around each batch, the
        spending cap and the send window."""
        context, send = self.context, self.pipeline.send

        def after(batch: Batch, outcome: Outcome) -> None:
            advance(len(batch.numbers))
            context.hook("after_batch", run=info, batch=batch, outcome=outcome)

        return SendSettings(
            batch_size=paced_batch_size(send.batch_size, send.rate),
            concurrency=send.concurrency,
            title=title,
            lang=lang,
            before=lambda batch: context.hook("before_batch", run=info, batch=batch),
            after=after,
            pace=Pace(send.rate),
            cap=SpendingCap(send.max_credits, records.credits_spent()),
            may_continue=self.window.may_continue,
        )

    def _say_sent(self, totals: SendTotals, started: float) -> None:
        partial = f" (and {totals.partial:,} partial batch(es))" if totals.partial else ""
        self.ui.note(
            f"Sent {totals.accepted:,} message(s){partial} in {totals.batches:,} batch(es) in "
            f"{self.context.took('send', started, totals.accepted)}."
        )
        if totals.already_sent:
            self.ui.note(
                f"{totals.already_sent:,} message(s) were not sent: another run sent the same "
                "text to the same number meanwhile (the sent ledger)."
            )

    def _check(
        self,
        records: RunRecords,
        client: MasgsmClient,
        partial_only: bool = False,
        wait: float | None = None,
        stop: threading.Event | None = None,
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
                    sleep=stop.wait if stop is not None else time.sleep,
                )
        except MasgsmError as error:
            self.ui.note(f"The delivery reports could not be read: {error}")
            return
        if rounds:
            self.ui.note(
                f"Checked delivery reports in {rounds} round(s), "
                f"{self.context.took('check', started)}."
            )


def nothing_to_send(records: RunRecords, pipeline: Pipeline) -> str:
    """Why a plan has nothing to send: an empty source reads differently from a finished run."""
    run, spec = records.run, pipeline.recipients
    if not run.rows:
        named = f" ({spec.value})" if isinstance(spec.value, str) and spec.value else ""
        return f"The recipients source, {spec.source}{named}, has no rows: nothing to send."
    if run.filtered == run.rows:
        return f"when: filtered out every row ({run.rows:,}): nothing to send."
    if records.ever_attempted():
        return "Nothing left to send for this run key."
    return "Nothing to send: every row is invalid, merged or already sent (see the counts)."


def recheck(
    run_key: str,
    journal_path: Path,
    wait: float | None,
    ui: UI,
    html: Path | None = None,
    mask: bool = False,
) -> Summary:
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
        options = RunOptions(journal=journal.path, html=html, mask=mask)
        runner = Runner(load_pipeline(pipeline_path), options, ui)
        info = RunInfo(run.name, run.run_key, pipeline_path, journal.path, False)
        return runner.check_again(RunRecords(journal, run), info, wait)
