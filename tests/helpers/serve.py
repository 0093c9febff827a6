"""`masgsm-notify serve` as a real subprocess, its metrics, and its queue read-only."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from helpers.cli import CLI
from helpers.waiting import wait_for

_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


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
