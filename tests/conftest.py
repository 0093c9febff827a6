"""Shared fixtures: a sandbox MASGSM over real HTTP on 127.0.0.1, the CLI's environment, and a
scripted HTTP server. The helpers they are built from live in `tests/helpers`."""

from __future__ import annotations

import compileall
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import NO_PLUGINS, sandbox_env
from helpers.http import ScriptedServer
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER

import masgsm_notify
from masgsm_notify import MasgsmClient
from masgsm_notify.sandbox import SandboxConfig, SandboxServer

# Set on import, before any test can build the (cached) plugin manager: installed third-party
# plugins never change a test's outcome. Tests of an outside plugin opt back in, in a subprocess.
os.environ[NO_PLUGINS] = "1"


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


@pytest.fixture
def cli_env(sandbox: SandboxServer, tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses pointed at the sandbox, with nothing inherited."""
    return sandbox_env(sandbox, tmp_path)


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A `ScriptedServer`, for answers the sandbox never gives and for capturing wire bytes."""
    with ScriptedServer().running() as script:
        yield script
