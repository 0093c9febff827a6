"""`masgsm-notify validate`: the checks of a dry run that need no network, with no connection
opened and nothing written to the state directory; exit 0 or 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import assert_no_traceback, offline, run_cli
from helpers.http import ScriptedServer
from helpers.pipelines import write

GOOD = """
name: reminders
service: {title: ACME, lang: tr}
vars: {shop: ACME}
recipients:
  csv: people.csv
  when: "{{ gun|int > 0 }}"
message:
  inline: "Sayın {{ name|tr_title }}, {{ gun }} gün geçti. {{ vars.shop }}"
send: {max_segments: 2}
report: {fail_if: "failed_ratio > 0.1", export: "results/{{ now.strftime('%Y') }}.csv"}
notify: ["mailto://ops@example.com"]
"""
PEOPLE = "name,phone,gun\nayşe yılmaz,0532 111 22 01,3\nCAN,0532 111 22 02,0\nİpek,05321112203,9\n"


@pytest.fixture
def watched(scripted_server: ScriptedServer, cli_env: dict[str, str], tmp_path: Path):
    """An environment whose base URL records every request, with every proxy a closed port:
    any connection validate tried would show up in one or the other."""
    env = offline({**cli_env, "MASGSM_BASE_URL": scripted_server.base_url})
    yield env
    assert scripted_server.requests == []
    state = Path(env["MASGSM_STATE_DIR"])
    assert not state.exists() or not any(state.rglob("*")), list(state.rglob("*"))
    assert not list(tmp_path.rglob("*.sqlite*"))  # no journal, no ledger, anywhere


def test_a_valid_pipeline_exits_0_without_a_connection_or_state(watched, tmp_path) -> None:
    write(tmp_path / "people.csv", PEOPLE)
    write(tmp_path / "p.yaml", GOOD)

    result = run_cli(["validate", "p.yaml"], watched, cwd=tmp_path)

    assert result.returncode == 0, result.output
    assert_no_traceback(result)
    out = result.stdout
    assert "Checked: reminders (run key reminders-" in out
    assert "3 row(s) read, 1 filtered out by when:, 0 skipped as invalid" in out
    assert "2 message(s) (2 turkish), by segments 2 of 1; 2 credit(s) in all" in out
    assert "Sayın Ayşe Yılmaz, 3 gün geçti. ACME" in out
    assert "balance" not in out and "registered titles" not in out
    assert out.rstrip().endswith(
        "p.yaml is valid: 2 message(s), 2 credit(s); nothing was sent, and no connection was made."
    )
    assert not (tmp_path / "results").exists()


def test_validate_json_and_quiet(watched, tmp_path) -> None:
    write(tmp_path / "people.csv", PEOPLE)
    write(tmp_path / "p.yaml", GOOD)

    as_json = run_cli(["validate", "p.yaml", "--json"], watched, cwd=tmp_path)
    quiet = run_cli(["validate", "p.yaml", "-q"], watched, cwd=tmp_path)

    assert as_json.returncode == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["valid"] is True and document["pipeline"] == "p.yaml"
    assert (document["rows"], document["filtered"], document["messages"]) == (3, 1, 2)
    assert document["credits_to_send"] == 2 and document["skipped_rows"] == []
    assert quiet.returncode == 0
    assert quiet.stdout.splitlines() == [
        "p.yaml is valid: 2 message(s), 2 credit(s); nothing was sent, and no connection was made."
    ]
    assert quiet.stderr == ""


BAD = {
    "yaml": ("name: x\nrecipients: [a\n", r"p.yaml:3:1: invalid YAML"),
    "when-without-braces": (
        GOOD.replace('"{{ gun|int > 0 }}"', "gun > 0"),
        "recipients: when: 'gun > 0' has no {{ }}",
    ),
    "when-not-a-test": (
        GOOD.replace('"{{ gun|int > 0 }}"', '"{{ gun }} > 0"'),
        "people.csv:2: when: rendered '3 > 0', which is not true/false, yes/no or 1/0",
    ),
    "template": (
        GOOD.replace("{{ vars.shop }}", "{{ vars.shopp }}"),
        "The templates failed for 2 row(s); nothing was sent.",
    ),
    "number": (GOOD.replace("people.csv", "landline.csv"), "2 invalid recipient(s)"),
    "segments": (
        GOOD.replace("max_segments: 2", "max_segments: 1").replace(
            "gün geçti.", "gün geçti. " * 20
        ),
        "people.csv:2: '5321112201': the text needs 2 segments, more than send.max_segments (1)",
    ),
    "fail-if": (GOOD.replace("failed_ratio > 0.1", "faild > 0"), "report.fail_if failed"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_an_invalid_pipeline_exits_2_naming_the_problem(watched, tmp_path, name: str) -> None:
    pipeline, expected = BAD[name]
    write(tmp_path / "people.csv", PEOPLE)
    write(tmp_path / "landline.csv", "name,phone,gun\nA,0212 555 11 22,1\nB,0850 555 11 22,1\n")
    write(tmp_path / "p.yaml", pipeline)

    result = run_cli(["validate", "p.yaml"], watched, cwd=tmp_path)
    as_json = run_cli(["validate", "p.yaml", "--json"], watched, cwd=tmp_path)

    assert result.returncode == 2, result.output
    assert_no_traceback(result)
    assert expected in result.stderr, result.stderr
    assert "is valid" not in result.output
    document = json.loads(as_json.stdout)
    assert document["valid"] is False and document["exit_code"] == 2
    assert expected in document["error"]


def test_skipped_rows_are_listed_and_the_pipeline_is_valid(watched, tmp_path) -> None:
    write(tmp_path / "people.csv", PEOPLE + "Hat,0212 555 11 22,4\n")
    write(tmp_path / "p.yaml", GOOD.replace("max_segments: 2", "max_segments: 2, on_invalid: skip"))

    result = run_cli(["validate", "p.yaml"], watched, cwd=tmp_path)

    assert result.returncode == 0, result.output
    assert "1 skipped as invalid" in result.stdout
    assert "  skipped: people.csv:5: '0212 555 11 22': a landline" in result.stdout
