"""Helpers for the serve tests: `masgsm-notify serve` as a real subprocess, its metrics, waits."""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from conftest import CLI

REPO = Path(__file__).resolve().parent.parent
_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "it") -> Any:
    """Poll until `condition()` is truthy; fail the test naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class ServeProcess:
    process: subprocess.Popen
    url: str
    stdout: Path
    stderr: Path

    def post(
        self, name: str, body: Any, token: str | None = None, **headers: str
    ) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(f"{self.url}/hooks/{name}", data=data, headers=headers, timeout=30)

    def metrics(self) -> dict[str, float]:
        """`name{labels}` -> value, from /metrics."""
        page = requests.get(f"{self.url}/metrics", timeout=10)
        assert page.status_code == 200
        found = {}
        for line in page.text.splitlines():
            match = _SAMPLE.match(line)
            if match:
                found[match.group(1) + (match.group(2) or "")] = float(match.group(3))
        return found

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_serve(
    args: list[str], env: dict[str, str], folder: Path, cwd: Path | None = None
) -> ServeProcess:
    """Start `masgsm-notify serve ARGS` (on a free port unless ARGS names one) and wait for the
    base URL on its first line of output."""
    folder.mkdir(parents=True, exist_ok=True)
    count = len(list(folder.glob("serve-*.out")))
    stdout, stderr = folder / f"serve-{count}.out", folder / f"serve-{count}.err"
    port = [] if "--port" in args else ["--port", "0"]
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            [*CLI, "serve", *args, *port], env=env, stdout=out, stderr=err, cwd=cwd
        )

    def first_line() -> str | None:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {stderr.read_text()}")
        text = stdout.read_text()
        return text.split("\n", 1)[0] if "\n" in text else None

    url = wait_for(first_line, 30, "serve's base URL")
    return ServeProcess(process, url, stdout, stderr)


def copy_examples(folder: Path) -> Path:
    """The shipped pipelines and templates, copied to `folder` (returned): tests may edit them."""
    shutil.copytree(REPO / "pipelines", folder / "pipelines", ignore=_generated)
    shutil.copytree(REPO / "templates", folder / "templates")
    return folder / "pipelines"


def _generated(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "results" or ".sqlite" in n]


def fast_reports(pipeline: Path) -> Path:
    """The pipeline with a report section that finishes quickly against the test sandbox."""
    text = pipeline.read_text()
    text = re.sub(r"report:\n(  .*\n)+", "report: {wait: 5s, poll_every: 100ms}\n", text)
    pipeline.write_text(text)
    return pipeline


def queue_rows(state: Path) -> list[dict[str, Any]]:
    """The queue's payloads (without bodies), read-only, oldest first."""
    path = state / "queue.sqlite"
    if not path.is_file():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute("SELECT * FROM payloads ORDER BY id").fetchall()  # bodies too
    finally:
        db.close()
    return [dict(zip(row.keys(), row, strict=True)) for row in rows]
