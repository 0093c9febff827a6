"""The run's page (`run --html`, `check --html`) keeps secrets: never the password, in any
spelling, and with `privacy: mask` no whole number. Real CLI runs against the sandbox."""

from __future__ import annotations

from pathlib import Path

from helpers.cli import assert_no_traceback, env_for, run_cli
from helpers.pipelines import FAST_REPORT, write
from helpers.sandbox import SANDBOX_USER
from test_privacy import NUMBERS, whole_numbers_in
from test_privacy import pipeline as masked_pipeline
from test_secrets import SECRET, spellings

from masgsm_notify.sandbox import SandboxConfig, SandboxServer

URL_SERVICE = """
name: page-url
service: >-
  masgsm://{{ env.MASGSM_USER }}:{{ env.MASGSM_PASSWORD|urlencode }}@MASGSMTEST/?base={{
  env.MASGSM_BASE_URL|urlencode }}
recipients: {inline: [{phone: "05321112201"}, {phone: "05321112299"}]}
message: {inline: "Şifreniz değişti, sayfa testi."}
"""
MAPPING_SERVICE = """
name: page-mapping
service: {title: MASGSMTEST}
recipients: {inline: [{phone: "05321112202"}, {phone: "05331112299"}]}
message: {inline: "Şifreniz değişti, ikinci sayfa."}
"""


def leaked(text: str) -> list[str]:
    return sorted(form for form in spellings(SECRET) if form in text)


def test_no_page_shows_the_password(cli_env: dict[str, str], tmp_path: Path) -> None:
    """The page names the account and the service URL: with the password out of both."""
    with SandboxServer(SandboxConfig(password=SECRET, settle_ms=20)) as server:
        env = env_for(server, cli_env, MASGSM_PASSWORD=SECRET)
        pages: dict[str, str] = {}
        for name, text in (("url", URL_SERVICE), ("mapping", MAPPING_SERVICE)):
            pipeline = write(tmp_path / f"{name}.yaml", text + FAST_REPORT)
            journal = str(tmp_path / f"{name}.sqlite")
            page, again = tmp_path / f"{name}.html", tmp_path / f"{name}-check.html"
            ran = run_cli(
                [
                    "run",
                    str(pipeline),
                    "--journal",
                    journal,
                    "--run-key",
                    name,
                    "--html",
                    str(page),
                ],
                env,
            )
            checked = run_cli(
                ["check", name, "--journal", journal, "--wait", "0s", "--html", str(again)], env
            )
            for result in (ran, checked):
                assert_no_traceback(result)
                assert result.returncode == 3, result.output  # one number ending 9x fails
                assert leaked(result.output) == [], result.output
            pages[name] = page.read_text(encoding="utf-8")
            pages[f"{name} check"] = again.read_text(encoding="utf-8")
        assert len(server.messages()) == 4

    for where, html in pages.items():
        assert leaked(html) == [], (where, leaked(html))
        assert SANDBOX_USER in html, where  # the account is named, as user and base URL
    # The URL form is shown with its password replaced, not dropped.
    assert f"masgsm://{SANDBOX_USER}:****@MASGSMTEST" in pages["url"], pages["url"]


def test_a_masked_run_page_shows_no_whole_number(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = masked_pipeline(tmp_path)
    page, again = tmp_path / "page.html", tmp_path / "check.html"

    ran = run_cli(["run", str(path), "--run-key", "m", "--html", str(page)], cli_env)
    checked = run_cli(["check", "m", "--wait", "0s", "--html", str(again)], cli_env)

    for result in (ran, checked):
        assert_no_traceback(result)
        assert result.returncode == 0, result.output
        assert whole_numbers_in(result.output) == [], result.output
    for shown in (page, again):
        html = shown.read_text(encoding="utf-8")
        assert whole_numbers_in(html) == [], (shown, whole_numbers_in(html))
        assert "0532 *** ** 99" in html and "0532 *** ** 10" in html  # listed, masked
    assert len(NUMBERS) == 3
