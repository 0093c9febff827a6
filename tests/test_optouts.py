"""The opt-out list through its commands (add, import, remove, list), and a pipeline obeying it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from helpers.cli import assert_no_traceback, run_cli, summary_of
from helpers.pipelines import FAST_REPORT, write
from helpers.sandbox import texts_by_number


def cli(args: list[str], env: dict[str, str], cwd: Path | None = None):
    result = run_cli(["optouts", *args], env, cwd=cwd)
    assert_no_traceback(result)
    return result


def listed(env: dict[str, str]) -> list[dict]:
    result = cli(["list", "--json"], env)
    assert result.returncode == 0, result.output
    return json.loads(result.stdout)


def test_numbers_are_added_in_any_form_once_and_listed(cli_env, tmp_path):
    added = cli(["add", "0532 111 22 33", "+90 (532) 111-22-34", "--reason", "RET SMS"], cli_env)
    again = cli(["add", "905321112233"], cli_env)

    assert added.returncode == 0, added.output
    assert "Added 2 number(s) to the opt-out list; 2 listed in all." in added.stdout
    assert "Added 0 number(s) to the opt-out list (1 already on it)" in again.stdout
    entries = listed(cli_env)
    assert [e["number"] for e in entries] == ["5321112233", "5321112234"]
    assert {e["reason"] for e in entries} == {"RET SMS"}  # the first refusal's reason stays
    assert all(e["source"] == "add" for e in entries)
    human = cli(["list"], cli_env).stdout
    assert "5321112233" in human and "RET SMS" in human
    store = Path(cli_env["MASGSM_STATE_DIR"]) / "optouts.sqlite"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def test_an_invalid_number_adds_nothing(cli_env):
    result = cli(["add", "05321112233", "0212 555 12 34"], cli_env)

    assert result.returncode == 2, result.output
    assert "'0212 555 12 34': a landline or service number" in result.stderr
    assert "nothing was changed" in result.stderr
    assert listed(cli_env) == []


def test_the_list_shows_numbers_masked_when_asked(cli_env):
    cli(["add", "05321112233"], cli_env)

    masked = cli(["list", "--mask"], cli_env)
    as_json = json.loads(cli(["list", "--mask", "--json"], cli_env).stdout)

    assert "0532 *** ** 33" in masked.stdout and "5321112233" not in masked.stdout
    assert as_json[0]["number"] == "0532 *** ** 33"


def test_remove_takes_numbers_off_and_names_those_not_listed(cli_env):
    cli(["add", "05321112233", "05321112234"], cli_env)

    result = cli(["remove", "0532 111 22 33", "05321112299"], cli_env)

    assert result.returncode == 0, result.output
    assert "Removed 1 number(s) from the opt-out list. Not on it: 5321112299." in result.stdout
    assert [e["number"] for e in listed(cli_env)] == ["5321112234"]


def test_import_reads_one_number_a_line(cli_env, tmp_path):
    replies = write(
        tmp_path / "ret.txt",
        """
        # RET replies, copied from the panel
        0532 111 22 40

        +905321112241,
        5321112240
        """,
    )

    result = cli(["import", str(replies)], cli_env)

    assert result.returncode == 0, result.output
    assert "Imported 2 number(s) from" in result.stdout
    entries = listed(cli_env)
    assert [e["number"] for e in entries] == ["5321112240", "5321112241"]
    assert entries[0]["reason"] == "import ret.txt" and entries[0]["source"] == "import"


def test_import_reads_the_number_column_of_a_panel_export(cli_env, tmp_path):
    export = write(
        tmp_path / "panel.csv",
        """
        Tarih;GSM;Mesaj
        01.03.2026 10:00;0532 111 22 50;RET
        01.03.2026 10:05;05321112251;ret lütfen
        """,
        encoding="cp1254",
    )

    result = cli(["import", str(export), "--reason", "panel"], cli_env)

    assert result.returncode == 0, result.output
    assert "column 'GSM'" in result.stdout
    assert [(e["number"], e["reason"]) for e in listed(cli_env)] == [
        ("5321112250", "panel"),
        ("5321112251", "panel"),
    ]


def test_import_of_an_iys_export_takes_only_sms_refusals(cli_env, tmp_path):
    iys = write(
        tmp_path / "iys.csv",
        """
        recipient,type,source,status,consentDate,recipientType
        +905321112260,MESAJ,HS_WEB,RET,2026-01-01 10:00:00,BIREYSEL
        +905321112261,MESAJ,HS_WEB,ONAY,2026-01-01 10:00:00,BIREYSEL
        +905321112262,ARAMA,HS_WEB,RET,2026-01-01 10:00:00,BIREYSEL
        """,
    )

    result = cli(["import", str(iys), "--json"], cli_env)

    assert result.returncode == 0, result.output
    assert json.loads(result.stdout)["not_refusals"] == 2
    assert [e["number"] for e in listed(cli_env)] == ["5321112260"]


def test_import_with_invalid_entries_imports_nothing_unless_told(cli_env, tmp_path):
    replies = write(tmp_path / "ret.txt", "05321112270\nabc\n0212 555 12 34\n")

    refused = cli(["import", str(replies)], cli_env)

    assert refused.returncode == 2, refused.output
    assert "2 entr(ies) are not Turkish mobile numbers; nothing was imported" in refused.stderr
    assert "ret.txt:2: 'abc'" in refused.stderr and "ret.txt:3: '0212 555 12 34'" in refused.stderr
    assert listed(cli_env) == []
    skipping = cli(["import", str(replies), "--skip-invalid"], cli_env)
    assert skipping.returncode == 0, skipping.output
    assert "2 invalid entr(ies) skipped" in skipping.stdout
    assert [e["number"] for e in listed(cli_env)] == ["5321112270"]


def test_imported_numbers_are_not_sent_to(sandbox, cli_env, tmp_path):
    people = [f"053211122{i:02d}" for i in range(80, 86)]
    write(tmp_path / "people.csv", "phone\n" + "\n".join(people) + "\n")
    write(tmp_path / "ret.txt", "0532 111 22 81\n0532 111 22 84\n")
    pipeline = write(
        tmp_path / "notice.yaml",
        """
        name: notice
        recipients: {csv: people.csv}
        message: {inline: "Kargonuz yolda", title: MASGSMTEST}
        compliance: {honour_optouts: true}
        """
        + FAST_REPORT,
    )
    cli(["import", str(tmp_path / "ret.txt")], cli_env)

    result = run_cli(["run", str(pipeline), "--json"], cli_env)

    assert result.returncode == 0, result.output
    assert sorted(texts_by_number(sandbox)) == [
        "5321112280",
        "5321112282",
        "5321112283",
        "5321112285",
    ]
    assert summary_of(result)["opted_out"] == 2
