"""serve, put together: waitress in front, the queue in the middle, the pipeline workers behind.

Start: load every pipeline (any error stops the start, naming its file), bind the port, become
the queue's one server, put back to wait what a dead process left running, start the workers
and the report readers, and only then accept. Stop (SIGTERM, SIGINT): stop accepting, answer
the requests already read, commit what was handed over, let each worker finish the payload it
is sending, drop the report rounds still to come (taken up again at the next start), close.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import MasgsmError, UsageError
from ..logs import remember_secret
from ..pipeline import RunOptions
from ..pipeline.context import RunContext
from ..pipeline.storage import open_storage
from .app import HookApp
from .intake import Intake
from .metrics import Metrics
from .queue import QueueStore, queue_path
from .reports import Concluder
from .served import FirstBatches, LogUI, Served, load_served
from .workers import PipelineWorker, WorkerSettings

log = logging.getLogger("masgsm_notify.serve")

TOKEN_VARIABLE = "MASGSM_SERVE_TOKEN"
KEEP_CONCLUDED = 7 * 86400.0  # seconds a concluded payload stays in the queue
PRUNE_EVERY = 3600.0
HTTP_THREADS = 8


@dataclass(frozen=True)
class ServeSettings:
    files: list[Path]
    host: str = "127.0.0.1"
    port: int = 8080
    journal: Path | None = None
    token: str | None = None
    max_body: int = 1024 * 1024
    dedupe_window: float = 600.0
    fsync: bool = False
    retry_for: float = 3600.0


def read_token(token_file: Path | None) -> str | None:
    """The token from `--token-file` (its first line), else MASGSM_SERVE_TOKEN, else None."""
    if token_file is not None:
        try:
            lines = token_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise UsageError(f"--token-file {token_file}: cannot read it: {reason}") from None
        token = lines[0].strip() if lines else ""
        if not token:
            raise UsageError(f"--token-file {token_file}: its first line is empty")
        if token_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("--token-file %s can be read by other users; chmod 600 it.", token_file)
        return token
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    return token or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Server:
    """One serve process's parts, from `start()` to `stop()`."""

    def __init__(self, settings: ServeSettings, say: Callable[[str], None]):
        self.settings = settings
        self.say = say  # notes for the person who started it (standard error)
        if settings.token is None and not is_loopback(settings.host):
            raise UsageError(
                f"--host {settings.host}: without a token serve listens on the loopback only "
                f"(127.0.0.1, ::1). Set {TOKEN_VARIABLE} or --token-file to listen on "
                f"{settings.host}."
            )
        remember_secret(settings.token)
        self.served: dict[str, Served] = load_served(settings.files, settings.journal)
        self.stopped = threading.Event()
        self._http: threading.Thread | None = None
        self._started = False
        self._held = contextlib.ExitStack()

    def start(self) -> str:
        """Bind, recover, start every part; return the base URL."""
        from waitress.server import create_server  # loaded by serve alone

        settings = self.settings
        self.queue = QueueStore(queue_path(settings.journal))
        try:
            self.metrics = Metrics(self.served, self.queue.depth)
            self.first_batches = FirstBatches().register()
            self.concluder = Concluder(self.queue, self.metrics)
            self.workers = {
                name: PipelineWorker(
                    served,
                    self.queue,
                    self.metrics,
                    self.concluder,
                    self.first_batches,
                    WorkerSettings(settings.retry_for),
                )
                for name, served in self.served.items()
            }
            self.intake = Intake(
                self.queue,
                settings.dedupe_window,
                settings.fsync,
                accepted=lambda name: self.workers[name].wake(),
            )
            self.app = HookApp(
                self.served,
                self.intake,
                self.metrics,
                token=settings.token,
                max_body=settings.max_body,
            )
            try:
                self.http = create_server(
                    self.app,
                    host=settings.host,
                    port=settings.port,
                    threads=HTTP_THREADS,
                    max_request_body_size=settings.max_body,
                    max_request_header_size=64 * 1024,
                    channel_timeout=30,
                    connection_limit=256,
                    ident="masgsm-notify",
                    clear_untrusted_proxy_headers=True,
                )
            except OSError as error:
                raise MasgsmError(
                    f"Cannot listen on {settings.host}:{settings.port}: {error.strerror or error}."
                ) from None
            url = _base_url(self.http.effective_host, self.http.effective_port)
            self.queue.own(url)
            self._hold_journals()
            self._recover()
        except BaseException:
            self._held.close()
            self.queue.close()
            raise
        for worker in self.workers.values():
            worker.start()
        self.concluder.start()
        self._http = threading.Thread(target=self.http.run, name="masgsm-http", daemon=True)
        self._http.start()
        threading.Thread(target=self._prune_now_and_then, name="masgsm-prune", daemon=True).start()
        self._started = True
        self._tell(url)
        return url

    def _hold_journals(self) -> None:
        """Open and lock each journal (and the ledger beside it) once, as a run would."""
        by_lock: dict[int, object] = {}
        for served in self.served.values():
            if id(served.lock) not in by_lock:
                context = RunContext(
                    served.pipeline, RunOptions(journal=served.journal), LogUI(served.name)
                )
                by_lock[id(served.lock)] = self._held.enter_context(open_storage(context))
            served.held = by_lock[id(served.lock)]

    def _recover(self) -> None:
        resumed = self.queue.recover()
        if resumed:
            self.say(f"{resumed} payload(s) interrupted by a stop resume now, in order.")
        for payload in self.queue.unconcluded():
            served = self.served.get(payload.pipeline)
            if served is not None:
                self.concluder.add(served, payload.id, payload.run_key, since=payload.finished_at)

    def _tell(self, url: str) -> None:
        names = ", ".join(f"{url}/hooks/{name}" for name in sorted(self.served))
        self.say(f"Accepting POST {names}")
        self.say(f"Queue: {self.queue.path}")
        for served in self.served.values():
            self.say(f"Journal of {served.name}: {served.journal}")
        if self.settings.token is None:
            self.say(
                "No token (MASGSM_SERVE_TOKEN or --token-file): requests need no Authorization, "
                "so serve listens on the loopback only."
            )
        self.say("GET /healthz and /metrics need no token. Stop with Ctrl-C or SIGTERM.")

    def _prune_now_and_then(self) -> None:
        """Forget concluded payloads after a week, at start and every hour."""
        while True:
            try:
                gone = self.queue.prune(KEEP_CONCLUDED)
                if gone:
                    log.info("Pruned %d concluded payload(s) older than 7 days.", gone)
            except Exception as error:  # housekeeping: serving goes on without it
                log.warning("Could not prune the queue: %s", error)
            if self.stopped.wait(PRUNE_EVERY):
                return

    def stop(self, patience: Callable[[], bool] = lambda: True) -> bool:
        """Stop gracefully; `patience()` turning False (a second signal) stops waiting for
        sends. True when every worker finished its payload."""
        if not self._started:
            return True
        self.app.accepting = False
        from waitress import wasyncore

        self.http.trigger.pull_trigger(lambda: wasyncore.dispatcher.close(self.http))
        deadline = time.monotonic() + 10
        while self.app.in_flight and time.monotonic() < deadline and patience():
            time.sleep(0.02)
        self.intake.close()
        for worker in self.workers.values():
            worker.stop()
        busy = [name for name, worker in self.workers.items() if worker.busy]
        if busy:
            self.say(
                f"Stopping: waiting for the payload being sent by {', '.join(busy)} (signal "
                "again to stop now; it then resumes at the next start)."
            )
        finished = True
        for worker in self.workers.values():
            while not worker.join(0.1):
                if not patience():
                    finished = False
                    break
        self.concluder.stop()
        for served in self.served.values():  # a round under way finishes with its journal
            if served.lock.acquire(timeout=10):
                served.lock.release()
        self.stopped.set()
        self.http.task_dispatcher.shutdown(timeout=2)
        self.http.trigger.pull_trigger(lambda: wasyncore.close_all(self.http._map))
        if self._http is not None:
            self._http.join(timeout=5)
        self.first_batches.unregister()
        if finished:
            self._held.close()
            self.queue.close()
        return finished


def _base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
