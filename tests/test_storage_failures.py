"""Files that cannot be written: a full disk mid-send, a journal locked by another process past
the wait, a read-only journal or folder, a bad --log-file.

Each ends as one paragraph naming the file and what to do (exit 1; a bad option, exit 2), never
a traceback. After a failure mid-send the journal passes SQLite's integrity check, the batches
whose answers could not be written are said to be in flight (unknown to a resume), and the
printed command, run once the disk has room again, sends the rest with nothing twice.

A full disk is a small tmpfs filled up while the run sends, where the tests may mount one (as
root); elsewhere the run's file-size limit is lowered to what its files hold (RLIMIT_FSIZE,
through prlimit). A read-only place is a tmpfs remounted read-only as root, else chmod.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.cli import CLI, assert_no_traceback, env_for, finish, offline, run_cli
from helpers.journal import assert_nothing_twice, integrity, journal_standing, query
from helpers.stopped import make_pipeline, resume, standing
from helpers.waiting import wait_for

from masgsm_notify.sandbox import SandboxConfig, SandboxServer
from masgsm_notify.state.sqlite import PATIENCE

RECIPIENTS = 40
SENDING = "batch_size: 4, concurrency: 2"


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
    )
    return done.returncode == 0


@contextlib.contextmanager
def tmpfs_or_folder(folder: Path, size: str = "2m") -> Iterator[bool]:
    """A small tmpfs at `folder` when one can be mounted (True), else a plain folder (False)."""
    mounted = _mount_tmpfs(folder, size)
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)


@dataclass
class FullDisk:
    """Makes the disk under `folder` full for a running process, and roomy again."""

    folder: Path
    tmpfs: bool

    def fill(self, process: subprocess.Popen) -> None:
        if self.tmpfs:
            fd = os.open(self.folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 65536)
            except OSError:
                pass
            finally:
                os.close(fd)
            with contextlib.suppress(OSError):  # the last few bytes the 64 KiB writes left
                fd = os.open(self.folder / "filler2", os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    while os.write(fd, b"\0"):
                        pass
                finally:
                    os.close(fd)
        else:  # no file of the process may grow past what the largest holds now
            largest = max(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())
            resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (largest, largest))

    def free(self) -> None:
        for name in ("filler", "filler2"):
            (self.folder / name).unlink(missing_ok=True)


def start_sending(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """The run in the background; SIGXFSZ ignored, so a file-size limit is an error to it (as a
    full disk is) instead of killing it."""
    return subprocess.Popen(
        [*CLI, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN),
    )


def test_a_disk_full_mid_send_stops_with_the_journal_whole_and_the_resume_sends_once(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    disk = tmp_path / "disk"
    pipeline = make_pipeline(tmp_path, RECIPIENTS, SENDING)
    with tmpfs_or_folder(disk) as tmpfs:
        journal = disk / "j.sqlite"
        full = FullDisk(disk, tmpfs)
        env = {**cli_env, "MASGSM_STATE_DIR": str(disk / "state")}  # the ledger too
        with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=100) as server:
            env = offline(env_for(server, env))
            args = ["run", str(pipeline), "--run-key", "full", "--journal", str(journal)]
            process = start_sending(args, env)
            wait_for(lambda: len(server.messages()) >= 8, what="the first batches")
            full.fill(process)
            result = finish(process)
            assert_no_traceback(result)
            assert result.returncode == 1, result.output
            assert result.stderr.count("Error: ") == 1
            paragraph = result.stderr.split("Error: ", 1)[1]
            assert paragraph.startswith(f"{disk}/")  # the journal or the ledger, named
            assert ": cannot write the " in paragraph
            if tmpfs:
                assert "its disk is full. Free some space on that disk" in paragraph
            assert "Resume with: masgsm-notify run" in paragraph
            assert integrity(journal) == [("ok",)]
            in_flight = query(journal, "SELECT COUNT(*) FROM batches WHERE state = 'in_flight'")[0][
                0
            ]
            if in_flight:
                assert "whose answers could not be written: they stay in flight" in paragraph
            sent, never, unknown = standing(result)
            assert (sent, never, unknown) == journal_standing(journal)

            full.free()
            again = resume(result, env)
            assert_no_traceback(again)
            assert again.returncode in (0, 3), again.output  # 3: unknowns are not sent again
            assert_nothing_twice(server, journal, RECIPIENTS)
        assert integrity(journal) == [("ok",)]
        assert journal_standing(journal)[1] == 0  # nothing left unsent


def test_a_journal_locked_past_the_wait_stops_and_the_resume_sends_once(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    pipeline = make_pipeline(tmp_path, RECIPIENTS, SENDING)
    journal = tmp_path / "j.sqlite"
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=100) as server:
        env = offline(env_for(server, cli_env))
        args = ["run", str(pipeline), "--run-key", "locked", "--journal", str(journal)]
        process = start_sending(args, env)
        wait_for(lambda: len(server.messages()) >= 8, what="the first batches")
        holder = sqlite3.connect(journal, timeout=30, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
            result = finish(process, timeout=PATIENCE + 30)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert_no_traceback(result)
        assert result.returncode == 1, result.output
        assert (
            f"Error: {journal}: cannot write the journal: another process kept it locked for "
            f"more than {PATIENCE:g} s. Find what holds it (`fuser {journal}`)" in result.stderr
        )
        assert "Resume with: masgsm-notify run" in result.stderr
        assert integrity(journal) == [("ok",)]
        assert standing(result) == journal_standing(journal)

        again = resume(result, env)
        assert again.returncode in (0, 3), again.output
        assert_nothing_twice(server, journal, RECIPIENTS)
        assert journal_standing(journal)[1] == 0


@contextlib.contextmanager
def read_only(folder: Path, tmpfs: bool) -> Iterator[str]:
    """`folder` (a tmpfs, or a plain folder) read-only while inside; yields what the message
    says about it."""
    if tmpfs:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        try:
            yield f"the filesystem holding {folder} is mounted read-only"
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
        return
    files = [p for p in folder.iterdir() if p.is_file()]
    for path in files:
        path.chmod(0o400)
    folder.chmod(0o500)
    try:
        yield "read-only for this user"
    finally:
        folder.chmod(0o700)
        for path in files:
            path.chmod(0o600)


@pytest.mark.parametrize("journal_exists", [False, True])
def test_a_read_only_journal_or_folder_is_one_paragraph_with_nothing_sent(
    tmp_path: Path, cli_env: dict[str, str], sandbox: SandboxServer, journal_exists: bool
) -> None:
    place = tmp_path / "place"
    with tmpfs_or_folder(place) as tmpfs:
        if not tmpfs and os.geteuid() == 0:
            pytest.skip("root writes read-only files, and no tmpfs could be mounted")
        journal = place / "j.sqlite"
        if journal_exists:
            earlier = make_pipeline(tmp_path, 3, "batch_size: 5", name="earlier")
            assert (
                run_cli(["run", str(earlier), "--journal", str(journal)], cli_env).returncode == 0
            )
        sent_before = len(sandbox.messages())
        pipeline = make_pipeline(tmp_path, 5, "batch_size: 5")
        with read_only(place, tmpfs) as why:
            result = run_cli(["run", str(pipeline), "--journal", str(journal)], cli_env)
        assert_no_traceback(result)
        assert result.returncode == 1, result.output
        assert f"Error: {journal}: cannot write the journal: " in result.stderr
        assert why in result.stderr
        assert "writable by the user running masgsm-notify" in result.stderr
        assert len(sandbox.messages()) == sent_before


def test_a_log_file_that_cannot_be_written_is_a_bad_option(tmp_path: Path, cli_env) -> None:
    cases: list[tuple[Path, str]] = [
        (tmp_path / "missing" / "run.log", "the folder"),
        (tmp_path, "is a directory"),
    ]
    for log_file, says in cases:
        result = run_cli(["--log-file", str(log_file), "plugins"], cli_env)
        assert_no_traceback(result)
        assert result.returncode == 2, result.output
        assert "Invalid value for '--log-file'" in result.stderr
        assert says in result.stderr
    assert not (tmp_path / "missing").exists()  # nothing made for a log that failed
    place = tmp_path / "place"
    with tmpfs_or_folder(place) as tmpfs:
        if not tmpfs and os.geteuid() == 0:
            return
        with read_only(place, tmpfs):
            result = run_cli(["--log-file", str(place / "run.log"), "plugins"], cli_env)
            env_result = run_cli(["plugins"], {**cli_env, "MASGSM_LOG_FILE": str(place / "a.log")})
    for done in (result, env_result):
        assert_no_traceback(done)
        assert done.returncode == 2, done.output
        assert "cannot write to it" in done.stderr
    assert "MASGSM_LOG_FILE" in env_result.stderr
