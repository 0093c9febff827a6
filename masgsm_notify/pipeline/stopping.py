"""SIGINT and SIGTERM during a run: at once before anything is sent, gracefully after.

Cron timeouts, systemd and Kubernetes stop a job with SIGTERM, a person with Ctrl-C. Before
sending begins, a signal stops the run where it is: nothing was sent, and a half-written plan is
discarded. Once sending has begun, the first signal asks the run to stop: no new batch leaves,
the batches already out are waited for (each at most its request's timeout) and their answers
recorded, waiting for delivery reports is cut short, and the run ends with its summary, what was
not sent and the command that resumes it: exit 130 (SIGINT) or 143 (SIGTERM). A second signal
ends the process at once; batches still out then stay in flight in the journal, which a resume
counts as unknown, exactly as after a crash.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from ..errors import InterruptedRunError, RunInterrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class StopRequest:
    """What the run was asked by a signal, and the events that pass the request on.

    `watching()` installs the handlers (main thread only); a StopRequest that never watches is
    never asked, which is what a library caller gets by default.
    """

    def __init__(self, say: Callable[[str], None] = lambda text: None):
        self.say = say
        self.signum: int | None = None
        self.farewell = ""  # said when a second signal ends the process at once
        self._graceful: list[tuple[threading.Event, str]] = []
        self._began = False  # sending has begun: a signal no longer stops the run where it is

    @contextlib.contextmanager
    def watching(self) -> Iterator[StopRequest]:
        previous = {signum: signal.signal(signum, self._handle) for signum in SIGNALS}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextlib.contextmanager
    def graceful(self, event: threading.Event, news: str) -> Iterator[None]:
        """While inside, a first signal sets `event` and says `news` instead of stopping the
        run where it is; once sending has begun, that stays so."""
        self._began = True
        self._graceful.append((event, news))
        if self.signum is not None:
            event.set()
        try:
            yield
        finally:
            self._graceful.remove((event, news))

    def interrupted(self, what: str) -> InterruptedRunError | None:
        """The run's stop when a signal came: `what` says what the run had done by then."""
        if self.signum is None:
            return None
        return InterruptedRunError(f"Interrupted by {signal_name(self.signum)} {what}", self.signum)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal_name(signum)
        if self.signum is not None:
            sys.stdout.flush()
            sys.stderr.write(f"Stopped at once by a second signal ({name}). {self.farewell}\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        self.signum = signum
        if not self._began:
            raise RunInterrupted(
                f"Interrupted by {name} before sending; nothing was sent this time. Run the "
                "same command again to carry on.",
                signum,
            )
        for event, news in self._graceful:
            event.set()
            self.say(f"{name}: {news} A second signal stops at once.")
