"""One writer per journal, tied to the file itself rather than the path that reached it.

The lock is `flock` on the database file's own descriptor, so every path to the same inode (a
symlink, another folder, `..`) meets the same lock, and deleting a side file cannot free it.
`fcntl`/`lockf` locks would not do: POSIX releases all of a process's such locks on a file when
any descriptor of it closes, which SQLite's own locking does all the time.

Two set-ups are refused outright. A journal with more than one hard link: SQLite names its -wal
after the path, so a second name has a second -wal, and a resume through it would not see
unwritten pages (and re-send). And a network filesystem (NFS, SMB): `flock` there is emulated
with the POSIX locks SQLite releases, so it cannot exclude anyone.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError
from .failures import storage_error

try:
    import fcntl
except ImportError:  # not a POSIX system: there is no flock to keep a second writer out
    fcntl = None  # type: ignore[assignment]

# Filesystem types whose `flock` does not exclude another machine, or another process reliably.
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "fuse.sshfs"}
)
MOUNTINFO = Path("/proc/self/mountinfo")


class WriterLock:
    """An exclusive, non-blocking `flock` on one file, held until `release()`.

    Keep it until every SQLite connection of this process to the file is closed: closing the
    descriptor earlier would drop SQLite's own POSIX locks on the file along with it.
    """

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process (or descriptor) holds it."""
        if fcntl is None:
            raise UsageError(
                "masgsm-notify keeps one writer per journal with POSIX file locks (flock), which "
                "this system does not have; run it on Linux, macOS or another POSIX system."
            )
        check_lockable(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError as error:
            raise storage_error(self.path, "journal", error) from error
        try:
            if os.fstat(fd).st_nlink > 1:
                raise UsageError(
                    f"{self.path} has more than one hard link; a journal must have exactly one "
                    "name (SQLite keeps unwritten pages in a file named after the path, so a "
                    "second name could resume without them and send twice). Remove the other "
                    "link, or copy the journal instead of linking it."
                )
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # the kernel drops the flock with the last descriptor
            self.fd = None


def check_lockable(path: Path) -> None:
    """Refuse a file on a filesystem whose locks cannot keep a second writer out."""
    kind = filesystem_type(path)
    if kind in NETWORK_FILESYSTEMS:
        raise UsageError(
            f"{path} is on a network filesystem ({kind}), where file locks cannot keep a second "
            "sender out; keep journals on a local disk (set MASGSM_STATE_DIR or --journal)."
        )


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem holding `path`, from /proc/self/mountinfo (Linux); None
    where the system does not say."""
    try:
        lines = MOUNTINFO.read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in lines:
        fields = line.split(" ")
        try:
            mount_point = _unescape(fields[4])
            after = fields.index("-")
            fs_type = fields[after + 1]
        except (IndexError, ValueError):
            continue
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, fs_type
    return kind


def _unescape(field: str) -> str:
    """mountinfo writes spaces and a few other characters in paths as octal escapes."""
    return field.encode().decode("unicode_escape") if "\\" in field else field
