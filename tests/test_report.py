"""The run's HTML page without a browser: what it is built from (the journal, real SQLite), what
it escapes and masks, its cap, and the `--html` option's checks. tests/test_report_page.py
opens pages in Chromium."""

from __future__ import annotations

import html
import re
import stat
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers.cli import assert_no_traceback, run_cli
from helpers.journal import planned_run, query
from helpers.pipelines import write
from helpers.sandbox import numbers_sent

from masgsm_notify.pipeline import history
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.pipeline.records import RunRecords
from masgsm_notify.pipeline.summary import summarize
from masgsm_notify.report import write_report
from masgsm_notify.report.charts import elapsed, sample
from masgsm_notify.report.facts import operator, prefixes, reasons, recipients
from masgsm_notify.sandbox import SandboxServer
from masgsm_notify.states import BatchState


def sent_run(journal: Journal, numbers: list[str], failed: set[str]) -> RunRecords:
    """A run whose messages went in one batch and whose report came back."""
    records = planned_run(
        journal, [(f"people.csv:{i + 2}", n, f"Merhaba {i}") for i, n in enumerate(numbers)]
    )
    records.finish_plan(len(numbers), 0)
    draft = next(records.drafts(len(numbers)))
    batch = records.open_batch(draft)
    records.close_batch(batch, BatchState.SENT, message_id="4242")
    records.apply_report(batch, [n for n in numbers if n not in failed], sorted(failed), [])
    return records


class _Links(HTMLParser):
    ATTRIBUTES = frozenset(
        {"src", "href", "xlink:href", "srcset", "action", "data", "poster", "background"}
    )

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [f"{tag} {name}={value}" for name, value in attrs if name in self.ATTRIBUTES]


def links_in(page: str) -> list[str]:
    """Every attribute of the page's tags that names something to load."""
    parser = _Links()
    parser.feed(page)
    return parser.found


def page_of(records: RunRecords, tmp_path: Path, **options) -> str:
    summary = summarize(records, journal=str(records.journal.path), dry_run=False)
    path = tmp_path / "page.html"
    write_report(path, records, summary, **options)
    return path.read_text(encoding="utf-8")


def test_operators_come_from_the_number_ranges() -> None:
    assert operator("532") == "Turkcell"
    assert operator("542") == "Vodafone"
    assert operator("505") == operator("555") == "Turk Telekom"
    assert operator("5x1") == ""


def test_prefixes_and_reasons_group_the_outcomes(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        records = sent_run(journal, ["5321112201", "5321112299", "5421112298"], {"5321112299"})
        lines = {line.prefix: line for line in prefixes(records)}
        found = reasons(records)

    assert lines["532"].operator == "Turkcell"
    assert lines["532"].outcomes == {"delivered": 1, "failed": 1}
    assert lines["532"].failed_percent == 50.0
    assert lines["542"].outcomes == {"delivered": 1} and lines["542"].failed_percent == 0.0
    assert [(r.outcome, r.recipients) for r in found] == [("failed", 1)]
    assert "Hatali" in found[0].reason


def test_the_table_lists_what_went_wrong_first_and_stops_at_the_cap(tmp_path: Path) -> None:
    numbers = [f"53211{i:05d}" for i in range(30)]
    with Journal(tmp_path / "j.sqlite") as journal:
        records = sent_run(journal, numbers, {numbers[20], numbers[25]})
        records.add_planned([], [("people.csv:99", "12", "it has 2 digits where 10 are needed")])
        shown = recipients(records, limit=5)

    assert [(r.number, r.outcome) for r in shown] == [
        (numbers[20], "failed"),
        (numbers[25], "failed"),
        ("12", "skipped"),
        (numbers[0], "delivered"),
        (numbers[1], "delivered"),
    ]
    assert shown[0].message_id == "4242" and shown[2].message_id is None


def test_a_capped_page_says_so_and_points_to_the_export(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("masgsm_notify.report.facts.RECIPIENTS_SHOWN", 7)
    numbers = [f"53311{i:05d}" for i in range(12)]
    with Journal(tmp_path / "j.sqlite") as journal:
        records = sent_run(journal, numbers, set())
        page = page_of(records, tmp_path, export=tmp_path / "out.csv")

    table = page.split('id="recipient-table"', 1)[1]
    assert table.count("<tr><td>") == 7
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "Showing 7 of 12 entries: the page lists at most 7" in text
    assert f"Every entry is in the results export, {tmp_path / 'out.csv'}" in text


def test_data_is_escaped_and_the_page_loads_nothing(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script><img src=http://evil.example/x.png>'
    with Journal(tmp_path / "j.sqlite") as journal:
        run = journal.create_run(
            "<b>key</b>", "<i>name</i>", "p.yaml", "f", "5300000000 at x", None
        )
        records = RunRecords(journal, run)
        records.add_planned(
            [("<u>row</u>", "5321112201", "t", "gsm7", 1)],
            [(hostile, hostile, f"bad: {hostile}")],
        )
        records.finish_plan(2, 0)
        page = page_of(records, tmp_path)

    assert "<script>alert" not in page and "<img" not in page
    assert "<b>key</b>" not in page and "<i>name</i>" not in page and "<u>row</u>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    # Nothing the page could fetch: no tag names a URL, no style does, and a policy forbids
    # fetching anything even so.
    assert links_in(page) == []
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page


def test_masked_numbers_show_neither_the_number_nor_a_skipped_value(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        records = sent_run(journal, ["5321112201", "5421234599"], {"5421234599"})
        records.add_planned([], [("people.csv:9", "0212 555 66 77", "a landline")])
        page = page_of(records, tmp_path, masked=True)

    for secret in ("5321112201", "5421234599", "1112201", "0212 555 66 77"):
        assert secret not in page
    assert "0532 *** ** 01" in page and "0542 *** ** 99" in page and "(hidden)" in page
    assert "Numbers are masked." in page


def test_the_page_is_owner_only_and_replaced_whole(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        records = sent_run(journal, ["5321112201"], set())
        summary = summarize(records, journal=None, dry_run=False)
        path = tmp_path / "page.html"
        path.write_text("old page")
        size = write_report(path, records, summary)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size == size and "old page" not in path.read_text()
    assert list(tmp_path.glob(".page.html*")) == []  # no partial file left behind


def test_poll_log_counts_every_round_of_a_small_run_and_keeps_the_last(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        records = sent_run(journal, ["5321112201", "5321112299"], {"5321112299"})
        log = history.PollLog(records)
        log.after_round(1)
        log.after_round(2)
        log.close()  # nothing since the last count: nothing more to keep
        polls = history.polls(records)

    assert [p.reports for p in polls] == [1, 2]
    assert polls[-1].outcomes == {
        "delivered": 1,
        "failed": 1,
        "pending": 0,
        "unknown": 0,
        "not_sent": 0,
    }


def test_poll_log_folds_rounds_that_come_sooner_than_a_count_is_worth(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        records = sent_run(journal, ["5321112201"], set())
        log = history.PollLog(records)
        log.after_round(3)
        log.cost = 3600.0  # as if a count took an hour: the next rounds wait for the last
        log.after_round(4)
        log.after_round(5)
        assert [p.reports for p in history.polls(records)] == [3]
        log.close()
        assert [p.reports for p in history.polls(records)] == [3, 9]


def test_axis_durations_and_sampling() -> None:
    assert [elapsed(s) for s in (0.25, 4.44, 45, 754, 12_000)] == [
        "0.25 s",
        "4.4 s",
        "45 s",
        "12 min",
        "3 h 20 min",
    ]
    polls = [history.Poll(float(i), 0, {}) for i in range(1000)]
    picked = sample(polls, 10)
    assert len(picked) == 10 and picked[0] is polls[0] and picked[-1] is polls[-1]


def test_run_html_records_polls_and_balances_and_check_rewrites_the_page(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    write(tmp_path / "people.csv", "name,phone\nA,05321112201\nB,05321112299\n")
    pipeline = write(
        tmp_path / "p.yaml",
        """
        name: paged
        recipients: {csv: people.csv}
        message: {inline: "Merhaba {{ name }}"}
        report: {wait: 5s, poll_every: 100ms, fail_if: "failed > 1"}
        """,
    )
    journal = tmp_path / "p.journal.sqlite"
    page = tmp_path / "pages" / "run.html"
    args = ["run", str(pipeline), "--journal", str(journal), "--run-key", "k1", "--html"]
    result = run_cli([*args, str(page)], cli_env)

    assert_no_traceback(result)
    assert result.returncode == 0, result.output
    assert f"Wrote the run's report to {page}" in result.stdout
    assert '<span class="card-figure" data-figure="failed">1</span>' in page.read_text()
    polls = query(journal, "SELECT delivered, failed, pending FROM report_polls ORDER BY id")
    assert polls and polls[-1] == (1, 1, 0)
    moments = [m for (m,) in query(journal, "SELECT moment FROM balances ORDER BY id")]
    assert moments == [history.PRE_FLIGHT, history.AFTER_SENDING]
    credits = [c for (c,) in query(journal, "SELECT credits FROM balances ORDER BY id")]
    assert credits[0] - credits[1] == 2  # two one-segment texts

    again = tmp_path / "again.html"
    checked = run_cli(
        ["check", "k1", "--journal", str(journal), "--wait", "0s", "--html", str(again)], cli_env
    )
    assert checked.returncode == 0, checked.output
    assert "Balance at check" in again.read_text()
    assert numbers_sent(sandbox) == {"5321112201": 1, "5321112299": 1}


@pytest.mark.parametrize(
    ("where", "said"), [("folder", "is a directory"), ("under-a-file", "nothing was sent")]
)
def test_an_unwritable_html_path_is_refused_before_anything_is_sent(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path, where: str, said: str
) -> None:
    write(tmp_path / "people.csv", "name,phone\nA,05321112201\n")
    pipeline = write(
        tmp_path / "p.yaml",
        """
        name: refused
        recipients: {csv: people.csv}
        message: {inline: "Merhaba {{ name }}"}
        """,
    )
    (tmp_path / "a-file").write_text("")
    target = tmp_path if where == "folder" else tmp_path / "a-file" / "page.html"
    result = run_cli(["run", str(pipeline), "--html", str(target)], cli_env)

    assert_no_traceback(result)
    assert result.returncode == 2, result.output
    assert "--html" in result.stderr and str(target) in result.stderr and said in result.stderr
    assert numbers_sent(sandbox) == {}


def test_a_dry_run_page_shows_the_plan_and_says_nothing_was_sent(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    write(tmp_path / "people.csv", "name,phone\nA,05321112201\nB,05421112202\n")
    pipeline = write(
        tmp_path / "p.yaml",
        """
        name: planned
        recipients: {csv: people.csv}
        message: {inline: "Merhaba {{ name }}"}
        """,
    )
    page = tmp_path / "plan.html"
    result = run_cli(["run", str(pipeline), "-n", "--html", str(page)], cli_env)

    assert result.returncode == 0, result.output
    text = page.read_text()
    assert "A dry run: nothing was sent." in text and "a dry run sends nothing" in text
    assert '<span class="card-figure" data-figure="not_sent">2</span>' in text
    assert "Balance pre-flight" in text
    assert numbers_sent(sandbox) == {}
