"""Shared fixtures: a sandbox MASGSM over real HTTP on 127.0.0.1, and the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from masgsm_notify import MasgsmClient
from masgsm_notify.sandbox import SandboxConfig, SandboxServer

SANDBOX_USER = "5300000000"
SANDBOX_PASSWORD = "sandbox"
CLI = [sys.executable, "-m", "masgsm_notify"]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox in this process, with the documented default state."""
    with SandboxServer(SandboxConfig(settle_ms=50)) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[MasgsmClient]:
    with MasgsmClient(
        SANDBOX_USER, SANDBOX_PASSWORD, title="MASGSMTEST", base_url=sandbox.base_url
    ) as masgsm:
        yield masgsm


def sandbox_messages(base_url: str) -> list[dict]:
    """What the sandbox accepted, read over HTTP from its inspection endpoint."""
    root = base_url.rsplit("/MasApiV2", 1)[0]
    return requests.get(f"{root}/_sandbox/messages", timeout=10).json()


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli_env(sandbox: SandboxServer, tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses pointed at the sandbox, with nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASGSM_")}
    env.update(
        MASGSM_USER=SANDBOX_USER,
        MASGSM_PASSWORD=SANDBOX_PASSWORD,
        MASGSM_TITLE="MASGSMTEST",
        MASGSM_BASE_URL=sandbox.base_url,
        HOME=str(tmp_path / "home"),
        PYTHONIOENCODING="utf-8",
    )
    return env


def run_cli(
    args: list[str], env: dict[str, str], input: str | None = None, cwd: Path | None = None
) -> CliResult:
    """Run `masgsm-notify ARGS` in a real subprocess."""
    done = subprocess.run(
        [*CLI, *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)
