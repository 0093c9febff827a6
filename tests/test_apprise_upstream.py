"""The single-file MASGSM service in a stock Apprise, and this project's service beside it.

In a scratch virtual environment with Apprise from PyPI and without this package,
`contrib/apprise/masgsm.py` is copied where Apprise keeps its built-ins: `apprise --details`
lists it, the `apprise` command sends through it to the sandbox, and Apprise's own test harness
(fetched from Apprise's sdist, see `apprise_upstream.py`) passes over its URL table. The same
file works from a user's plugin folder and from apprise-api's. This project's `NotifyMasGSM`
passes the same harness. Everything runs against the sandbox on 127.0.0.1.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from helpers.apprise_upstream import (
    APPRISE_VERSION,
    BUILTIN,
    PROJECT_AS_BUILTIN,
    Unavailable,
    apprise_tests,
    harness_folder,
    plugins_folder,
    scratch_venv,
)
from helpers.cli import CliResult, clean_env, run_cli
from helpers.cli import run_command as run
from helpers.http import closed_port
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER, sandbox_messages

from masgsm_notify.sandbox import SandboxServer

TESTS = Path(__file__).resolve().parent
PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider")


@pytest.fixture(scope="session")
def apprise_harness() -> Path:
    """Apprise's `tests/` harness parts for the installed Apprise version."""
    try:
        return apprise_tests()
    except Unavailable as error:
        pytest.skip(f"Apprise's test harness could not be fetched: {error}")


@pytest.fixture(scope="session")
def stock_apprise(request: pytest.FixtureRequest) -> Path:
    """A virtual environment with Apprise from PyPI and not this package (built once)."""
    name = f"apprise-scratch-{APPRISE_VERSION}"
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    folder = cache.mkdir(name) if cache else Path(tempfile.gettempdir(), f"masgsm-notify-{name}")
    try:
        return scratch_venv(folder)
    except Unavailable as error:
        pytest.skip(f"No scratch virtual environment with stock Apprise could be built: {error}")


@pytest.fixture
def builtin(stock_apprise: Path) -> Iterator[Path]:
    """masgsm.py where Apprise keeps its own services (apprise/plugins/), removed afterwards."""
    plugins = plugins_folder(stock_apprise)
    target = plugins / "masgsm.py"
    shutil.copyfile(BUILTIN, target)
    try:
        yield target
    finally:
        target.unlink(missing_ok=True)
        for compiled in (plugins / "__pycache__").glob("masgsm.*.pyc"):
            compiled.unlink()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: a fresh HOME, no MASGSM_*, APPRISE_* or PYTHON* settings."""
    (tmp_path / "home").mkdir()
    return clean_env(tmp_path, strip=("MASGSM_", "APPRISE_", "PYTEST", "PYTHON"))


def apprise(venv: Path, args: list[str], env: dict[str, str]) -> CliResult:
    return run([str(venv / "bin" / "apprise"), *args], env)


def url(base_url: str, rest: str = "MASGSMTEST/0532 111 22 33/+905334445566") -> str:
    joiner = "&" if "?" in rest else "?"
    return (
        f"masgsm://{SANDBOX_USER}:{SANDBOX_PASSWORD}@{rest}{joiner}base={quote(base_url, safe='')}"
    )


def sent(server: SandboxServer) -> list[tuple[str, str, str]]:
    """What the sandbox accepted, read over HTTP from its inspection endpoint."""
    return [(m["number"], m["text"], m["title"]) for m in sandbox_messages(server.base_url)]


def passed(result: CliResult) -> int:
    """How many tests a pytest run passed; it must have failed, skipped and errored none."""
    assert result.returncode == 0, result.output
    summary = result.stdout.strip().splitlines()[-1]
    assert not re.search(r"failed|error|skipped", summary), summary
    found = re.search(r"(\d+) passed", summary)
    assert found, summary
    return int(found.group(1))


# -- Apprise with the file as a built-in ------------------------------------------------------


def test_the_scratch_environment_is_stock_apprise(
    stock_apprise: Path, env: dict[str, str], tmp_path: Path
) -> None:
    python = str(stock_apprise / "bin" / "python")
    found = "import importlib.util; print(importlib.util.find_spec('masgsm_notify'))"
    assert run([python, "-c", found], env, cwd=tmp_path).stdout == "None\n"
    shown = run([python, "-c", "import apprise; print(apprise.__version__)"], env)
    assert shown.stdout.strip() == APPRISE_VERSION
    assert "MASGSM" not in apprise(stock_apprise, ["--details"], env).stdout


def test_apprise_details_lists_the_builtin(
    builtin: Path, stock_apprise: Path, env: dict[str, str]
) -> None:
    listed = apprise(stock_apprise, ["--details"], env)
    assert listed.returncode == 0, listed.output
    assert re.search(r"\+ MASGSM +\| Schema\(s\): masgsm, masgsms\n", listed.stdout)
    assert "   - {schema}://{user}:{password}@{title}/{targets}\n" in listed.stdout


def test_the_apprise_command_sends_through_the_builtin(
    builtin: Path, stock_apprise: Path, env: dict[str, str], sandbox: SandboxServer
) -> None:
    result = apprise(
        stock_apprise,
        ["-vv", "-t", "Sunucu uyarısı", "-b", "Disk /var %97 dolu", url(sandbox.base_url)],
        env,
    )
    assert result.returncode == 0, result.output
    assert "Sent MASGSM batch 1 of 1 (2 numbers): answer 1 (accepted), message id" in (
        result.output
    )
    text = "Sunucu uyarısı\r\nDisk /var %97 dolu"
    assert sent(sandbox) == [
        ("5321112233", text, "MASGSMTEST"),
        ("5334445566", text, "MASGSMTEST"),
    ]
    assert SANDBOX_PASSWORD not in result.output


def test_a_provider_out_of_reach_is_an_error_shown_by_default(
    builtin: Path, stock_apprise: Path, env: dict[str, str]
) -> None:
    port = closed_port()
    target = url(f"http://127.0.0.1:{port}/MasApiV2", "MASGSMTEST/05321112233")
    result = apprise(stock_apprise, ["-b", "Merhaba", target], env)
    assert result.returncode == 1
    assert (
        f"ERROR - MASGSM batch 1 of 1 (1 number) was not sent: could not connect to "
        f"127.0.0.1:{port} (Connection refused)." in result.output
    )


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        (
            "MASGSMTEST/05321112233?base=http://169.254.169.254/latest",
            "The MASGSM base URL host 169.254.169.254 is a link-local address "
            "(169.254.169.254): MASGSM would never answer there, and the password would be "
            "sent to it. Set MASGSM_ALLOW_BASE_HOSTS=169.254.169.254 to allow it.",
        ),
        (
            "MASGSMTEST/05321112233?base=http://[fd00:ec2::254]/latest",
            "host fd00:ec2::254 is a cloud metadata address (fd00:ec2::254)",
        ),
        (
            "MASGSMTEST/05321112233?base=http://metadata.google.internal/computeMetadata",
            "host metadata.google.internal is a cloud metadata service",
        ),
    ],
)
def test_unsafe_base_urls_are_refused_by_the_apprise_command(
    builtin: Path, stock_apprise: Path, env: dict[str, str], rest: str, expected: str
) -> None:
    target = f"masgsm://{SANDBOX_USER}:{SANDBOX_PASSWORD}@{rest}"
    result = apprise(stock_apprise, ["-v", "-b", "Merhaba", target], env)
    assert result.returncode == 1
    assert expected in result.output
    assert "ERROR - Could not load MASGSM URL" in result.output


def test_masgsms_is_never_sent_over_http(
    builtin: Path, stock_apprise: Path, env: dict[str, str], sandbox: SandboxServer
) -> None:
    target = url(sandbox.base_url, "MASGSMTEST/05321112233").replace("masgsm://", "masgsms://")
    result = apprise(stock_apprise, ["-v", "-b", "Merhaba", target], env)
    assert result.returncode == 1
    assert (
        f"A masgsms:// URL sends over https only, but its base URL is "
        f"http://{urlsplit(sandbox.base_url).netloc}: use an https:// base URL, or masgsm:// "
        "to send over http on purpose." in result.output
    )
    assert sent(sandbox) == []


def test_apprise_harness_passes_over_the_builtin(
    builtin: Path, stock_apprise: Path, apprise_harness: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    tests = harness_folder(tmp_path, apprise_harness)
    result = run(
        [str(stock_apprise / "bin" / "python"), *PYTEST, str(tests)],
        env,
        cwd=tmp_path,
    )
    assert passed(result) >= 30


# -- the same file elsewhere ------------------------------------------------------------------


def test_the_file_works_from_a_user_plugin_folder(
    stock_apprise: Path, env: dict[str, str], sandbox: SandboxServer, tmp_path: Path
) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    shutil.copyfile(BUILTIN, folder / "masgsm.py")
    listed = apprise(stock_apprise, ["-P", str(folder), "--details"], env)
    assert "Schema(s): masgsm, masgsms" in listed.stdout
    result = apprise(
        stock_apprise, ["-P", str(folder), "-b", "Eklenti klasöründen", url(sandbox.base_url)], env
    )
    assert result.returncode == 0, result.output
    assert [text for _n, text, _t in sent(sandbox)] == ["Eklenti klasöründen"] * 2


# apprise-api builds an AppriseAsset with the folders of APPRISE_PLUGIN_PATHS (`/plugin` in its
# container) for every request it serves, and Apprise scans them for Python files.
APPRISE_API_REQUESTS = """
import sys
from apprise import Apprise, AppriseAsset

for request in range(2):
    notifier = Apprise(asset=AppriseAsset(plugin_paths=sys.argv[1].split(",")))
    assert notifier.add(sys.argv[2]), "masgsm:// is unknown"
    assert notifier.notify(title="apprise-api", body=f"istek {request}")
"""


def test_the_file_works_from_apprise_apis_plugin_folder(
    stock_apprise: Path, env: dict[str, str], sandbox: SandboxServer, tmp_path: Path
) -> None:
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    shutil.copyfile(BUILTIN, plugin / "masgsm.py")
    python = str(stock_apprise / "bin" / "python")
    result = run([python, "-c", APPRISE_API_REQUESTS, str(plugin), url(sandbox.base_url)], env)
    assert result.returncode == 0, result.output
    assert [text for _n, text, _t in sent(sandbox)] == [
        "apprise-api\r\nistek 0",
        "apprise-api\r\nistek 0",
        "apprise-api\r\nistek 1",
        "apprise-api\r\nistek 1",
    ]


def test_the_loader_works_from_apprise_apis_plugin_folder(
    env: dict[str, str], sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The installed project, loaded by `masgsm-notify apprise install --path /plugin`."""
    plugin = tmp_path / "plugin"
    installed = run_cli(["apprise", "install", "--path", str(plugin)], env)
    assert installed.returncode == 0, installed.output
    (tmp_path / "customers.csv").write_text(
        "phone,name\n0532 111 22 33,Ayşe\n5334445566,İsmail\n", encoding="utf-8"
    )
    target = url(sandbox.base_url, "MASGSMTEST/?contacts=customers.csv")
    script = APPRISE_API_REQUESTS.replace('body=f"istek {request}"', 'body="Sayın {{ name }}"')
    result = run([sys.executable, "-c", script, str(plugin), target], env, cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert (
        sent(sandbox)
        == [
            ("5321112233", "apprise-api\nSayın Ayşe", "MASGSMTEST"),
            ("5334445566", "apprise-api\nSayın İsmail", "MASGSMTEST"),
        ]
        * 2
    )


# -- this project's service -------------------------------------------------------------------


def test_the_project_service_passes_the_same_harness(
    apprise_harness: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    tests = harness_folder(tmp_path, apprise_harness)
    result = run(
        [sys.executable, *PYTEST, "--noconftest", "-p", PROJECT_AS_BUILTIN, str(tests)],
        {**env, "PYTHONPATH": str(TESTS)},
        cwd=tmp_path,
    )
    assert passed(result) >= 30
