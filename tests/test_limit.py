"""`run --limit N`: a test send of the first N texts; the rest are held, not failed, and the full
run of the same run key later sends only those."""

from __future__ import annotations

from helpers.cli import assert_no_traceback, run_cli, summary_of
from helpers.pipelines import FAST_REPORT, write
from helpers.sandbox import numbers_sent

NUMBERS = [f"53211122{i:02d}" for i in range(6)]


def _pipeline(folder):
    rows = [*(f"K{i},0{n}" for i, n in enumerate(NUMBERS)), "K0,05321112200"]  # one repeat
    write(folder / "people.csv", "name,phone\n" + "\n".join(rows) + "\n")
    return write(
        folder / "p.yaml",
        'name: limited\nrecipients: {csv: people.csv}\nmessage: {inline: "Merhaba {{ name }}"}\n'
        + FAST_REPORT,
    )


def test_limit_sends_the_first_rows_holds_the_rest_and_the_full_run_sends_only_those(
    sandbox, cli_env, tmp_path
) -> None:
    _pipeline(tmp_path)
    run = ["run", "p.yaml", "--run-key", "k", "--json"]

    first = run_cli([*run, "--limit", "2"], cli_env, cwd=tmp_path)

    assert first.returncode == 0, first.output  # held is not a failure
    assert_no_traceback(first)
    assert [m["number"] for m in sandbox.messages()] == NUMBERS[:2]  # in source order
    limited = summary_of(first)
    assert limited["held"] == 4  # rows: four numbers, each once
    assert limited["outcomes"] == {
        "delivered": 3,  # the first number's two rows, merged, and the second
        "failed": 0,
        "pending": 0,
        "unknown": 0,
        "not_sent": 0,
    }
    assert limited["plan"]["to_send"] == 2 and limited["plan"]["held"] == 4
    assert limited["failing"] is False

    checked = run_cli(["check", "k", "--json"], cli_env, cwd=tmp_path)
    assert checked.returncode == 0, checked.output
    assert summary_of(checked)["held"] == 4  # still held: that run was limited

    full = run_cli(run, cli_env, cwd=tmp_path)

    assert full.returncode == 0, full.output
    assert numbers_sent(sandbox) == {number: 1 for number in NUMBERS}
    assert [m["number"] for m in sandbox.messages()][2:] == NUMBERS[2:]
    done = summary_of(full)
    assert done["held"] == 0 and done["outcomes"]["delivered"] == 7
    assert done["plan"]["to_send"] == 4


def test_limit_in_text_and_again_limited(sandbox, cli_env, tmp_path) -> None:
    """A person reads what is held and how to send it; a second limited run sends the next."""
    _pipeline(tmp_path)

    first = run_cli(["run", "p.yaml", "--limit", "1"], cli_env, cwd=tmp_path)
    third = run_cli(["run", "p.yaml", "--limit", "3"], cli_env, cwd=tmp_path)

    assert first.returncode == 0, first.output
    assert "to send now: 1 message(s), 1 credit(s); 5 recipient(s) held by --limit" in first.stdout
    assert "delivered 2, failed 0, pending 0, unknown 0, not sent 0, skipped 0, held 5" in (
        first.stdout
    )
    assert "5 recipient(s) held by --limit; run again without it (the same run key)" in (
        first.stdout
    )
    assert "to send now: 3 message(s), 3 credit(s); 2 recipient(s) held by --limit" in (
        third.stdout
    )
    assert [m["number"] for m in sandbox.messages()] == NUMBERS[:4]


def test_limit_must_be_positive(cli_env, tmp_path) -> None:
    _pipeline(tmp_path)
    result = run_cli(["run", "p.yaml", "--limit", "0"], cli_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "--limit" in result.stderr and "Traceback" not in result.stderr
