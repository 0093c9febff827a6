"""`purge --older-than`: old runs keep their counts and lose their numbers and texts, in the
journals and the sent ledger, down to the bytes of the files. Real CLI runs; MASGSM_NOW moves
the purge's clock months ahead instead of waiting for them."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import assert_no_traceback, run_cli, summary_of
from helpers.journal import query
from helpers.pipelines import FAST_REPORT, write

from masgsm_notify.pipeline import purge as purging
from masgsm_notify.pipeline.journal import Journal

NUMBERS = ["5321115010", "5321115011", "5321115099"]  # 99: the sandbox fails it
LATER = "2099-01-01T10:00:00+03:00"  # far past any retention period of a run made today


def pipeline(folder: Path, name: str = "notice") -> Path:
    rows = "".join(f"Kişi {i},0{n}\n" for i, n in enumerate(NUMBERS)) + "Sabit,0212 555 50 12\n"
    write(folder / "people.csv", "name,phone\n" + rows)
    return write(
        folder / f"{name}.yaml",
        f"""
        name: {name}
        recipients: {{csv: people.csv}}
        message: {{inline: "Sayın {{{{ name }}}}, {name} hazır.", title: MASGSMTEST}}
        send: {{on_invalid: skip}}
        """
        + FAST_REPORT,
    )


def cli(args: list[str], env: dict[str, str], now: str | None = None):
    result = run_cli(args, {**env, "MASGSM_NOW": now} if now else env)
    assert_no_traceback(result)
    return result


def stored_bytes(path: Path) -> bytes:
    """The file and its write-ahead log, as they are on disk."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_purge_removes_numbers_and_texts_and_keeps_the_counts(sandbox, cli_env, tmp_path):
    first = cli(["run", str(pipeline(tmp_path)), "--run-key", "march", "--json"], cli_env)
    assert first.returncode == 3, first.output  # one failed delivery
    before = summary_of(first)
    journal = Path(before["journal"])
    ledger = Path(cli_env["MASGSM_STATE_DIR"]) / "ledger.sqlite"
    assert NUMBERS[0].encode() in stored_bytes(journal)
    assert "hazır".encode() in stored_bytes(journal)
    assert NUMBERS[0].encode() in stored_bytes(ledger)

    recent = cli(["purge", "--older-than", "90d"], cli_env)
    would = cli(["purge", "--older-than", "90d", "-n", "--json"], cli_env, now=LATER)
    assert recent.returncode == 0, recent.output
    assert "Purged 0 run(s)" in recent.stdout
    assert summary_of(would)["runs"] == 1 and summary_of(would)["messages"] == 3
    assert NUMBERS[0].encode() in stored_bytes(journal)  # neither of those changed anything

    purged = cli(["purge", "--older-than", "90d", "--json"], cli_env, now=LATER)

    assert purged.returncode == 0, purged.output
    report = summary_of(purged)
    assert (report["runs"], report["messages"], report["ledger_entries"]) == (1, 3, 3)
    assert query(journal, "SELECT DISTINCT number, text FROM messages") == [("", "")]
    assert query(journal, "SELECT value FROM skipped") == [("",)]
    for path in (journal, ledger):
        on_disk = stored_bytes(path)
        for number in [*NUMBERS, "0212 555 50 12"]:
            assert number.encode() not in on_disk, (path, number)
        assert "hazır".encode() not in on_disk and b"Kisi" not in on_disk
    assert query(ledger, "SELECT COUNT(*) FROM sent") == [(0,)]
    checked = cli(["check", "march", "--json"], cli_env)
    after = summary_of(checked)
    for key in ("rows", "skipped", "messages", "credits", "outcomes", "credits_sent", "batches"):
        assert after[key] == before[key], key
    again = cli(["run", str(pipeline(tmp_path)), "--run-key", "march"], cli_env)
    assert again.returncode == 2, again.output
    assert "was purged on" in again.stderr and "cannot be resumed" in again.stderr
    human = cli(["purge", "--older-than", "90d"], cli_env, now=LATER)
    assert "Purged 0 run(s)" in human.stdout  # a purged run is not purged twice


def test_purge_of_one_journal_leaves_the_others(sandbox, cli_env, tmp_path):
    one = cli(["run", str(pipeline(tmp_path, "invoice")), "--json"], cli_env)
    two = cli(["run", str(pipeline(tmp_path, "shipping")), "--json"], cli_env)
    kept, purged = Path(summary_of(one)["journal"]), Path(summary_of(two)["journal"])

    result = cli(["purge", "--older-than", "30d", "--journal", str(purged)], cli_env, now=LATER)

    assert result.returncode == 0, result.output
    assert "Purged 1 run(s)" in result.stdout
    assert query(purged, "SELECT DISTINCT number FROM messages") == [("",)]
    assert {n for (n,) in query(kept, "SELECT number FROM messages")} == set(NUMBERS)


@pytest.mark.parametrize("value", ["ninety days", "-5d", "90x"])
def test_a_bad_duration_is_refused(cli_env, value):
    result = cli(["purge", "--older-than", value], cli_env)

    assert result.returncode == 2, result.output
    assert "--older-than" in result.stderr


def test_a_journal_in_use_is_left_for_next_time(sandbox, cli_env, tmp_path, monkeypatch):
    done = cli(["run", str(pipeline(tmp_path)), "--json"], cli_env)
    journal = Path(summary_of(done)["journal"])
    monkeypatch.setattr(purging, "PATIENCE", 0.3)
    with Journal(journal) as holder:
        holder.lock()  # a run sending from it

        report = purging.purge(0.0, journal)

    assert report.busy and "is in use by pid" in (report.journals[0].busy or "")
    assert {n for (n,) in query(journal, "SELECT number FROM messages")} == set(NUMBERS)
    assert purging.purge(0.0, journal).journals[0].runs == 1  # once it is free
