"""`masgsm-notify init`: a starter folder that validates and runs at once with --sandbox, and
never overwrites anything."""

from __future__ import annotations

import csv
from pathlib import Path

from helpers.cli import assert_no_traceback, offline, run_cli, summary_of

STARTER_FILES = ["data/randevular.csv", "pipeline.yaml", "templates/randevu.txt.j2"]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_init_writes_a_starter_that_runs_at_once_with_the_sandbox(cli_env, tmp_path) -> None:
    env = offline(cli_env)  # the sandbox is on the loopback; nothing else is reachable

    made = run_cli(["init"], env, cwd=tmp_path)

    assert made.returncode == 0, made.output
    folder = tmp_path / "masgsm-starter"
    assert _files(folder) == STARTER_FILES
    next_commands = [
        line.split("#")[0].strip() for line in made.stdout.split("Next:\n")[1].splitlines()
    ]
    assert next_commands == [
        "masgsm-notify validate masgsm-starter/pipeline.yaml",
        "masgsm-notify run masgsm-starter/pipeline.yaml --sandbox",
        "masgsm-notify run masgsm-starter/pipeline.yaml --dry-run",
    ]
    rows = list(csv.DictReader((folder / "data/randevular.csv").open(encoding="utf-8")))
    assert any(set(row["ad"]) & set("çğıİöşüÇĞÖŞÜ") for row in rows)  # Turkish data
    assert "#" in (folder / "pipeline.yaml").read_text(encoding="utf-8")  # commented

    # The first two of them, as printed, from where init ran.
    checked = run_cli(next_commands[0].split()[1:], env, cwd=tmp_path)
    sent = run_cli([*next_commands[1].split()[1:], "--json"], env, cwd=tmp_path)

    assert checked.returncode == 0, checked.output
    assert "is valid: 4 message(s)" in checked.stdout
    assert sent.returncode == 0, sent.output
    assert_no_traceback(sent)
    summary = summary_of(sent)
    confirmed = sum(row["durum"] == "onaylı" for row in rows)
    assert summary["outcomes"]["delivered"] == confirmed == 4
    assert summary["filtered"] == len(rows) - confirmed
    assert summary["outcomes"]["failed"] == 0 and summary["exit_code"] == 0
    assert "Sayın Ayşe Yılmaz, 3 Aralık 2026 Perşembe saat 09:30" in sent.stderr


def test_init_into_a_named_folder_and_an_empty_one(cli_env, tmp_path) -> None:
    (tmp_path / "empty").mkdir()

    named = run_cli(["init", "reminders here"], cli_env, cwd=tmp_path)
    empty = run_cli(["init", str(tmp_path / "empty")], cli_env)

    assert named.returncode == 0, named.output
    assert "masgsm-notify validate 'reminders here/pipeline.yaml'" in named.stdout  # quoted
    assert _files(tmp_path / "reminders here") == STARTER_FILES
    assert empty.returncode == 0, empty.output
    assert _files(tmp_path / "empty") == STARTER_FILES


def test_init_refuses_a_folder_that_holds_anything(cli_env, tmp_path) -> None:
    folder = tmp_path / "masgsm-starter"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text("name: mine\n")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")

    again = run_cli(["init"], cli_env, cwd=tmp_path)
    over_a_file = run_cli(["init", "notes.txt"], cli_env, cwd=tmp_path)

    for result in (again, over_a_file):
        assert result.returncode == 2, result.output
        assert_no_traceback(result)
    assert "masgsm-starter already exists and is not an empty folder; nothing was written" in (
        again.stderr
    )
    assert "'notes.txt' is a file" in over_a_file.stderr
    assert _files(folder) == ["pipeline.yaml"]
    assert (folder / "pipeline.yaml").read_text() == "name: mine\n"
    assert a_file.read_text() == "mine\n"
