"""The run's page shows the rows set aside on purpose (already sent, held by --limit, opted out,
no consent) with the figures `--json` prints for the same run. The page marks every figure with
`data-figure="<json name>"`; they are read here from the HTML a real `run` wrote (no browser:
tests/test_report_page.py opens pages in Chromium)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from helpers.cli import assert_no_traceback, run_cli, summary_of
from helpers.pipelines import FAST_REPORT, write
from test_compliance import IYS_HEADER, OPTOUT
from test_report_page import json_figure

from masgsm_notify.sandbox import SandboxServer

CONSENTED = "+90{},MESAJ,HS_WEB,ONAY,2024-01-10 10:00:00,BIREYSEL"
# In source order: sent by the first run, opted out, no consent record, then three to send.
PEOPLE = {
    "5321113001": "consent",
    "5321113002": "opted out",
    "5321113003": "no consent",
    "5321113004": "consent",
    "5321113005": "consent",
    "5321113006": "consent",
}
SET_ASIDE = ("already_sent", "held", "opted_out", "no_consent")


class _Figures(HTMLParser):
    """(name, text) of every element with a `data-figure` attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self._open: list[tuple[str | None, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("meta", "br", "img", "input", "link", "col", "hr", "wbr"):
            return
        self._open.append((dict(attrs).get("data-figure"), []))

    def handle_endtag(self, tag: str) -> None:
        name, parts = self._open.pop()
        text = "".join(parts)
        if self._open:
            self._open[-1][1].append(text)
        if name is not None:
            self.found.append((name, text.strip()))

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][1].append(data)


def figures_in(page: Path) -> list[tuple[str, str]]:
    parser = _Figures()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.found


def assert_page_matches(page: Path, summary: dict[str, Any]) -> dict[str, int]:
    shown = figures_in(page)
    for name, text in shown:
        assert int(text.replace(",", "")) == json_figure(summary, name), (name, text)
    return {name: int(text.replace(",", "")) for name, text in shown}


def test_the_page_shows_the_set_aside_figures_of_json(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    rows = "".join(f"Kişi {i},0{n}\n" for i, n in enumerate(PEOPLE))
    write(tmp_path / "people.csv", "name,phone\n" + rows)
    records = [CONSENTED.format(n) for n, kind in PEOPLE.items() if kind != "no consent"]
    write(tmp_path / "iys.csv", IYS_HEADER + "\n".join(records) + "\n")
    write(
        tmp_path / "campaign.yaml",
        "name: campaign\n"
        "recipients: {csv: people.csv}\n"
        'message: {inline: "Bahar indirimi başladı.", title: MASGSMTEST}\n'
        f'compliance: {{purpose: commercial, optout_text: "{OPTOUT}", consent: iys.csv}}\n'
        + FAST_REPORT,
    )
    listed = run_cli(["optouts", "add", "0532 111 30 02", "--reason", "RET SMS"], cli_env)
    assert listed.returncode == 0, listed.output
    first = run_cli(
        ["run", "campaign.yaml", "--run-key", "r1", "--limit", "1"], cli_env, cwd=tmp_path
    )
    assert first.returncode == 0, first.output

    page, again = tmp_path / "page.html", tmp_path / "check.html"
    second = ["run", "campaign.yaml", "--run-key", "r2", "--limit", "1", "--json"]
    ran = run_cli([*second, "--html", str(page)], cli_env, cwd=tmp_path)
    checked = run_cli(
        ["check", "r2", "--wait", "0s", "--json", "--html", str(again)], cli_env, cwd=tmp_path
    )

    for result in (ran, checked):
        assert_no_traceback(result)
        assert result.returncode == 0, result.output
    summary = summary_of(ran)
    assert {name: summary[name] for name in SET_ASIDE} == {
        "already_sent": 1,
        "held": 2,
        "opted_out": 1,
        "no_consent": 1,
    }
    assert summary["outcomes"]["delivered"] == 1
    assert [m["number"] for m in sandbox.messages()] == ["5321113001", "5321113004"]
    for written, printed in ((page, summary), (again, summary_of(checked))):
        shown = assert_page_matches(written, printed)
        assert {name: shown[name] for name in SET_ASIDE} == {
            name: summary[name] for name in SET_ASIDE
        }, written
