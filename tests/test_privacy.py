"""KVKK: with `privacy: mask` or `--mask`, no whole number reaches output, logs, exports or
notices; the journal keeps them. Real CLI runs against the sandbox, every output searched for
every number in every form it could be written in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers.cli import assert_no_traceback, run_cli, summary_of
from helpers.journal import query
from helpers.pipelines import write

from masgsm_notify.privacy import mask_numbers_in, shown_number

NUMBERS = ["5321114010", "5321114011", "5321114099"]  # the sandbox fails numbers ending in 99
INVALID = "0212 555 40 12"


def forms(number: str) -> list[str]:
    """Every way a number could be written out."""
    n = number
    return [n, "0" + n, "90" + n, "+90" + n, f"0{n[:3]} {n[3:6]} {n[6:8]} {n[8:]}"]


def whole_numbers_in(text: str) -> list[str]:
    found = [form for n in NUMBERS for form in forms(n) if form in text]
    return found + (["0212 555 40 12"] if re.search(r"0212 ?555 ?40 ?12", text) else [])


def pipeline(folder: Path, privacy: str = "privacy: mask\n", notify_url: str = "") -> Path:
    rows = "".join(f"Kişi {i},0{n}\n" for i, n in enumerate(NUMBERS)) + f"Sabit,{INVALID}\n"
    write(folder / "people.csv", "name,phone\n" + rows)
    return write(
        folder / "notice.yaml",
        "name: notice\n"
        "recipients: {csv: people.csv}\n"
        'message: {inline: "Sayın {{ name }}, siparişiniz yolda.", title: MASGSMTEST}\n'
        "send: {on_invalid: skip}\n"
        'report: {wait: 5s, poll_every: 100ms, fail_if: "failed > 5", export: results.csv}\n'
        + privacy
        + (f'notify: ["{notify_url}"]\n' if notify_url else ""),
    )


def test_privacy_mask_masks_every_output_but_the_journal(
    sandbox, cli_env, tmp_path, scripted_server
):
    path = pipeline(tmp_path, notify_url=f"json://127.0.0.1:{scripted_server.port}/hook")
    log = tmp_path / "run.log"
    args = ["--log-file", str(log), "-vv", "run", str(path)]

    plan = run_cli([*args, "--dry-run"], cli_env)
    human = run_cli(args, cli_env)
    as_json = run_cli([*args, "--json", "--run-key", "again", "--resend-duplicates"], cli_env)

    for result in (plan, human, as_json):
        assert_no_traceback(result)
        assert result.returncode == 0, result.output
        assert whole_numbers_in(result.output) == [], result.output
    assert "0532 *** ** 10 (people.csv:2" in plan.stdout  # the first texts
    assert "failed: 0532 *** ** 99" in human.stdout
    assert "skipped: " in human.stdout and "'021* *** ** 12'" in human.stdout
    summary = summary_of(as_json)
    assert summary["failed_numbers"][0]["number"] == "0532 *** ** 99"
    assert summary["skipped_rows"][0]["value"] == "021* *** ** 12"
    assert [p["number"] for p in summary["plan"]["preview"]][:1] == ["0532 *** ** 10"]
    logged = log.read_text(encoding="utf-8")
    assert "numbers=0532 *** ** 10" in logged  # the request body, at debug level
    assert whole_numbers_in(logged) == []
    exported = (tmp_path / "results.csv").read_text(encoding="utf-8-sig")
    assert "0532 *** ** 99" in exported and whole_numbers_in(exported) == []
    assert len(scripted_server.requests) == 2  # the notify summary, once a real run
    for request in scripted_server.requests:
        assert "1 failed" in request.body.decode()
        assert whole_numbers_in(request.body.decode()) == []
    journal = Path(summary["journal"])
    kept = {n for (n,) in query(journal, "SELECT number FROM messages")}
    assert kept == set(NUMBERS)
    assert {v for (v,) in query(journal, "SELECT value FROM skipped")} == {INVALID}


def test_mask_option_masks_a_pipeline_without_the_key_and_check_masks_too(
    sandbox, cli_env, tmp_path
):
    path = pipeline(tmp_path, privacy="")
    whole = run_cli(["run", str(path), "--run-key", "k1"], cli_env)
    assert "failed: 5321114099" in whole.stdout  # without the key or the option, whole

    again = ["--run-key", "k2", "--resend-duplicates"]
    masked = run_cli(["run", str(path), *again, "--mask"], cli_env)
    checked = run_cli(["check", "k1", "--mask", "--json"], cli_env)
    checked_whole = run_cli(["check", "k1", "--json"], cli_env)

    assert masked.returncode == 0, masked.output
    assert whole_numbers_in(masked.output) == []
    assert "failed: 0532 *** ** 99" in masked.stdout
    assert checked.returncode == 0, checked.output
    assert whole_numbers_in(checked.output) == []
    assert summary_of(checked)["failed_numbers"] == [
        {"row": "people.csv:4", "number": "0532 *** ** 99"}
    ]
    assert summary_of(checked_whole)["failed_numbers"][0]["number"] == "5321114099"


def test_an_invalid_number_error_is_masked(sandbox, cli_env, tmp_path):
    path = pipeline(tmp_path)
    path.write_text(path.read_text().replace("send: {on_invalid: skip}", "send: {}"))

    result = run_cli(["run", str(path), "--json"], cli_env)

    assert result.returncode == 2, result.output
    assert "'021* *** ** 12': a landline or service number" in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 2
    assert whole_numbers_in(result.output) == []


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("5321112233", "0532 *** ** 33"),
        ("+90 532 111 22 33", "0532 *** ** 33"),
        ("0212 555 12 34", "021* *** ** 34"),
        ("12", "**"),
        ("", ""),
    ],
)
def test_shown_number(given, shown):
    assert shown_number(given, True) == shown
    assert shown_number(given, False) == given


def test_numbers_in_free_text_are_masked_in_every_form():
    text = (
        "numbers=5321112233%2C05321112234 +905321112235 905321112236 "
        "0532 111 22 37 id 15321112238 and 532111223"
    )

    masked = mask_numbers_in(text)

    assert masked == (
        "numbers=0532 *** ** 33%2C0532 *** ** 34 0532 *** ** 35 0532 *** ** 36 "
        "0532 *** ** 37 id 15321112238 and 532111223"
    )


def test_the_one_off_commands_mask_numbers_when_asked(sandbox, cli_env):
    to = ["--to", "0532 111 40 10,+905321114011"]

    sent = run_cli(["-vv", "send", *to, "-m", "Toplantı 15:00'te", "--mask", "--json"], cli_env)
    report = run_cli(["report", json.loads(sent.stdout)["message_id"], "--mask"], cli_env)

    assert sent.returncode == 0, sent.output
    assert json.loads(sent.stdout)["numbers"] == ["0532 *** ** 10", "0532 *** ** 11"]
    assert report.returncode == 0, report.output
    assert "0532 *** ** 10" in report.stdout
    for result in (sent, report):
        assert whole_numbers_in(result.output) == [], result.output
    assert sorted(m["number"] for m in sandbox.messages()) == NUMBERS[:2]  # sent whole
