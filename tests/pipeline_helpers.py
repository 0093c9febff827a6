"""Helpers for the end-to-end pipeline tests: files in tmp_path, the journal read-only, checks."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from conftest import CliResult

from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.pipeline.records import RunRecords
from masgsm_notify.sandbox import SandboxServer

# A report section that keeps tests fast against a sandbox settling in tens of milliseconds.
FAST_REPORT = "report: {wait: 5s, poll_every: 100ms}\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write dedented text (creating folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding=encoding)
    return path


def env_for(server: SandboxServer, base_env: dict[str, str], **changes: str) -> dict[str, str]:
    """`cli_env` pointed at another sandbox (and with other changes)."""
    return {**base_env, "MASGSM_BASE_URL": server.base_url, **changes}


def offline(env: dict[str, str]) -> dict[str, str]:
    """`env` in which any HTTP request not to the loopback goes to a closed local port.

    For runs that must not reach the real MASGSM even if the code under test tried to.
    """
    dead = "http://127.0.0.1:9"
    loopback = "127.0.0.1,localhost"
    proxies = {"http_proxy": dead, "https_proxy": dead, "HTTP_PROXY": dead, "HTTPS_PROXY": dead}
    return {**env, **proxies, "no_proxy": loopback, "NO_PROXY": loopback}


def query(journal: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows from the journal, opened read-only so the test cannot change what it checks."""
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def message_states(journal: Path) -> dict[str, str]:
    """number -> journal state, for runs whose numbers each have one message."""
    return dict(query(journal, "SELECT number, state FROM messages ORDER BY id"))


def summary_of(result: CliResult) -> dict[str, Any]:
    """The one JSON document `--json` prints on stdout."""
    assert result.stdout.lstrip().startswith("{"), result.output
    return json.loads(result.stdout)


def numbers_sent(server: SandboxServer) -> Counter:
    """How many times the sandbox accepted each number."""
    return Counter(m["number"] for m in server.messages())


def texts_by_number(server: SandboxServer) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for message in server.messages():
        found.setdefault(message["number"], []).append(message["text"])
    return found


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.output, result.output
    assert 'File "' not in result.output, result.output


def planned_run(
    journal: Journal,
    messages: list[tuple[str, str, str]],
    skipped: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
) -> RunRecords:
    """A run in `journal` planned with (row, number, text) messages of one GSM segment each."""
    run = journal.create_run("k", "n", "p.yaml", "f", None, None)
    records = RunRecords(journal, run)
    records.add_planned(
        [(row, number, text, "gsm7", 1, "planned") for row, number, text in messages], skipped
    )
    return records
