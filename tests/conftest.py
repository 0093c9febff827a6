"""Shared fixtures: a sandbox MASGSM over real HTTP on 127.0.0.1, and the CLI as a subprocess."""

from __future__ import annotations

import compileall
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

import masgsm_notify
from masgsm_notify import MasgsmClient
from masgsm_notify.sandbox import SandboxConfig, SandboxServer

SANDBOX_USER = "5300000000"
SANDBOX_PASSWORD = "sandbox"
CLI = [sys.executable, "-m", "masgsm_notify"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the package's bytecode once: the suite starts hundreds of CLI processes, and
    where PYTHONDONTWRITEBYTECODE is set (or after an edit) each would compile every module
    it imports again, as an installed package never does."""
    compileall.compile_dir(Path(masgsm_notify.__file__).parent, quiet=1)


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state directory (ledger, journals): never the user's."""
    state = tmp_path / "state"
    monkeypatch.setenv("MASGSM_STATE_DIR", str(state))
    return state


@pytest.fixture(autouse=True, scope="session")
def no_config_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads the config file of the person running the tests (an empty folder instead);
    tests of the config file set XDG_CONFIG_HOME themselves."""
    saved = {name: os.environ.pop(name, None) for name in ("XDG_CONFIG_HOME", "MASGSM_ACCOUNT")}
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    os.environ.pop("XDG_CONFIG_HOME")
    os.environ.update({name: value for name, value in saved.items() if value is not None})


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


def checked_verify() -> str | bool:
    """A checking session's `verify`, by requests' own rule: the CA bundle the environment names
    (REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE), else True (certifi's)."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def sandbox_env(server: SandboxServer, folder: Path) -> dict[str, str]:
    """Environment for CLI subprocesses pointed at `server`, with no MASGSM_* inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASGSM_")}
    env.update(
        MASGSM_USER=SANDBOX_USER,
        MASGSM_PASSWORD=SANDBOX_PASSWORD,
        MASGSM_TITLE="MASGSMTEST",
        MASGSM_BASE_URL=server.base_url,
        HOME=str(folder / "home"),
        MASGSM_STATE_DIR=str(folder / "state"),
        XDG_CONFIG_HOME=str(folder / "config"),
        PYTHONIOENCODING="utf-8",
    )
    return env


@pytest.fixture
def cli_env(sandbox: SandboxServer, tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses pointed at the sandbox, with nothing inherited."""
    return sandbox_env(sandbox, tmp_path)


def run_cli(
    args: list[str],
    env: dict[str, str],
    input: str | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> CliResult:
    """Run `masgsm-notify ARGS` in a real subprocess (killed after `timeout` seconds)."""
    done = subprocess.run(
        [*CLI, *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedServer:
    """A tiny HTTP server on 127.0.0.1 that records every request and answers from a script.

    `answers` is a queue of (status, content type, body); a body may be a callable that gets the
    request body and returns the answer (to echo it). When the queue is empty `default` answers.
    """

    requests: list[Recorded] = field(default_factory=list)
    answers: list[tuple[int, str, bytes | Callable[[bytes], bytes]]] = field(default_factory=list)
    default: tuple[int, str, bytes] = (200, "application/json", b'{"code":1,"id":"777"}')
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/MasApiV2"

    def answer(self, body, status: int = 200, content_type: str = "text/html") -> None:
        self.answers.append((status, content_type, body))


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A `ScriptedServer`, for answers the sandbox never gives and for capturing wire bytes."""
    script = ScriptedServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Head and body go out in two writes: without this the body waits ~40 ms for an ACK.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format, *args) -> None:
            pass

        def do_GET(self) -> None:
            self._answer(b"")

        def do_POST(self) -> None:
            self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def _answer(self, body: bytes) -> None:
            script.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
            status, kind, data = script.answers.pop(0) if script.answers else script.default
            data = data(body) if callable(data) else data
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    script.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield script
    finally:
        httpd.shutdown()
        httpd.server_close()
