"""Folding the sent ledger in a process of its own, while a run reads its delivery reports.

A fold (see `Ledger.fold`) reads every settled claim's pairs back in Python before SQLite sorts
them into the index. On a thread of the run, that work contends for the interpreter's lock with
the reports being applied, and the reports waited: at 100,000 recipients, the time from the
last batch sent to the run's end fell from 1.00 s to 0.70 s once the fold ran as its own
process (1.31 s to 1.07 s with a million earlier pairs in the ledger; medians of nine and seven
interleaved pairs of runs). A small fold is not worth a process: below `ELSEWHERE_AT` pairs, or
when nothing will overlap it, it runs on a thread as before.

The process is a fresh interpreter (SQLite connections must not cross a fork) that imports this
very package, not what the working directory happens to hold; it runs in a session of its own,
so that a Ctrl-C meant for the run, which decides what happens next, does not cut it short; and
it says nothing on the run's terminal. Its exit status says whether it folded (0), or found the
ledger refused (`REFUSED`: a lock or the disk; left for the next fold, as `Ledger.fold` does).
Any other end (it could not start, it crashed) has the run fold on its own, so a fold is never
lost to a process that did not do it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MasgsmError
from .ledger import Ledger

if TYPE_CHECKING:
    import subprocess

ELSEWHERE_AT = 20_000  # pending pairs from which a process of its own pays for its start
REFUSED = 3

# Run as `python -c`: the package's own folder goes first on the path, and the working directory
# that `-c` puts there is left out.
_CHILD = (
    "import sys; sys.path = [sys.argv[1], *(p for p in sys.path if p)]; "
    "from masgsm_notify.state.fold import main; sys.exit(main(sys.argv[2]))"
)
_PACKAGE_HOME = str(Path(__file__).resolve().parents[2])


def fold_alongside(ledger: Ledger, overlapped: bool) -> Callable[[], None]:
    """Start folding `ledger`; return what waits for the fold to end. `overlapped`: the caller
    has other work to do meanwhile (reading reports), which a process of its own leaves alone.
    """
    if overlapped and ledger.claimed_since_fold >= ELSEWHERE_AT and _can_start_python():
        import subprocess  # only where a process is started: not a cost of every start-up

        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, _PACKAGE_HOME, str(ledger.path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:  # no memory or process slots left: a thread needs neither
            pass
        else:
            return lambda: _waited(process, ledger)
    thread = threading.Thread(target=ledger.fold, name="masgsm-ledger-fold")
    thread.start()
    return thread.join


def _can_start_python() -> bool:
    """A frozen application's executable is the application, not Python."""
    return bool(sys.executable) and not getattr(sys, "frozen", False)


def _waited(process: subprocess.Popen, ledger: Ledger) -> None:
    status = process.wait()
    if status == 0:
        ledger.forget_folded()
    elif status != REFUSED:
        ledger.fold()


def main(path: str) -> int:
    """Fold the ledger at `path`; 0 when done, `REFUSED` when a lock or the disk refused it."""
    try:
        with Ledger(Path(path)) as ledger:
            return 0 if ledger.fold() else REFUSED
    except MasgsmError:
        return REFUSED
