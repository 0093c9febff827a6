"""Reading the reports of sent payloads in the background, and concluding their runs.

A payload's worker stops once its texts are sent, so the next payload need not wait minutes for
delivery reports. Here each sent run is polled round by round on the schedule `check` keeps
(a quarter second, doubling up to `report.poll_every`), until no number is pending or
`report.wait` has passed; then its run is concluded as `run` concludes one: the verdict
(`fail_if`), the export, `after_report` and `notify:`. A round takes the journal's lock to see
what waits and to record the answers, never while it waits for MASGSM, so the pipeline's worker
is hardly held up.

A stop drops the rounds still to come; at the next start every payload sent but not concluded
is taken up again.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..client import DeliveryReport, MasgsmClient
from ..errors import CredentialsError, MasgsmError
from ..pipeline import RunInfo, Runner, RunOptions
from ..pipeline.checking import FIRST_DELAY
from ..pipeline.records import RunRecords
from .metrics import Metrics
from .queue import QueueStore
from .served import LogUI, Served

log = logging.getLogger("masgsm_notify.serve")


@dataclass
class _Job:
    served: Served
    payload_id: int
    run_key: str
    stop: MasgsmError | None
    failed: bool
    deadline: float
    delay: float = FIRST_DELAY
    runner: Runner | None = field(default=None, repr=False)
    client: MasgsmClient | None = field(default=None, repr=False)


class Concluder:
    """A few threads taking due rounds from one schedule."""

    def __init__(self, queue: QueueStore, metrics: Metrics, threads: int = 4):
        self.queue = queue
        self.metrics = metrics
        self._schedule: list[tuple[float, int, _Job]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"masgsm-reports-{n}", daemon=True)
            for n in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Drop the rounds still to come (taken up again at the next start)."""
        with self._cond:
            self._stopping = True
            self._schedule.clear()
            self._cond.notify_all()

    def add(
        self,
        served: Served,
        payload_id: int,
        run_key: str,
        *,
        stop: MasgsmError | None = None,
        failed: bool = False,
        since: float | None = None,
    ) -> None:
        """Conclude a run sent at `since` (now by default): its reports, then its verdict."""
        report = served.pipeline.report
        deadline = (since or time.time()) + (report.wait if report.check else 0.0)
        job = _Job(served, payload_id, run_key, stop, failed, deadline)
        self._schedule_at(time.time() + min(FIRST_DELAY, report.poll_every), job)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _schedule_at(self, due: float, job: _Job) -> None:
        with self._cond:
            if self._stopping:
                return
            heapq.heappush(self._schedule, (due, next(self._order), job))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.time()
                    if self._schedule and self._schedule[0][0] <= now:
                        job = heapq.heappop(self._schedule)[2]
                        break
                    wait = self._schedule[0][0] - now if self._schedule else None
                    self._cond.wait(wait)
                else:
                    return
            try:
                self._round(job)
            except Exception:  # one run's trouble must not stop the others' reports
                log.exception(
                    "%s #%d: its reports could not be read", job.served.name, job.payload_id
                )

    def _round(self, job: _Job) -> None:
        """One round: which batches still wait for a report (under the journal's lock), their
        reports (not under it: the pipeline's worker goes on meanwhile), then their answers (under
        it again); or, when nothing waits or the time is up, the conclusion."""
        served = job.served
        spec = served.pipeline.report
        runner = job.runner or self._runner(job)
        with served.lock:
            run = served.held.journal.find_run(job.run_key)
            if run is None:
                return  # nothing was planned (the payload failed before), nothing to conclude
            records = RunRecords(served.held.journal, run)
            if job.failed and not records.ever_attempted():
                return
            todo = records.batches_to_check(partial_only=not spec.check)
        if todo and time.time() < job.deadline:
            reports = [(batch_id, _read_report(job, runner, id_)) for batch_id, id_ in todo]
            if self.stopping:
                return  # serve is closing its journals; this run is concluded at the next start
            with served.lock:
                for batch_id, report in reports:
                    if report is not None:
                        records.apply_report(
                            batch_id, report.delivered, report.failed, report.pending
                        )
                left = records.batches_to_check(partial_only=not spec.check)
            if left:
                job.delay = min(job.delay * 2, spec.poll_every)
                self._schedule_at(min(time.time() + job.delay, job.deadline), job)
                return
        info = RunInfo(served.name, run.run_key, served.pipeline.path, served.journal, False)
        with served.lock:
            summary = runner.check_again(records, info, 0.0, job.stop)
        if job.client is not None:
            job.client.close()
        self._concluded(job, summary.to_dict())

    def _runner(self, job: _Job) -> Runner:
        """One runner for all of a job's rounds: its templates and verdict compiled once."""
        label = f"{job.served.name} #{job.payload_id}"
        body = self.queue.body(job.payload_id)
        options = RunOptions(
            journal=job.served.journal,
            input=json.loads(body.decode("utf-8-sig")) if body else None,
            held=job.served.held,
        )
        job.runner = Runner(job.served.pipeline, options, LogUI(label))
        return job.runner

    def _concluded(self, job: _Job, summary: dict[str, Any]) -> None:
        name = job.served.name
        outcomes = summary["outcomes"]
        verdict = "error" if job.stop else ("failing" if summary["failing"] else "ok")
        self.metrics.count("masgsm_runs_total", pipeline=name, outcome=verdict)
        for state in ("delivered", "failed", "unknown"):
            self.metrics.count(f"masgsm_texts_{state}_total", outcomes[state], pipeline=name)
        self.metrics.count("masgsm_credits_spent_total", summary["credits_sent"], pipeline=name)
        kept = {
            key: summary[key]
            for key in ("outcomes", "credits_sent", "failing", "exit_code", "error", "fail_if")
        }
        self.queue.conclude(job.payload_id, kept)
        log.info(
            "%s #%d: concluded (%s): %s",
            name,
            job.payload_id,
            verdict,
            ", ".join(f"{k} {v}" for k, v in outcomes.items()),
        )


def _read_report(job: _Job, runner: Runner, message_id: str) -> DeliveryReport | None:
    """One batch's report, or None when it cannot be read this round (tried again next)."""
    if job.client is None:
        service = runner.resolver.configured()
        send = job.served.pipeline.send
        job.client = service.client(pool_size=1, timeout=(10.0, send.timeout))
    try:
        return job.client.report(message_id)
    except CredentialsError:
        raise
    except MasgsmError as error:
        log.warning("Report of message %s not read this round: %s", message_id, error)
        return None
