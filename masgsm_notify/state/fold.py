"""Folding the sent ledger in a process of its own, while a run reads its delivery reports.

A fold (see `Ledger.fold`) reads every settled claim's pairs back in Python before SQLite sorts
them into the index. On a thread of the run, that work contends for the interpreter's lock with
the reports being applied, and the reports waited: at 100,000 recipients, the time from the
last batch sent to the run's end fell from 1.00 s to 0.70 s once the fold ran as its own
process (1.31 s to 1.07 s with a million earlier pairs in the ledger; medians of nine and seven
interleaved pairs of runs). The process is a fresh interpreter
(SQLite connections must not cross a fork), in a session of its own, so that a Ctrl-C meant for
the run, which decides what happens next, does not cut the fold short.

    python -m masgsm_notify.state.fold LEDGER_PATH
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import MasgsmError
from .ledger import Ledger


def fold_elsewhere(ledger: Ledger) -> Callable[[], None]:
    """Start folding `ledger`'s file in another process; return what waits for the fold to end.

    Where no process can be started (no memory, no process slots left), the fold runs on a
    thread of this one instead, as a fold needs no more than the ledger's own connection.
    """
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(ledger.path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        thread = threading.Thread(target=ledger.fold, name="masgsm-ledger-fold")
        thread.start()
        return thread.join

    def wait() -> None:
        if process.wait() == 0:
            ledger.forget_folded()

    return wait


def main(path: str) -> int:
    """Fold, and say by the exit status only whether it was done: a fold is never needed for
    correctness (pending claims hold their pairs as firmly), so a ledger that cannot be opened
    now is left for the next fold, without a word on the run's terminal."""
    try:
        with Ledger(Path(path)) as ledger:
            return 0 if ledger.fold() else 1
    except MasgsmError:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
