"""Helpers for the tests of runs that go wrong: a run started in the background, the resume
command it printed, and the sandbox's record checked against the journal."""

from __future__ import annotations

import re
import shlex
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from conftest import CLI, CliResult, run_cli
from pipeline_helpers import query, write

from masgsm_notify.sandbox import SandboxServer

SENT_STATES = ("sent", "pending", "delivered", "failed")


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"534{i:07d}" for i in range(start, start + count)]


def make_pipeline(folder: Path, count: int, send: str, name: str = "stops") -> Path:
    """A pipeline of `count` recipients, one text each, sent as `send` (a YAML flow mapping's
    inside) says; delivery reports are not waited for."""
    rows = "".join(f"Kişi {i},0{n}\n" for i, n in enumerate(numbers(count)))
    write(folder / f"{name}.csv", "name,phone\n" + rows)
    return write(
        folder / f"{name}.yaml",
        f"""
        name: {name}
        recipients: {{csv: {name}.csv}}
        message: {{inline: "Merhaba {{{{ name }}}}, siparişiniz yolda."}}
        send: {{{send}}}
        report: {{check: false}}
        """,
    )


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`masgsm-notify ARGS` in the background, its output kept for `finish`."""
    return subprocess.Popen(
        [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen, timeout: float = 60) -> CliResult:
    stdout, stderr = process.communicate(timeout=timeout)
    return CliResult(process.returncode, stdout, stderr)


def wait_until(condition: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.01)


def resume_args(result: CliResult) -> list[str]:
    """The arguments of the `Resume with: masgsm-notify ...` command the run printed."""
    found = re.search(r"Resume with: masgsm-notify (.+)$", result.stderr, re.MULTILINE)
    assert found, result.output
    return shlex.split(found[1])


def resume(result: CliResult, env: dict[str, str], cwd: Path | None = None) -> CliResult:
    """Run the command the stopped run printed, exactly as printed."""
    return run_cli(resume_args(result), env, cwd=cwd)


def standing(result: CliResult) -> tuple[int, int, int]:
    """(sent, never left, unknown) as the stopped run's message says them."""
    found = re.search(
        r"So far ([\d,]+) recipient\(s\) sent, ([\d,]+) never left, ([\d,]+) unknown\.",
        result.stderr,
    )
    assert found, result.output
    sent, never, unknown = (int(n.replace(",", "")) for n in found.groups())
    return sent, never, unknown


def journal_standing(journal: Path) -> tuple[int, int, int]:
    """(sent, never left, unknown) as the journal has them."""
    states = Counter(dict(query(journal, "SELECT state, COUNT(*) FROM messages GROUP BY state")))
    sent = sum(states[s] for s in SENT_STATES)
    never = states["planned"] + states["rejected"] + states["not_sent"]
    return sent, never, states["unknown"] + states["in_flight"]


def assert_nothing_twice(server: SandboxServer, journal: Path, count: int) -> Counter:
    """No (number, text) accepted twice; every recipient either accepted once or, in the
    journal, unknown (the request left, no answer came back). Returns what was accepted."""
    accepted = Counter((m["number"], m["text"]) for m in server.messages())
    assert [pair for pair, times in accepted.items() if times > 1] == []
    by_number = {number for number, _ in accepted}
    states = dict(query(journal, "SELECT number, state FROM messages"))
    assert len(states) == count
    for number, state in states.items():
        if state in SENT_STATES:
            assert number in by_number, (number, state)
        else:
            assert state == "unknown", (number, state)
    return accepted


def count(journal: Path, table: str) -> int:
    """Rows in a table of the journal; 0 while the journal or its schema is not written yet."""
    if not journal.exists():
        return 0
    try:
        return query(journal, f"SELECT COUNT(*) FROM {table}")[0][0]
    except sqlite3.OperationalError as error:
        assert "no such table" in str(error)
        return 0


def integrity(journal: Path) -> list[tuple]:
    return query(journal, "PRAGMA integrity_check")
