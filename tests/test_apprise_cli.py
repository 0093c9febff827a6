"""The real `apprise` command of this environment, loading masgsm:// through the installed loader.

Each test runs `masgsm-notify apprise install` and `apprise` as subprocesses with HOME pointed at
a temporary folder, against the in-process sandbox on 127.0.0.1.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from helpers.cli import CliResult, clean_env, run_cli, run_command

from masgsm_notify.apprise_loader import LOADER_NAME
from masgsm_notify.logs import redact
from masgsm_notify.sandbox import SandboxConfig, SandboxServer

APPRISE = str(Path(sys.executable).with_name("apprise"))
USER = "5300000000"
PASSWORD = "Gizli:P@ss/w0rd+%~ş"
QUOTED = quote(PASSWORD, safe="")


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """The sandbox with a password that is easy to spot in any output."""
    with SandboxServer(SandboxConfig(settle_ms=50, password=PASSWORD)) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: a fresh HOME, no MASGSM_* or APPRISE_* settings."""
    (tmp_path / "home").mkdir()
    return clean_env(tmp_path, strip=("MASGSM_", "APPRISE_", "PYTEST"))


@pytest.fixture
def plugins(tmp_path: Path, env: dict[str, str]) -> Path:
    """A plugin folder with the loader installed in it."""
    folder = tmp_path / "plugins"
    result = masgsm_notify(["apprise", "install", "--path", str(folder)], env)
    assert result.returncode == 0, result.output
    return folder


def check(result: CliResult) -> CliResult:
    """Every output of every command is free of the password, in any spelling."""
    assert PASSWORD not in result.output
    assert redact(result.output, PASSWORD) == result.output
    return result


def masgsm_notify(args: list[str], env: dict[str, str]) -> CliResult:
    return check(run_cli(args, env))


def apprise_cli(args: list[str], env: dict[str, str], cwd: Path | None = None) -> CliResult:
    return check(run_command([APPRISE, *args], env, cwd=cwd, timeout=60))


def url(sandbox: SandboxServer, rest: str, password: str = QUOTED) -> str:
    joiner = "&" if "?" in rest else "?"
    return f"masgsm://{USER}:{password}@{rest}{joiner}base={quote(sandbox.base_url, safe='')}"


def sent(sandbox: SandboxServer) -> list[tuple[str, str, str]]:
    return [(m["number"], m["text"], m["title"]) for m in sandbox.messages()]


def test_default_install_then_a_plain_send(sandbox: SandboxServer, env: dict[str, str]) -> None:
    installed = masgsm_notify(["apprise", "install"], env)
    loader = Path(env["HOME"], ".config", "apprise", "plugins", LOADER_NAME)
    assert installed.returncode == 0
    assert installed.stdout == f"Installed the MASGSM loader for Apprise: {loader}\n"
    assert loader.is_file()

    result = apprise_cli(
        [
            "-vvvv",
            "-t",
            "Sunucu uyarısı",
            "-b",
            "Disk dolu",
            url(sandbox, "MASGSMTEST/0532 111 22 33/+905334445566"),
        ],
        env,
    )
    assert result.returncode == 0, result.output
    assert "Sent MASGSM batch 1 of 1 (2 numbers)" in result.output
    text = "Sunucu uyarısı\r\nDisk dolu"
    assert sent(sandbox) == [
        ("5321112233", text, "MASGSMTEST"),
        ("5334445566", text, "MASGSMTEST"),
    ]


def test_personalised_send_with_a_contacts_file(
    sandbox: SandboxServer, env: dict[str, str], plugins: Path, tmp_path: Path
) -> None:
    (tmp_path / "customers.csv").write_text(
        "phone,name,due\n"
        "0532 111 22 33,Ayşe Yılmaz,2026-12-01\n"
        "5334445566,İsmail Öztürk,2026-12-15\n",
        encoding="utf-8",
    )
    body = "Sayın {{ name }}, son ödeme tarihiniz {{ due|date('long') }}."
    result = apprise_cli(
        ["-P", str(plugins), "-vv", "-b", body, url(sandbox, "MASGSMTEST/?contacts=customers.csv")],
        env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.output
    assert sent(sandbox) == [
        ("5321112233", "Sayın Ayşe Yılmaz, son ödeme tarihiniz 1 Aralık 2026.", "MASGSMTEST"),
        ("5334445566", "Sayın İsmail Öztürk, son ödeme tarihiniz 15 Aralık 2026.", "MASGSMTEST"),
    ]


def test_details_lists_masgsm_only_with_the_loader(env: dict[str, str], plugins: Path) -> None:
    without = apprise_cli(["--details"], env)
    assert without.returncode == 0
    assert "MASGSM" not in without.stdout

    listed = apprise_cli(["-P", str(plugins), "--details"], env)
    assert listed.returncode == 0
    assert "- MASGSM" in listed.stdout
    assert "| Schema(s): masgsm, masgsms" in listed.stdout
    assert "{schema}://{user}:{password}@{title}/{targets}" in listed.stdout


def test_wrong_password_fails_with_a_readable_message(
    sandbox: SandboxServer, env: dict[str, str], plugins: Path
) -> None:
    for verbosity in ([], ["-vvvv"]):
        result = apprise_cli(
            [
                "-P",
                str(plugins),
                *verbosity,
                "-b",
                "Merhaba",
                url(sandbox, "MASGSMTEST/5321112233", "yanlis"),
            ],
            env,
        )
        assert result.returncode == 1
        assert (
            "MASGSM did not send batch 1 of 1 (1 number): answer 401 (wrong user code or "
            "password)." in result.output
        )
    assert sent(sandbox) == []


def test_yaml_config_notifies_by_tag(
    sandbox: SandboxServer, env: dict[str, str], plugins: Path, tmp_path: Path
) -> None:
    config = tmp_path / "apprise.yml"
    config.write_text(
        "version: 1\n"
        "urls:\n"
        f"  - '{url(sandbox, 'MASGSMTEST/5321112233')}':\n"
        "      - tag: ops\n"
        f"  - '{url(sandbox, 'SANDBOX/5334445566')}':\n"
        "      - tag: customers\n"
        "        lang: plain\n",
        encoding="utf-8",
    )
    result = apprise_cli(
        ["-P", str(plugins), "--config", str(config), "--tag", "customers", "-b", "Güncelleme"],
        env,
    )
    assert result.returncode == 0, result.output
    assert sent(sandbox) == [("5334445566", "Guncelleme", "SANDBOX")]


def test_uninstall_removes_the_loader(env: dict[str, str], plugins: Path) -> None:
    assert apprise_cli(["-P", str(plugins), "--details"], env).returncode == 0  # caches bytecode
    removed = masgsm_notify(["apprise", "uninstall", "--path", str(plugins)], env)
    assert removed.returncode == 0
    assert removed.stdout == f"Removed the MASGSM loader: {plugins / LOADER_NAME}\n"
    assert list(plugins.iterdir()) == []
    assert "MASGSM" not in apprise_cli(["-P", str(plugins), "--details"], env).stdout

    again = masgsm_notify(["apprise", "uninstall", "--path", str(plugins)], env)
    assert again.returncode == 0
    assert again.stdout == f"No MASGSM loader in {plugins}; nothing to remove.\n"


def test_install_leaves_a_foreign_file_alone(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / LOADER_NAME).write_text("print('mine')\n", encoding="utf-8")
    result = masgsm_notify(["apprise", "install", "--path", str(folder)], env)
    assert result.returncode == 2
    assert "was not written by masgsm-notify; left alone" in result.stderr
    assert (folder / LOADER_NAME).read_text(encoding="utf-8") == "print('mine')\n"


def test_install_where_no_folder_can_be_made_exits_1(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    result = masgsm_notify(["apprise", "install", "--path", str(blocker / "plugins")], env)
    assert result.returncode == 1, result.output
    assert "Could not write the MASGSM loader to" in result.stderr


def test_a_provider_out_of_reach_is_shown_without_verbose(
    env: dict[str, str], plugins: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = f"masgsm://{USER}:{QUOTED}@MASGSMTEST/05321112233?base=http://127.0.0.1:{port}/x"
    result = apprise_cli(["-P", str(plugins), "-b", "Merhaba", target], env)
    assert result.returncode == 1
    assert (
        f"ERROR - MASGSM batch 1 of 1 (1 number) was not sent: could not connect to "
        f"127.0.0.1:{port} (Connection refused)." in result.output
    )
