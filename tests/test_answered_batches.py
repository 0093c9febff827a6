"""A batch MASGSM took is written in its own row alone: its messages stay in flight until its
report sets them (one rewrite of the batch's messages instead of two). Every reader counts them
as sent meanwhile, the run writes them down as sent when it ends or stops, and a journal left so
(a crash, a disk that filled) has them written down before anything else reads or resumes it."""

from __future__ import annotations

from pathlib import Path

from helpers.cli import run_cli, sandbox_env
from helpers.journal import MESSAGES, STATE, planned_run, query
from helpers.stopped import make_pipeline

from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.pipeline.records import Draft, RunRecords
from masgsm_notify.sandbox import SandboxServer
from masgsm_notify.states import OUTCOMES, BatchState

NUMBERS = [f"53211122{i:02d}" for i in range(6)]


def _raw_states(path: Path) -> list[str]:
    return [state for (state,) in query(path, "SELECT state FROM messages ORDER BY id")]


def _answered(path: Path) -> RunRecords:
    """Three batches of two: the first taken, the second refused, the third taken; no report."""
    journal = Journal(path)
    records = planned_run(journal, [(f"r{i}", n, f"text {i}") for i, n in enumerate(NUMBERS)])
    ids = [i for (i,) in journal.db.execute("SELECT id FROM messages ORDER BY id")]
    for part, state in enumerate((BatchState.SENT, BatchState.REJECTED, BatchState.SENT)):
        pair = slice(2 * part, 2 * part + 2)
        draft = Draft(ids[pair], NUMBERS[pair], [f"text {i}" for i in range(6)][pair], [1, 1])
        batch = records.open_batch(draft)
        records.close_batch(batch, state, f"id-{part}" if state == BatchState.SENT else None)
    return records


def test_an_answered_batch_counts_as_sent_everywhere_before_it_is_written_so(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    records = _answered(path)
    # The journal's rows: the taken batches' messages still in flight, the refused ones not.
    assert _raw_states(path) == ["in_flight"] * 2 + ["rejected"] * 2 + ["in_flight"] * 2
    tally = records.tally()
    assert tally.rows(OUTCOMES["pending"]) == 4
    assert tally.rows(OUTCOMES["unknown"]) == 0
    assert tally.rows(OUTCOMES["not_sent"]) == 2
    assert [row[2] for row in records.results()] == ["sent"] * 2 + ["rejected"] * 2 + ["sent"] * 2
    assert records.batches_to_check() == [(1, "id-0"), (3, "id-2")]
    # Another process sees the same, reading the journal alone.
    assert RunRecords(Journal(path), records.run).tally().rows(OUTCOMES["pending"]) == 4
    assert dict(query(path, f"SELECT {STATE}, COUNT(*) FROM {MESSAGES} GROUP BY 1")) == {
        "sent": 4,
        "rejected": 2,
    }


def test_a_report_sets_the_messages_of_its_batch_and_the_run_writes_down_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    records = _answered(path)
    records.apply_report(1, [NUMBERS[0]], [NUMBERS[1]], [])
    assert _raw_states(path)[:2] == ["delivered", "failed"]
    assert _raw_states(path)[4:] == ["in_flight"] * 2  # its report not read yet
    records.settle_answered()
    assert _raw_states(path) == ["delivered", "failed"] + ["rejected"] * 2 + ["sent"] * 2
    assert records.tally().rows(OUTCOMES["pending"]) == 2


def test_a_journal_left_with_answered_batches_in_flight_is_written_down_by_the_next_reader(
    tmp_path: Path,
) -> None:
    """A crash between a batch's answer and its report: `check` and a resume, in another
    process, find the batch taken and its messages sent, never unknown."""
    path = tmp_path / "j.sqlite"
    run = _answered(path).run  # this process "dies": nothing written down
    later = RunRecords(Journal(path), run)
    later.settle_all_answered()
    assert _raw_states(path) == ["sent"] * 2 + ["rejected"] * 2 + ["sent"] * 2
    assert RunRecords(Journal(path), run).settle_interrupted(resend_unknown=True) == 0
    assert _raw_states(path) == ["sent"] * 2 + ["rejected"] * 2 + ["sent"] * 2


def test_a_resume_finds_answered_batches_sent_and_only_the_batch_out_unknown(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    records = _answered(path)
    # A fourth batch left and no answer came: the process died there.
    extra = records.db.execute("SELECT id FROM messages WHERE state = 'rejected'").fetchall()
    out = records.open_batch(
        Draft([i for (i,) in extra], NUMBERS[2:4], ["text 2", "text 3"], [1, 1])
    )
    assert out == 4
    resumed = RunRecords(Journal(path), records.run)
    assert resumed.settle_interrupted(resend_unknown=True) == 2
    assert _raw_states(path) == ["sent"] * 2 + ["planned"] * 2 + ["sent"] * 2


def test_a_run_that_reads_no_reports_leaves_its_messages_written_down_as_sent(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """`report: {check: false}`: nothing sets the messages after their batches' answers but
    the run itself, before it ends."""
    pipeline = make_pipeline(tmp_path, 12, "batch_size: 5")
    journal = tmp_path / "j.sqlite"
    result = run_cli(
        ["run", str(pipeline), "--journal", str(journal)], sandbox_env(sandbox, tmp_path)
    )
    assert result.returncode == 0, result.output
    assert _raw_states(journal) == ["sent"] * 12
    assert len(sandbox.messages()) == 12
