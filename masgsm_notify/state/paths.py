"""Where state lives, and how files holding numbers and texts are created: owner-only.

Files are created 0600 and folders 0700 whatever the umask, because journals, the ledger,
exports and logs hold customers' numbers and texts (personal data under KVKK).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import IO, Any

STATE_DIR_VARIABLE = "MASGSM_STATE_DIR"
FILE_MODE = 0o600
FOLDER_MODE = 0o700

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def state_dir() -> Path:
    """The state directory (not created here)."""
    chosen = os.environ.get(STATE_DIR_VARIABLE, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "masgsm-notify"


def ledger_path() -> Path:
    return state_dir() / "ledger.sqlite"


def optouts_path() -> Path:
    return state_dir() / "optouts.sqlite"


def journals_dir() -> Path:
    return state_dir() / "journals"


def default_journal(pipeline_name: str) -> Path:
    """`journals/<name>.sqlite`; characters a file name should not carry become `_`."""
    safe = _UNSAFE_NAME.sub("_", pipeline_name).strip("._") or "pipeline"
    return journals_dir() / f"{safe}.sqlite"


def private_folder(path: Path) -> Path:
    """Create `path` and its missing parents 0700, as the XDG base directory rules ask."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing:
        os.chmod(folder, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists and is owner-only before anything else opens it.

    An existing file is only re-moded, never opened: closing a descriptor of a SQLite file would
    drop the POSIX locks this process's connections hold on it.
    """
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        status = path.stat()
        if status.st_uid == os.getuid() and status.st_mode & 0o777 != FILE_MODE:
            os.chmod(path, FILE_MODE)
    return path


def open_private(path: Path, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """`open(path, mode)` for a file that must be owner-only (exports, logs)."""
    private_file(path)
    return path.open(mode, **kwargs)
