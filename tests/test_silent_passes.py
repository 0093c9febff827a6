"""Nothing passes in silence: a `when:` that is not a test, a dry run that would fail for real,
an empty source, template errors in many rows, and failed numbers beyond the first twenty.

Each is met the way a user meets it: `masgsm-notify` as a subprocess against the sandbox.
"""

from __future__ import annotations

import pytest
from helpers.cli import assert_no_traceback, env_for, run_cli, summary_of
from helpers.journal import query
from helpers.pipelines import FAST_REPORT, write

from masgsm_notify.compose import Composer
from masgsm_notify.errors import RenderError
from masgsm_notify.render import cheap_failures, compile_text, is_true, make_environment, render
from masgsm_notify.sandbox import SandboxConfig, SandboxServer

# -- when: says true or false ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("True", True),
        ("true", True),
        (" YES\n", True),
        ("1", True),
        ("False", False),
        ("no", False),
        ("0", False),
        ("", False),
        ("  ", False),
    ],
)
def test_when_reads_true_and_false_words_in_any_case(text: str, expected: bool) -> None:
    assert is_true(text) is expected


@pytest.mark.parametrize("text", ["5 > 0", "evet", "none", "off", "2", "True False"])
def test_when_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        is_true(text)


def test_the_composer_names_each_bad_row_and_composes_the_rest() -> None:
    env = make_environment()
    composer = Composer(
        compile_text(env, "{{ phone }}", "number"),
        compile_text(env, "Merhaba {{ name }}", "message"),
        when=compile_text(env, "{{ gun }}", "when"),
    )
    rows = [
        ("f.csv:2", {"phone": "05321112201", "name": "A", "gun": "1"}),
        ("f.csv:3", {"phone": "05321112202", "name": "B", "gun": "3 > 0"}),
        ("f.csv:4", {"phone": "05321112203", "name": "C", "gun": "0"}),
        ("f.csv:5", {"phone": "05321112204", "gun": "yes"}),  # no name
        ("f.csv:6", {"phone": "05321112205", "name": "E", "gun": "YES"}),
    ]

    done = composer(rows)

    assert [m[0] for m in done.messages] == ["f.csv:2", "f.csv:6"]
    assert done.filtered == 1 and done.rows == 5
    assert [e.where for e in done.errors] == ["f.csv:3", "f.csv:5"]
    assert all(isinstance(e, RenderError) for e in done.errors)
    assert "when: rendered '3 > 0', which is not true/false, yes/no or 1/0" in str(done.errors[0])
    assert "3 > 0" not in done.errors[0].without_data  # the row's value, hidden where asked


def test_failures_past_those_named_skip_the_template_line_and_cost_less() -> None:
    env = make_environment()
    broken = compile_text(env, "Merhaba {{ name }}\n{{ discount }}", "t.j2")

    def failure() -> str:
        with pytest.raises(RenderError) as caught:
            render(broken, {"name": "A"}, "f.csv:2")
        return str(caught.value)

    named = failure()
    with cheap_failures(env):
        counted = failure()
    again = failure()

    assert named == again == "f.csv:2: template t.j2 line 2: 'discount' is undefined"
    assert counted == "f.csv:2: 'discount' is undefined"


@pytest.mark.parametrize(
    ("columns", "when", "expected"),
    [
        pytest.param(
            "gecikme_gun\nA,05321112201,0\nB,05321112202,3",
            "gecikme_gun|int > 0",
            [
                "p.yaml:4:9: recipients: when: 'gecikme_gun|int > 0' has no {{ }}",
                'when: "{{ gecikme_gun|int > 0 }}"',  # what to write instead
            ],
            # Plain text: the same for every row, and it let all through.
            id="without-braces",
        ),
        pytest.param(
            "gun\nA,05321112201,0\nB,05321112202,5",
            '"{{ gun }} > 0"',
            [
                "The templates failed for 2 row(s); nothing was sent.",
                "people.csv:2: when: rendered '0 > 0', which is not true/false, yes/no or 1/0",
                "people.csv:3: when: rendered '5 > 0', which is not true/false, yes/no or 1/0",
            ],
            # Renders `5 > 0` for every row: that once read as true and sent them all.
            id="half-braces",
        ),
    ],
)
def test_a_when_that_is_no_condition_is_refused_naming_where(
    columns: str, when: str, expected: list[str], sandbox, cli_env, tmp_path
) -> None:
    column, rows = columns.split("\n", 1)
    write(tmp_path / "people.csv", f"name,phone,{column}\n{rows}\n")
    write(
        tmp_path / "p.yaml",
        f"""
        name: conditions
        recipients:
          csv: people.csv
          when: {when}
        message: {{inline: "Merhaba {{{{ name }}}}"}}
        """,
    )

    result = run_cli(["run", "p.yaml"], cli_env, cwd=tmp_path)

    assert result.returncode == 2, result.output
    assert_no_traceback(result)
    for line in expected:
        assert line in result.stderr
    assert sandbox.messages() == []


def test_template_errors_name_ten_rows_and_count_the_rest(sandbox, cli_env, tmp_path) -> None:
    rows = "".join(f"K{i},053211122{i:02d},{'yes' if i % 3 else ''}\n" for i in range(40))
    write(tmp_path / "people.csv", "name,phone,vip\n" + rows)
    write(
        tmp_path / "p.yaml",
        """
        name: many-bad-rows
        recipients: {csv: people.csv}
        message:
          inline: "Merhaba {{ name }}{% if vip %} {{ discount }}{% endif %}"
        """,
    )
    journal = tmp_path / "j.sqlite"

    result = run_cli(["run", "p.yaml", "--journal", str(journal)], cli_env, cwd=tmp_path)

    assert result.returncode == 2, result.output
    assert_no_traceback(result)
    bad = [i for i in range(40) if i % 3]  # 26 rows; the CSV's line is the row's index + 2
    assert f"The templates failed for {len(bad)} row(s); nothing was sent." in result.stderr
    named = [line for line in result.stderr.splitlines() if "'discount' is undefined" in line]
    assert [line.split(":")[1] for line in named] == [str(i + 2) for i in bad[:10]]
    assert all("(inline) line 1: 'discount' is undefined" in line for line in named)
    assert result.stderr.rstrip().endswith(f"... and {len(bad) - 10} more")
    assert result.stderr.count("Error:") == 1
    assert sandbox.messages() == []
    assert query(journal, "SELECT COUNT(*) FROM messages") == [(0,)]  # no plan left to send


def test_one_template_error_is_reported_as_itself(sandbox, cli_env, tmp_path) -> None:
    write(tmp_path / "people.csv", "name,phone\nA,05321112201\n,05321112202\n")
    write(
        tmp_path / "p.yaml",
        'name: one-bad\nrecipients: {csv: people.csv}\nmessage: {inline: "{{ name|tr_upper }}'
        '{{ 1 // (name|length) }}"}\n',
    )

    result = run_cli(["run", "p.yaml"], cli_env, cwd=tmp_path)

    assert result.returncode == 2, result.output
    assert result.stderr.startswith("Error: people.csv:3: template ")
    assert "ZeroDivisionError" in result.stderr and "... and" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert sandbox.messages() == []


# -- a dry run exits as the real run would ---------------------------------------------------------


def _dry_run_pipeline(folder, title: str = "MASGSMTEST"):
    return write(
        folder / "p.yaml",
        f"""
        name: dry
        recipients:
          inline:
            - {{phone: "05321112201", name: Ada}}
            - {{phone: "05321112202", name: Can}}
        message: {{inline: "Merhaba {{{{ name }}}}", title: {title}}}
        send: {{retries: 0, give_up_after: 1s}}
        """,
    )


def test_a_dry_run_with_an_unregistered_title_exits_2(sandbox, cli_env, tmp_path) -> None:
    _dry_run_pipeline(tmp_path, title="NOPE")

    result = run_cli(["run", "p.yaml", "-n"], cli_env, cwd=tmp_path)

    assert result.returncode == 2, result.output
    assert_no_traceback(result)
    assert "PROBLEM: The title 'NOPE' is not registered" in result.stdout  # the plan still shows
    assert result.stdout.rstrip().endswith("Dry run: nothing was sent.")
    assert result.stderr.startswith("Error: The title 'NOPE' is not registered")
    assert sandbox.messages() == []

    as_json = run_cli(["run", "p.yaml", "-n", "--json"], cli_env, cwd=tmp_path)
    document = summary_of(as_json)
    assert as_json.returncode == 2
    assert document["exit_code"] == 2 and "'NOPE' is not registered" in document["error"]
    assert document["plan"]["problems"] == [document["error"]]


def test_a_dry_run_with_a_wrong_password_exits_2(sandbox, cli_env, tmp_path) -> None:
    _dry_run_pipeline(tmp_path)

    result = run_cli(
        ["run", "p.yaml", "-n"], {**cli_env, "MASGSM_PASSWORD": "Wr0ng-S3cret"}, cwd=tmp_path
    )

    assert result.returncode == 2, result.output
    assert_no_traceback(result)
    assert "Error: MASGSM rejected the user code or password (answer 401)" in result.stderr
    assert "Wr0ng-S3cret" not in result.output
    assert sandbox.messages() == []


def test_a_dry_run_with_a_short_balance_exits_1(cli_env, tmp_path) -> None:
    _dry_run_pipeline(tmp_path)
    with SandboxServer(SandboxConfig(balance=1)) as poor:
        result = run_cli(["run", "p.yaml", "-n"], env_for(poor, cli_env), cwd=tmp_path)
        assert poor.messages() == []

    assert result.returncode == 1, result.output
    assert "PROBLEM: The plan needs 2 credits but the balance is 1" in result.stdout
    assert "Error: The plan needs 2 credits but the balance is 1" in result.stderr


def test_a_dry_run_that_cannot_reach_the_api_exits_1(cli_env, tmp_path) -> None:
    _dry_run_pipeline(tmp_path)
    env = {**cli_env, "MASGSM_BASE_URL": "http://127.0.0.1:9/MasApiV2"}  # nothing listens

    result = run_cli(["run", "p.yaml", "-n"], env, cwd=tmp_path)

    assert result.returncode == 1, result.output
    assert_no_traceback(result)
    assert "MASGSM unreachable at 127.0.0.1:9 (connection refused)" in result.stderr
    assert "Nothing was sent" in result.stderr


def test_a_dry_run_that_would_send_exits_0(sandbox, cli_env, tmp_path) -> None:
    _dry_run_pipeline(tmp_path)

    result = run_cli(["run", "p.yaml", "-n"], cli_env, cwd=tmp_path)

    assert result.returncode == 0, result.output
    assert "PROBLEM" not in result.output and "Error" not in result.output
    assert sandbox.messages() == []


# -- an empty source -------------------------------------------------------------------------------


def test_a_header_only_csv_says_the_source_has_no_rows(sandbox, cli_env, tmp_path) -> None:
    write(tmp_path / "people.csv", "name,phone\n")
    write(
        tmp_path / "p.yaml",
        "name: empty\nrecipients: {csv: people.csv}\nmessage: {inline: hi}\n" + FAST_REPORT,
    )

    results = [run_cli(["run", "p.yaml", *args], cli_env, cwd=tmp_path) for args in ([], ["-n"])]

    for result in results:
        assert result.returncode == 0, result.output
        assert "The recipients source, csv (people.csv), has no rows: nothing to send." in (
            result.stdout
        )
        assert "Nothing left to send" not in result.output
    assert sandbox.messages() == []


def test_a_when_that_filters_every_row_says_so(sandbox, cli_env, tmp_path) -> None:
    write(
        tmp_path / "p.yaml",
        """
        name: all-filtered
        recipients:
          inline: [{phone: "05321112201", gun: 0}, {phone: "05321112202", gun: 0}]
          when: "{{ gun > 0 }}"
        message: {inline: hi}
        """,
    )

    result = run_cli(["run", "p.yaml"], cli_env, cwd=tmp_path)

    assert result.returncode == 0, result.output
    assert "when: filtered out every row (2): nothing to send." in result.stdout
    assert sandbox.messages() == []


# -- failed numbers: all of them, and how many -----------------------------------------------------


def test_every_failed_number_is_counted_and_listed(sandbox, cli_env, tmp_path) -> None:
    """Twenty in the text and how many more; every one of them in --json, run and check."""
    numbers = [f"05321{i:03d}099" for i in range(25)]  # the sandbox fails numbers ending in 99
    rows = "".join(f'    - {{phone: "{n}"}}\n' for n in [*numbers, "05329990001"])
    write(
        tmp_path / "p.yaml",
        "name: failing\nrecipients:\n  inline:\n" + rows + "message: {inline: hi}\n" + FAST_REPORT,
    )
    journal = str(tmp_path / "j.sqlite")

    text = run_cli(["run", "p.yaml", "--journal", journal, "--run-key", "k"], cli_env, cwd=tmp_path)
    checked = run_cli(["check", "k", "--journal", journal, "--json"], cli_env, cwd=tmp_path)

    assert text.returncode == 3, text.output
    assert text.stdout.count("  failed: ") == 20
    assert "  ... and 5 more" in text.stdout
    assert "delivered 1, failed 25," in text.stdout
    assert checked.returncode == 3, checked.output
    document = summary_of(checked)
    assert document["failed_count"] == 25
    listed = [f["number"] for f in document["failed_numbers"]]
    assert listed == [n[1:] for n in numbers]
    assert [f["row"] for f in document["failed_numbers"]] == [
        f"p.yaml:{i + 4}:7" for i in range(25)
    ]
