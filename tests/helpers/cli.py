"""The CLI as a real subprocess, and the environments it runs in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER
from masgsm_notify.sandbox import SandboxServer

CLI = [sys.executable, "-m", "masgsm_notify"]
# Installed third-party plugins stay out of every test (masgsm_notify/plugins.py); a test of an
# outside plugin takes this out of its environment on purpose.
NO_PLUGINS = "MASGSM_NOTIFY_NO_PLUGINS"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def clean_env(
    folder: Path, strip: tuple[str, ...] = ("MASGSM_",), **settings: str
) -> dict[str, str]:
    """This environment without the variables whose names start with `strip`, its HOME, state
    and config folders under `folder`, outside plugins off, and `settings` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(strip)}
    env.update(
        HOME=str(folder / "home"),
        MASGSM_STATE_DIR=str(folder / "state"),
        XDG_CONFIG_HOME=str(folder / "config"),
        PYTHONIOENCODING="utf-8",
    )
    env[NO_PLUGINS] = "1"
    return {**env, **settings}


def sandbox_env(server: SandboxServer, folder: Path) -> dict[str, str]:
    """Environment for CLI subprocesses pointed at `server`, with no MASGSM_* inherited."""
    return clean_env(
        folder,
        MASGSM_USER=SANDBOX_USER,
        MASGSM_PASSWORD=SANDBOX_PASSWORD,
        MASGSM_TITLE="MASGSMTEST",
        MASGSM_BASE_URL=server.base_url,
    )


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


def checked_verify() -> str | bool:
    """A checking session's `verify`, by requests' own rule: the CA bundle the environment names
    (REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE), else True (certifi's)."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def run_cli(
    args: list[str],
    env: dict[str, str],
    input: str | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> CliResult:
    """Run `masgsm-notify ARGS` in a real subprocess (killed after `timeout` seconds)."""
    return run_command([*CLI, *args], env, input=input, cwd=cwd, timeout=timeout)


def run_command(
    args: list[str],
    env: dict[str, str],
    input: str | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> CliResult:
    """Run any command in a real subprocess, its output kept as text."""
    done = subprocess.run(
        args, env=env, input=input, capture_output=True, text=True, timeout=timeout, cwd=cwd
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`masgsm-notify ARGS` in the background, its output kept for `finish`."""
    return subprocess.Popen(
        [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen, timeout: float = 60) -> CliResult:
    stdout, stderr = process.communicate(timeout=timeout)
    return CliResult(process.returncode, stdout, stderr)


def summary_of(result: CliResult) -> dict[str, Any]:
    """The one JSON document `--json` prints on stdout."""
    assert result.stdout.lstrip().startswith("{"), result.output
    return json.loads(result.stdout)


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.output, result.output
    assert 'File "' not in result.output, result.output
