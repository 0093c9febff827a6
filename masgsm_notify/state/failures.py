"""Why a file could not be written, and what the person running masgsm-notify can do about it.

Journals, the sent ledger, exports and logs live on disks that fill up, get mounted read-only,
belong to someone else, or are held by another process. The operating system and SQLite say so
in their own words ("database or disk is full", "unable to open database file", EROFS); this
module turns each into one `StorageError` that names the file, the cause and the remedy.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from ..errors import StorageError

# SQLite's primary result codes (the low byte of an extended code) this module tells apart.
_SQLITE_PROBLEMS = {
    5: "busy",  # SQLITE_BUSY: another connection holds the write lock
    6: "busy",  # SQLITE_LOCKED
    8: "read-only",  # SQLITE_READONLY
    10: "io",  # SQLITE_IOERR
    11: "corrupt",  # SQLITE_CORRUPT
    13: "full",  # SQLITE_FULL
    14: "cannot-open",  # SQLITE_CANTOPEN
    23: "permission",  # SQLITE_AUTH
    26: "corrupt",  # SQLITE_NOTADB
}
# Python before 3.11 gives no result code: SQLite's messages, which are stable, instead.
_SQLITE_MESSAGES = {
    "database is locked": "busy",
    "database table is locked": "busy",
    "readonly database": "read-only",
    "disk i/o error": "io",
    "malformed": "corrupt",
    "database or disk is full": "full",
    "unable to open database file": "cannot-open",
    "file is not a database": "corrupt",
}
_ERRNO_PROBLEMS = {
    errno.ENOSPC: "full",
    errno.EDQUOT: "quota",
    errno.EFBIG: "too-big",
    errno.EROFS: "read-only",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
    errno.EISDIR: "is-a-folder",
    errno.ENOENT: "missing-folder",
    errno.ENOTDIR: "file-in-the-way",
    errno.EEXIST: "file-in-the-way",
    errno.EIO: "io",
}

_WRITABLE = (
    "make the file and its folder writable by the user running masgsm-notify (SQLite also "
    "writes a -wal and a -shm file beside a database), or choose another place"
)


def storage_error(
    path: Path | str, kind: str, error: BaseException, *, waited: float | None = None
) -> StorageError:
    """A `StorageError` for `error`, met reading or writing the `kind` ("journal", "sent
    ledger", "results file") at `path`; `waited` is how long SQLite waited for a lock."""
    problem = _problem(error)
    why, remedy = _explain(problem, Path(path), error, waited)
    return StorageError(
        f"{path}: cannot write the {kind}: {why}. {remedy[0].upper()}{remedy[1:]}.",
        path=str(path),
        problem=problem,
    )


def _problem(error: BaseException) -> str:
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE_PROBLEMS:
            return _SQLITE_PROBLEMS[code & 0xFF]
        text = str(error).lower()
        return next((p for words, p in _SQLITE_MESSAGES.items() if words in text), "other")
    if isinstance(error, OSError) and error.errno in _ERRNO_PROBLEMS:
        return _ERRNO_PROBLEMS[error.errno]
    return "other"


def _explain(
    problem: str, path: Path, error: BaseException, waited: float | None
) -> tuple[str, str]:
    """(why, remedy) for a person."""
    if problem == "full":
        return "its disk is full", "free some space on that disk, or keep the file on another"
    if problem == "quota":
        return (
            "the disk quota of this user is used up",
            "free some space, or ask for a larger quota",
        )
    if problem == "too-big":
        return (
            "the file reached the size limit of this process",
            "raise the limit (ulimit -f) for the process that writes it",
        )
    if problem == "busy":
        held = f" for more than {waited:g} s" if waited else ""
        return (
            f"another process kept it locked{held}",
            f"find what holds it (`fuser {path}`): a backup, a sqlite3 shell, or a `check` "
            "writing reports; let it finish, then run again",
        )
    if problem in ("read-only", "cannot-open", "permission"):
        return _why_not_writable(path, problem), _WRITABLE
    if problem == "is-a-folder":
        return "that path is a folder", "name a file"
    if problem == "file-in-the-way":
        return (
            "a file stands where a folder of its path should be",
            "move that file, or choose another place",
        )
    if problem == "missing-folder":
        return "its folder does not exist", "create the folder, or choose another place"
    if problem == "io":
        return (
            "the disk reported an I/O error",
            "check the disk: free space, a file size limit (ulimit -f), errors in the system log",
        )
    if problem == "corrupt":
        return (
            "the file is damaged or not a SQLite database",
            "move it aside (keep it: it may hold what was sent) and check it with "
            f"`sqlite3 {path} 'PRAGMA integrity_check'`",
        )
    detail = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return detail, "check the file and its folder, then run again"


def _why_not_writable(path: Path, problem: str) -> str:
    folder = _existing_folder(path)
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"the filesystem holding {folder} is mounted read-only"
    except OSError:
        pass
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only for this user"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"its folder {folder} is read-only for this user"
    if problem == "read-only":
        return "it is read-only"
    return "permission denied, or a file beside it (-wal, -shm) cannot be created"


def _existing_folder(path: Path) -> Path:
    for folder in path.parents:
        if folder.is_dir():
            return folder
    return Path("/")
