"""The declared dependency floors are true: the package works with every dependency at its minimum.

`pyproject.toml` says `apprise>=2.0`, `click>=8.1` and so on. A floor nobody tries drifts away
from the code; this test installs the package (not editable, so its package data is checked
too) with each runtime dependency pinned to its floor, on the oldest Python the project
supports when this machine has it, and runs the commands a new user runs first: `--version`,
the demo pipeline against the embedded sandbox, a one-off send to a sandbox server, and an
Apprise notification through `masgsm://`.

The scratch environment is kept in pytest's cache, keyed by the floors and the interpreter, so
only a change of floors pays for the installs again. Without PyPI the test is skipped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO
from helpers.cli import clean_env
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from masgsm_notify.sandbox import SandboxConfig, SandboxServer

OLDEST_PYTHON = "python3.10"


def floors() -> list[str]:
    """Each runtime dependency pinned to its declared minimum, markers kept."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = []
    for line in project["dependencies"]:
        requirement = Requirement(line)
        lows = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert lows, f"{line!r} declares no floor (>=)"
        marker = f"; {requirement.marker}" if requirement.marker else ""
        pinned.append(f"{requirement.name}=={lows[0]}{marker}")
    return pinned


def interpreter() -> str:
    """The oldest supported Python when this machine has a working one, else this one."""
    found = shutil.which(OLDEST_PYTHON)
    if found and subprocess.run([found, "-c", "import venv"], capture_output=True).returncode == 0:
        return found
    return sys.executable


@pytest.fixture(scope="session")
def floor_env(request: pytest.FixtureRequest) -> Path:
    """A virtual environment with the floors installed (cached), and this package (fresh)."""
    python = interpreter()
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    key = hashlib.sha256(json.dumps([floors(), version]).encode()).hexdigest()[:16]
    folder = Path(request.config.cache.mkdir(f"dependency-floors-{key}"))
    bin_dir = folder / "venv" / "bin"
    if not (folder / "ready").exists():
        shutil.rmtree(folder / "venv", ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(folder / "venv")], check=True)
        installed = subprocess.run(
            [bin_dir / "python", "-m", "pip", "install", "--quiet", *floors()],
            capture_output=True,
            text=True,
        )
        if installed.returncode != 0:
            if "Could not find" in installed.stderr or "connection" in installed.stderr.lower():
                pytest.skip(f"the floors could not be downloaded: {installed.stderr[-300:]}")
            raise AssertionError(f"the floors do not install together:\n{installed.stderr}")
        (folder / "ready").touch()
    package = subprocess.run(
        [
            bin_dir / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--force-reinstall",
            str(REPO),
        ],
        capture_output=True,
        text=True,
    )
    assert package.returncode == 0, package.stderr
    return bin_dir


def test_the_floors_are_what_is_installed(floor_env: Path) -> None:
    listed = subprocess.run(
        [floor_env / "python", "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = {item["name"].lower(): item["version"] for item in json.loads(listed)}
    for pin in floors():
        requirement = Requirement(pin)
        if requirement.marker and not requirement.marker.evaluate(
            {"python_version": _python_version(floor_env)}
        ):
            continue
        wanted = Version(next(iter(requirement.specifier)).version)
        assert Version(versions[requirement.name.lower()]) == wanted, (requirement.name, versions)


def _python_version(bin_dir: Path) -> str:
    return subprocess.run(
        [bin_dir / "python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_first_commands_work_at_the_floors(floor_env: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    cli = [str(floor_env / "masgsm-notify")]

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*cli, *args], env={**env, **extra}, capture_output=True, text=True, timeout=300
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done

    version = run("--version")
    assert version.returncode == 0 and "masgsm-notify, version" in version.stdout

    page = tmp_path / "demo.html"
    demo = run(
        "run", str(REPO / "pipelines" / "demo.yaml"), "--sandbox", "--json", "--html", str(page)
    )
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["outcomes"]["delivered"] > 0
    assert "<svg" in page.read_text(encoding="utf-8")  # the charts, drawn at the floors

    with SandboxServer(SandboxConfig(settle_ms=0)) as sandbox:
        account = {
            "MASGSM_USER": SANDBOX_USER,
            "MASGSM_PASSWORD": SANDBOX_PASSWORD,
            "MASGSM_BASE_URL": sandbox.base_url,
        }
        sent = run(
            "send", "--to", "05321112233", "--message", "Merhaba", "--title", "SANDBOX", **account
        )
        assert sent.returncode == 0, sent.stderr
        apprise_url = (
            f"masgsm://{SANDBOX_USER}:{SANDBOX_PASSWORD}@MASGSMTEST/05334445566"
            f"?base={sandbox.base_url}"
        )
        notified = subprocess.run(
            [
                floor_env / "python",
                "-c",
                "import sys, apprise, masgsm_notify.apprise_plugin\n"
                "a = apprise.Apprise(); assert a.add(sys.argv[1])\n"
                "sys.exit(0 if a.notify(body='Yedek tamam') else 1)",
                apprise_url,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert notified.returncode == 0, notified.stderr
        received = sorted((m["number"], m["text"]) for m in sandbox.messages())
    assert received == [("5321112233", "Merhaba"), ("5334445566", "Yedek tamam")]
