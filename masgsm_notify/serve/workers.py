"""One worker per pipeline: its payloads run one at a time, in the order they were accepted.

The oldest unfinished payload of a pipeline always goes first, so a resolved notice never
overtakes its firing notice, even across retries and restarts; pipelines do not wait for each
other. Each payload runs through the pipeline runner with the payload as `input`, under its own
run key, and stops once its texts are sent: its reports are read in the background (`reports`).

What happens to a payload whose run fails depends on who can fix it:
- bad input (a template error, invalid numbers, a wrong title or password: the runner's exit 2)
  fails the payload at once, with the error; the queue goes on.
- a runtime error (MASGSM unreachable, the balance out, the journal held by a cron run) puts it
  back to wait, retried with backoff for `--retry-for`, then failed. Its pipeline's later
  payloads wait behind it: they would meet the same error, and must not overtake it.
- a crash of the process leaves it running; at the next start it waits again and resumes its
  run key, so a text already sent does not go twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import MasgsmError, SendWindowClosedError, UsageError
from ..pipeline import Pipeline, Runner, RunOptions, Summary
from ..window import state_of, when
from .metrics import Metrics
from .queue import Payload, QueueStore
from .reports import Concluder
from .served import FirstBatches, LogUI, Served

log = logging.getLogger("masgsm_notify.serve")

IDLE_POLL = 1.0  # seconds between looks at the queue when nothing woke the worker
FIRST_RETRY = 1.0
LAST_RETRY = 60.0


def send_window_opens(pipeline: Pipeline, now: float) -> float | None:
    """None when the pipeline may send now; else when it may (epoch seconds).

    A payload of a pipeline whose `send.window` is closed waits, with the pipeline's later
    payloads behind it, until the window opens (a run it started that reaches the window's end
    stops and is resumed the same way).
    """
    moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    state = state_of(pipeline.send.window, moment)
    return None if state.open or state.opens_at is None else state.opens_at.timestamp()


@dataclass(frozen=True)
class WorkerSettings:
    retry_for: float  # seconds a payload is retried after runtime errors before it fails


class PipelineWorker:
    """Runs one pipeline's payloads in order, in its own thread."""

    def __init__(
        self,
        served: Served,
        queue: QueueStore,
        metrics: Metrics,
        concluder: Concluder,
        first_batches: FirstBatches,
        settings: WorkerSettings,
        window: Callable[[Pipeline, float], float | None] = send_window_opens,
    ):
        self.served = served
        self.queue = queue
        self.metrics = metrics
        self.concluder = concluder
        self.first_batches = first_batches
        self.settings = settings
        self.window = window
        self.busy = False  # a payload's run is under way
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"masgsm-worker-{served.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Take no further payload; the one running finishes its send."""
        self._stopping.set()
        self._wake.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                pause = self._step()
            except Exception:  # the queue itself failed: say so, and look again shortly
                log.exception("%s: could not read the queue", self.served.name)
                pause = IDLE_POLL
            if pause:
                self._wake.wait(pause)
                self._wake.clear()

    def _step(self) -> float:
        """Run the next payload if it is due; return how long to wait before looking again."""
        payload = self.queue.next_for(self.served.name)
        if payload is None:
            return IDLE_POLL
        now = time.time()
        if payload.not_before > now:
            return min(payload.not_before - now, IDLE_POLL)
        opens = self.window(self.served.pipeline, now)
        if opens is not None and opens > now:
            self.queue.wait_again(payload.id, opens, self._closed_until(opens))
            return min(opens - now, IDLE_POLL)
        self.busy = True
        try:
            self._process(payload)
        finally:
            self.busy = False
        return 0.0

    def _closed_until(self, opens: float) -> str:
        """Why a payload waits, with the time the window opens in the window's own zone (as
        the pipeline says it), not the server's."""
        window = self.served.pipeline.send.window
        zone = window.zone if window is not None else None
        return f"the send window is closed until {when(dt.datetime.fromtimestamp(opens, zone))}"

    def _process(self, payload: Payload) -> None:
        label = f"{self.served.name} #{payload.id}"
        self.queue.start(payload.id)
        body = self.queue.body(payload.id)
        options = RunOptions(
            run_key=payload.run_key,
            journal=self.served.journal,
            input=json.loads(body.decode("utf-8-sig")),
            input_bytes=body,
            check_later=True,
            held=self.served.held,
        )
        try:
            with self.served.lock:
                summary = Runner(self.served.pipeline, options, LogUI(label)).run()
        except UsageError as error:
            self._fail(payload, label, error, str(error))
        except SendWindowClosedError as error:  # the window closed mid-run: park the rest
            opens = self.window(self.served.pipeline, time.time())
            self.queue.wait_again(payload.id, opens or time.time() + IDLE_POLL, str(error))
        except MasgsmError as error:
            self._retry_or_fail(payload, label, error)
        except Exception as error:  # a fault of this program, not of the payload
            log.exception("%s: the run failed unexpectedly", label)
            self._fail(payload, label, None, f"internal error: {type(error).__name__}: {error}")
        else:
            self._sent(payload, label, summary)
        finally:
            self.first_batches.take(payload.run_key)

    def _sent(self, payload: Payload, label: str, summary: Summary) -> None:
        outcomes = summary.counts.outcomes
        texts = outcomes["pending"] + outcomes["delivered"] + outcomes["failed"]
        left = self.first_batches.take(payload.run_key)
        self.queue.sent(payload.id, texts, left)
        name = self.served.name
        self.metrics.count("masgsm_texts_sent_total", max(texts - payload.texts, 0), pipeline=name)
        if left is not None and payload.sent_at is None:
            self.metrics.observe_latency(name, max(left - payload.received_at, 0.0))
        log.info("%s: %d text(s) sent (run key %s)", label, texts, payload.run_key)
        self.concluder.add(self.served, payload.id, payload.run_key)

    def _retry_or_fail(self, payload: Payload, label: str, error: MasgsmError) -> None:
        started = payload.first_attempt_at or time.time()
        if time.time() - started >= self.settings.retry_for:
            self._fail(payload, label, error, f"{error} (gave up after --retry-for)")
            return
        delay = min(FIRST_RETRY * 2 ** max(payload.attempts, 0), LAST_RETRY)
        self.queue.wait_again(payload.id, time.time() + delay, str(error))
        self.metrics.count("masgsm_run_retries_total", pipeline=self.served.name)
        log.warning("%s: %s; trying again in %.0f s", label, error, delay)

    def _fail(self, payload: Payload, label: str, error: MasgsmError | None, message: str) -> None:
        self.queue.fail(payload.id, message)
        self.metrics.count("masgsm_payloads_failed_total", pipeline=self.served.name)
        log.error("%s: failed: %s", label, message)
        if error is not None:
            # Texts of it may have gone before the error: read their reports and conclude the
            # run with the error, as `run` would (its notify: hears of it).
            self.concluder.add(self.served, payload.id, payload.run_key, stop=error, failed=True)
