"""The pipelines one serve process runs, each with its journal, and what their runs share.

serve holds each journal it writes for its whole life: opened once, its writer lock taken once,
with the sent ledger beside it (`held`, the same `Storage` a run opens for itself). Opening and
closing them for every payload would cost a checkpoint and a disk flush each time, several times
the run itself. So a `run` of a served pipeline (from cron, say) is refused at once while serve
runs, naming serve; readers (`check`, `runs`, `queue list`) work as ever. Every use of a journal
(a payload's run, a round of its reports) takes that journal's in-process lock: they share one
connection.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..hookspecs import hookimpl
from ..pipeline import UI, Pipeline, PlanReport, load_pipeline
from ..pipeline.journals import choose_journal
from ..plugins import get_plugin_manager
from .app import PIPELINE_NAME

log = logging.getLogger("masgsm_notify.serve")


@dataclass
class Served:
    pipeline: Pipeline
    journal: Path
    lock: threading.Lock  # one per journal file
    held: Any = None  # the journal and ledger held open (a pipeline.storage.Storage), once open

    @property
    def name(self) -> str:
        return self.pipeline.name


def load_served(files: list[Path], journal: Path | None) -> dict[str, Served]:
    """Load every pipeline (each error names its file); names must be unique and fit a URL."""
    served: dict[str, Served] = {}
    locks: dict[str, threading.Lock] = {}
    for path in files:
        pipeline = load_pipeline(path)
        if not PIPELINE_NAME.fullmatch(pipeline.name):
            raise UsageError(
                f"{path}: name {pipeline.name!r}: serve answers at /hooks/<name>, so a served "
                "pipeline's name is lower-case letters, digits, - and _ only."
            )
        if pipeline.name in served:
            raise UsageError(
                f"{path}: the name {pipeline.name!r} is also the name of "
                f"{served[pipeline.name].pipeline.path}; each served pipeline needs its own."
            )
        chosen = choose_journal(pipeline, journal).path
        lock = locks.setdefault(os.path.realpath(chosen), threading.Lock())
        served[pipeline.name] = Served(pipeline, chosen, lock)
    return served


class LogUI(UI):
    """A run's notes go to the log, named by payload."""

    def __init__(self, label: str):
        self.label = label

    def note(self, text: str) -> None:
        log.info("%s: %s", self.label, text)

    def plan(self, report: PlanReport) -> None:
        log.debug(
            "%s: plan: %d message(s), %d to send, %d credit(s)",
            self.label,
            report.counts.messages,
            report.to_send,
            report.credits_to_send,
        )


class FirstBatches:
    """A plugin that notes when each run's first batch leaves (the accept-to-send latency)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    @hookimpl
    def before_batch(self, run: object, batch: object) -> None:
        with self._lock:
            self._seen.setdefault(run.run_key, time.time())  # type: ignore[attr-defined]

    def take(self, run_key: str) -> float | None:
        with self._lock:
            return self._seen.pop(run_key, None)

    def register(self) -> FirstBatches:
        manager = get_plugin_manager()
        if not manager.is_registered(self):
            manager.register(self, name="masgsm_notify.serve")
        return self

    def unregister(self) -> None:
        manager = get_plugin_manager()
        if manager.is_registered(self):
            manager.unregister(self)
