"""Apprise's own test harness and a stock Apprise, to prove the built-in MASGSM service.

Apprise's harness (its `tests/helpers`, with the `tests/conftest.py` its tests run under and the
`tests/var` files its attachment checks read) is Apprise's code: it is fetched from Apprise's
source distribution of the installed version when a test first needs it, never copied into this
repository, and kept in `$XDG_CACHE_HOME/masgsm-notify/` so later runs download nothing.

The stock Apprise is a scratch virtual environment with Apprise, pytest and pytest-mock from
PyPI, and not this package. Building it takes a while, so it is kept in pytest's cache folder,
one per Apprise version, and rebuilt only when it is missing or was left half-built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path, PurePosixPath

from helpers import REPO

APPRISE_VERSION = version("apprise")
BUILTIN = REPO / "contrib" / "apprise" / "masgsm.py"
BUILTIN_TESTS = REPO / "contrib" / "apprise" / "test_plugin_masgsm.py"
# The pytest plugin that puts this project's service where Apprise's tests look for the built-in.
PROJECT_AS_BUILTIN = "masgsm_as_apprise_builtin"

# What of Apprise's tests folder its harness needs.
HARNESS_PARTS = ("conftest.py", "helpers/", "var/")
COMPLETE = ".complete"


class Unavailable(Exception):
    """What could not be prepared (PyPI out of reach, most likely), said in one line."""


def cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "masgsm-notify"


def _run(args: list[str], what: str, timeout: float) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise Unavailable(f"{what}: {error}") from None
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
        raise Unavailable(f"{what} failed: {' '.join(last) or f'exit {done.returncode}'}")


def apprise_tests(apprise_version: str = APPRISE_VERSION) -> Path:
    """A folder with Apprise's `conftest.py`, `helpers/` and `var/`, from its sdist (cached)."""
    target = cache_home() / f"apprise-{apprise_version}-tests"
    if (target / COMPLETE).is_file():
        return target
    try:
        _fetch_harness(target, apprise_version)
    except OSError as error:
        raise Unavailable(f"could not write {target}: {error}") from None
    return target


def _fetch_harness(target: Path, apprise_version: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        download = Path(scratch, "download")
        _run(
            [
                sys.executable,
                *("-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps"),
                *(f"apprise=={apprise_version}", "--dest", str(download)),
            ],
            f"pip download apprise=={apprise_version} (its source distribution)",
            timeout=600,
        )
        staged = Path(scratch, "tests")
        for archive in download.glob("apprise-*.tar.gz"):
            _extract_harness(archive, staged)
        if not (staged / "helpers" / "__init__.py").is_file():
            raise Unavailable(f"apprise {apprise_version}'s sdist holds no tests/helpers")
        (staged / COMPLETE).write_text(apprise_version, encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        staged.rename(target)


def _extract_harness(archive: Path, dest: Path) -> None:
    """Write the harness parts of an Apprise sdist's `tests/` folder to `dest`, safely."""
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            parts = PurePosixPath(member.name).parts
            if len(parts) < 3 or parts[1] != "tests" or not member.isfile():
                continue
            relative = PurePosixPath(*parts[2:])
            if ".." in relative.parts or not str(relative).startswith(HARNESS_PARTS):
                continue
            path = dest.joinpath(*relative.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            source = sdist.extractfile(member)
            assert source is not None
            path.write_bytes(source.read())


def harness_folder(dest: Path, tests_from_apprise: Path) -> Path:
    """`dest/tests` laid out as in Apprise's repository, with the MASGSM tests in it."""
    tests = dest / "tests"
    shutil.copytree(tests_from_apprise, tests, ignore=shutil.ignore_patterns(COMPLETE))
    shutil.copy2(BUILTIN_TESTS, tests / BUILTIN_TESTS.name)
    return tests / BUILTIN_TESTS.name


def scratch_venv(folder: Path, apprise_version: str = APPRISE_VERSION) -> Path:
    """A virtual environment with stock Apprise (and pytest), built once into `folder`."""
    python = folder / "bin" / "python"
    if (folder / COMPLETE).is_file() and python.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    _run([sys.executable, "-m", "venv", "--clear", str(folder)], "python -m venv", timeout=300)
    _run(
        [
            str(python),
            *("-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *(f"apprise=={apprise_version}", "pytest", "pytest-mock"),
        ],
        f"pip install apprise=={apprise_version} pytest pytest-mock",
        timeout=900,
    )
    try:
        (folder / COMPLETE).write_text(apprise_version, encoding="utf-8")
    except OSError as error:
        raise Unavailable(f"could not write {folder}: {error}") from None
    return folder


def plugins_folder(venv: Path) -> Path:
    """The `apprise/plugins` package folder of a virtual environment: Apprise's built-ins."""
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import apprise.plugins, os; print(os.path.dirname(apprise.plugins.__file__))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return Path(done.stdout.strip())
