"""The run's HTML page in a real browser: headless Chromium (Debian's package) over its DevTools
protocol, opening pages that real `run --html` and `check --html` subprocesses wrote after
sending to the sandbox over HTTP.

Checked: nothing logged as an error, nothing requested but the file itself, every figure equal to
the one `--json` printed for the same run, search and sort working, the page complete with
scripts off, print styles, and a screenshot (MASGSM_REPORT_SCREENSHOT=FILE also keeps one).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.browser import Browser, Page
from helpers.cli import assert_no_traceback, run_cli, sandbox_env, summary_of
from helpers.pipelines import write

from masgsm_notify.sandbox import SandboxConfig, SandboxServer

ROWS_JS = "Array.from(document.querySelectorAll('#recipient-table tbody tr'))"


@dataclass
class Written:
    """A page a real command wrote, and the JSON summary the same command printed."""

    page: Path
    summary: dict[str, Any]

    @property
    def url(self) -> str:
        return self.page.as_uri()


def people(folder: Path) -> Path:
    """Recipients across operator ranges: three fail (the sandbox fails numbers ending 99), two
    repeat another row exactly (merged), two are invalid, three are filtered out by `when:`."""
    ranges = ["505", "532", "533", "542", "543", "552", "555"] * 4
    rows = [("Ayşe", f"0{prefix}111{i:04d}", "yes") for i, prefix in enumerate(ranges)]
    rows += [rows[0], rows[1]]
    rows += [("Fail", n, "yes") for n in ("05321112299", "05421112399", "05051112499")]
    rows += [("Bad", "<b>0212</b> 555 00 00", "yes"), ("Bad", "12345", "yes")]
    rows += [("Off", f"0532999000{i}", "no") for i in range(3)]
    path = folder / "people.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["name", "phone", "active"])
        writer.writerows(rows)
    return path


PIPELINE = """
name: page-test
recipients:
  csv: people.csv
  number: "{{ phone }}"
  when: "{{ active == 'yes' }}"
message: {inline: "Merhaba {{ name }}, siparişiniz yolda."}
send: {batch_size: 8, on_invalid: skip}
report: {wait: 15s, poll_every: 100ms, fail_if: "failed_ratio > 0.5"}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.start() as started:
        yield started


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Written]:
    """One real run with --json and --html, against a sandbox that settles in 0.6 s."""
    folder = tmp_path_factory.mktemp("page")
    people(folder)
    pipeline = write(folder / "page.yaml", PIPELINE)
    with SandboxServer(SandboxConfig(settle_ms=600)) as server:
        env = sandbox_env(server, folder)
        page = folder / "report.html"
        args = ["run", str(pipeline), "--journal", str(folder / "j.sqlite"), "--run-key", "p-1"]
        result = run_cli([*args, "--json", "--html", str(page)], env)
    assert_no_traceback(result)
    assert result.returncode == 0, result.output
    yield Written(page, summary_of(result))


@pytest.fixture
def opened(browser: Browser, sent: Written) -> Page:
    page = browser.new_page()
    page.open(sent.url)
    return page


def figures(page: Page) -> list[tuple[str, str]]:
    return [
        tuple(pair)
        for pair in page.evaluate(
            "Array.from(document.querySelectorAll('[data-figure]'),"
            " e => [e.dataset.figure, e.textContent.trim()])"
        )
    ]


def json_figure(summary: dict[str, Any], name: str) -> int:
    """A figure of the page as `--json` has it: a count, an outcome, or a sum of outcomes."""
    outcomes = summary["outcomes"]
    sums = {
        "recipients": sum(outcomes.values()),
        "sent": outcomes["delivered"] + outcomes["failed"] + outcomes["pending"],
    }
    if name in outcomes:
        return outcomes[name]
    if name in sums:
        return sums[name]
    return summary[name]  # a KeyError is a figure that --json does not have


def assert_figures_match(page: Page, summary: dict[str, Any]) -> None:
    shown = figures(page)
    names = {name for name, _ in shown}
    wanted = {"rows", "recipients", "sent", "merged", "credits", "credits_sent", "exit_code"}
    wanted |= set(summary["outcomes"]) | {"filtered", "skipped", "already_sent"}
    assert wanted <= names, wanted - names
    for name, text in shown:
        assert int(text.replace(",", "")) == json_figure(summary, name), (name, text)


def visible_rows(page: Page) -> list[list[str]]:
    return page.evaluate(
        f"{ROWS_JS}.filter(r => !r.hidden).map(r => Array.from(r.cells, c => c.textContent.trim()))"
    )


def test_the_page_loads_nothing_logs_no_error_and_shows_the_json_figures(
    opened: Page, sent: Written, tmp_path: Path
) -> None:
    summary = sent.summary
    outcomes = summary["outcomes"]
    assert (outcomes["delivered"], outcomes["failed"]) == (30, 3)  # the run did what it should
    assert (summary["skipped"], summary["merged"], summary["filtered"]) == (2, 2, 3)

    assert opened.console_errors == []
    assert opened.requests == [sent.url]
    assert_figures_match(opened, summary)
    assert opened.evaluate("document.querySelectorAll('figure.chart svg').length") == 2
    polls = opened.evaluate("document.querySelectorAll('#delivery details tbody tr').length")
    assert polls >= 2  # pending numbers were seen settling over rounds of reports
    assert opened.evaluate("document.title").startswith("page-test: p-1")

    shot = opened.screenshot(tmp_path / "report.png")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 50_000
    keep = os.environ.get("MASGSM_REPORT_SCREENSHOT")
    if keep:
        opened.screenshot(Path(keep), height=1900)


def test_the_table_lists_failures_first_and_search_filters_it(opened: Page, sent: Written) -> None:
    rows = visible_rows(opened)
    entries = sent.summary["messages"] + sent.summary["skipped"]
    assert len(rows) == entries
    assert [r[2] for r in rows[:3]] == ["failed"] * 3 and [r[2] for r in rows[3:5]] == [
        "skipped"
    ] * 2
    assert "<b>0212</b> 555 00 00" in [r[1] for r in rows]  # shown as text, not markup

    opened.evaluate(
        "(() => { const s = document.getElementById('search'); s.value = 'failed';"
        " s.dispatchEvent(new Event('input')); return new Promise(r => setTimeout(r, 200)); })()"
    )
    found = visible_rows(opened)
    assert sorted(r[1] for r in found) == ["5051112499", "5321112299", "5421112399"]
    assert opened.evaluate("document.getElementById('search-count').textContent") == (
        f"3 of {entries} shown"
    )

    opened.evaluate(
        "(() => { const s = document.getElementById('search'); s.value = '543 delivered';"
        " s.dispatchEvent(new Event('input')); return new Promise(r => setTimeout(r, 200)); })()"
    )
    assert {r[1][:3] for r in visible_rows(opened)} == {"543"}
    assert len(visible_rows(opened)) == 4
    assert opened.console_errors == []


def test_headings_sort_the_table_both_ways(opened: Page) -> None:
    def click(heading: str) -> list[list[str]]:
        opened.evaluate(
            "Array.from(document.querySelectorAll('#recipient-table th button'))"
            f".find(b => b.textContent === {heading!r}).click()"
        )
        return visible_rows(opened)

    def digits(rows: list[list[str]]) -> list[int]:
        return [int(r[1]) for r in rows if r[1].isdigit()]  # numbers, and the value 12345

    ascending = digits(click("Number"))
    assert len(ascending) == 32 and ascending == sorted(ascending)  # compared as numbers
    assert digits(click("Number")) == sorted(ascending, reverse=True)
    rows = [r[0].split(" (")[0] for r in click("Row")]  # "people.csv:2 (+1 merged)"
    assert rows[:10] == [f"people.csv:{n}" for n in range(2, 12)]  # 10 after 9, not after 1
    segments = [int(r[3]) for r in click("Segments")]
    assert segments == sorted(segments)
    assert (
        opened.evaluate("document.querySelector('#recipient-table th[aria-sort]').textContent")
        == "Segments"
    )
    assert opened.console_errors == []


def test_with_scripts_off_the_page_is_complete(browser: Browser, sent: Written) -> None:
    page = browser.new_page(scripts=False)
    page.open(sent.url)

    assert page.evaluate("document.querySelector('.controls').hidden") is True
    assert len(visible_rows(page)) == sent.summary["messages"] + sent.summary["skipped"]
    assert page.evaluate("document.querySelectorAll('#recipient-table th button').length") == 0
    assert page.evaluate("document.querySelectorAll('figure.chart svg').length") == 2
    assert_figures_match(page, sent.summary)
    assert page.requests == [sent.url] and page.console_errors == []


def test_the_page_prints_without_its_controls(browser: Browser, sent: Written) -> None:
    page = browser.new_page()
    page.open(sent.url)
    page.send("Emulation.setEmulatedMedia", media="print")

    style = "(selector, name) => getComputedStyle(document.querySelector(selector))[name]"
    assert page.evaluate(f"({style})('.controls', 'display')") == "none"
    assert page.evaluate(f"({style})('.table-wrap', 'overflow')") == "visible"
    assert page.evaluate(f"({style})('thead', 'display')") == "table-header-group"
    pdf = page.print_pdf()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    assert page.console_errors == []


def test_check_rewrites_the_page_with_the_reports_as_they_stand(
    browser: Browser, tmp_path: Path
) -> None:
    write(tmp_path / "people.csv", "name,phone\nA,05321112201\nB,05421112202\nC,05551112299\n")
    pipeline = write(
        tmp_path / "later.yaml",
        """
        name: later
        recipients: {csv: people.csv}
        message: {inline: "Merhaba {{ name }}"}
        report: {wait: 0s, poll_every: 100ms}
        """,
    )
    journal = str(tmp_path / "later.sqlite")
    with SandboxServer(SandboxConfig(settle_ms=1500)) as server:
        env = sandbox_env(server, tmp_path)
        first_page, second_page = tmp_path / "sent.html", tmp_path / "checked.html"
        args = ["run", str(pipeline), "--journal", journal, "--run-key", "later-1", "--json"]
        first = run_cli([*args, "--html", str(first_page)], env)
        args = ["check", "later-1", "--journal", journal, "--wait", "10s", "--json"]
        second = run_cli([*args, "--html", str(second_page)], env)
    assert first.returncode == 3 and second.returncode == 3, first.output + second.output
    before, after = summary_of(first), summary_of(second)
    assert before["outcomes"]["pending"] == 3
    assert (after["outcomes"]["delivered"], after["outcomes"]["failed"]) == (2, 1)

    for path, summary in ((first_page, before), (second_page, after)):
        page = browser.new_page()
        page.open(path.as_uri())
        assert_figures_match(page, summary)
        assert page.console_errors == [] and page.requests == [path.as_uri()]
    moments = page.evaluate(
        "Array.from(document.querySelectorAll('#credits th'), t => t.textContent)"
    )
    assert moments == [
        "Planned",
        "Spent",
        "Balance pre-flight",
        "Balance after sending",
        "Balance at check",
    ]


def test_make_demo_writes_the_report_and_prints_its_path(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parent.parent
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    if subprocess.run(["make", "-q", "-C", str(repo), ".venv/.installed"]).returncode:
        pytest.skip("the repository's .venv is missing or older than pyproject.toml")
    report = repo / "pipelines" / "results" / "demo-report.html"
    report.unlink(missing_ok=True)
    done = subprocess.run(
        ["make", "-s", "-C", str(repo), "demo"],
        env={**os.environ, "MASGSM_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Delivery report for demo" in done.stdout
    assert "Wrote the run's report to pipelines/results/demo-report.html" in done.stdout
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
