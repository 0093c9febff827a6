"""Commercial texts, end to end: İYS consent, the opt-out list and the opt-out text.

Every scenario runs the real CLI against a real sandbox, and the sandbox's record of what it
accepted is the truth: exactly the recipients the law allows get a text, each once, and every
commercial text ends with the opt-out instructions once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import assert_no_traceback, offline, run_cli, summary_of
from helpers.journal import message_states
from helpers.pipelines import FAST_REPORT, copy_examples, write
from helpers.plugins import with_plugin
from helpers.sandbox import texts_by_number

from masgsm_notify.text import cost

OPTOUT = "RET yazıp 4607'ye gönderin"
IYS_HEADER = "recipient,type,source,status,consentDate,recipientType\n"

# number suffix -> ((type, status, consentDate, recipientType) records, what the rules decide)
CASES = {
    "01": ([("MESAJ", "ONAY", "2024-01-10 10:00:00", "BIREYSEL")], "sent"),
    "02": (
        [
            ("MESAJ", "ONAY", "2024-01-10 10:00:00", "BIREYSEL"),
            ("MESAJ", "RET", "2024-03-01 09:00:00", "BIREYSEL"),
        ],
        "no_consent",
    ),
    # The same moment, RET on the earlier line: the refusal wins the tie.
    "03": (
        [
            ("MESAJ", "RET", "2024-02-01 12:00:00", "BIREYSEL"),
            ("MESAJ", "ONAY", "2024-02-01 12:00:00", "BIREYSEL"),
        ],
        "no_consent",
    ),
    # The same moment, RET on the later line.
    "04": (
        [
            ("MESAJ", "ONAY", "2024-02-01 12:00:00", "BIREYSEL"),
            ("MESAJ", "RET", "2024-02-01 12:00:00", "BIREYSEL"),
        ],
        "no_consent",
    ),
    "05": (
        [
            ("MESAJ", "RET", "2024-01-01 08:00:00", "BIREYSEL"),
            ("MESAJ", "ONAY", "2024-06-01 08:00:00", "BIREYSEL"),
        ],
        "sent",
    ),
    "06": ([("MESAJ", "ONAY", "2024-01-10 10:00:00", "TACIR")], "sent"),
    "07": (
        [
            ("MESAJ", "ONAY", "2023-01-10 10:00:00", "TACIR"),
            ("MESAJ", "RET", "2024-01-10 10:00:00", "TACIR"),
        ],
        "no_consent",
    ),
    "08": ([("MESAJ", "ONAY", "2024-01-10 10:00:00", "")], "sent"),  # no type: an individual
    "09": (  # consent to calls and e-mail is not consent to SMS
        [
            ("ARAMA", "ONAY", "2024-01-10 10:00:00", "BIREYSEL"),
            ("EPOSTA", "ONAY", "2024-01-10 10:00:00", ""),
        ],
        "no_consent",
    ),
    "10": ([], "no_consent"),  # no record at all
    "11": ([("MESAJ", "ONAY", "2024-01-10 10:00:00", "BIREYSEL")], "opted_out"),
    # The latest by date wins, wherever its line is.
    "12": (
        [
            ("MESAJ", "ONAY", "2024-05-01 10:00:00", "BIREYSEL"),
            ("MESAJ", "RET", "2024-01-01 10:00:00", "BIREYSEL"),
        ],
        "sent",
    ),
}


def number(suffix: str) -> str:
    return f"53211120{suffix}"


def iys_records(cases: dict) -> str:
    """The cases as an İYS export."""
    lines = [
        f"+90{number(suffix)},{kind},HS_WEB,{status},{moment},{recipient_type}"
        for suffix, (records, _) in cases.items()
        for kind, status, moment, recipient_type in records
    ]
    return IYS_HEADER + "\n".join(lines) + "\n"


def campaign(
    folder: Path, send: str = "batch_size: 5, concurrency: 2", compliance: str | None = None
) -> Path:
    """A commercial campaign over every case; row 05 already ends with the opt-out text."""
    rows = [
        f"Kişi {suffix},0{number(suffix)},"
        + (f"Kampanya {suffix}: %20 indirim. {OPTOUT}" if suffix == "05" else f"Kampanya {suffix}")
        for suffix in CASES
    ]
    write(folder / "data" / "customers.csv", "name,phone,text\n" + "\n".join(rows) + "\n")
    write(folder / "data" / "iys.csv", iys_records(CASES))
    section = compliance or (
        f'compliance: {{purpose: commercial, optout_text: "{OPTOUT}", consent: data/iys.csv}}\n'
    )
    return write(
        folder / "campaign.yaml",
        "name: campaign\n"
        "recipients: {csv: data/customers.csv}\n"
        'message: {inline: "{{ text }}", title: MASGSMTEST}\n'
        f"send: {{{send}}}\n" + section + FAST_REPORT,
    )


def cli(args: list[str], env: dict[str, str], cwd: Path | None = None):
    result = run_cli(args, env, cwd=cwd)
    assert_no_traceback(result)
    return result


def test_only_recipients_the_law_allows_get_the_text_with_the_opt_out_text_once(
    sandbox, cli_env, tmp_path
):
    pipeline = campaign(tmp_path)
    listed = cli(["optouts", "add", f"+90 {number('11')}", "--reason", "RET SMS"], cli_env)
    assert listed.returncode == 0, listed.output

    result = cli(["run", str(pipeline), "--json"], cli_env)

    assert result.returncode == 0, result.output
    expected = {number(s) for s, (_, fate) in CASES.items() if fate == "sent"}
    got = texts_by_number(sandbox)
    assert set(got) == expected
    for suffix in ("01", "05", "06", "08", "12"):
        [text] = got[number(suffix)]
        assert text.endswith(f" {OPTOUT}") and text.count(OPTOUT) == 1, text
    assert got[number("01")] == [f"Kampanya 01 {OPTOUT}"]
    summary = summary_of(result)
    fates = [fate for _, fate in CASES.values()]
    assert summary["opted_out"] == fates.count("opted_out") == 1
    assert summary["no_consent"] == fates.count("no_consent") == 6
    assert summary["outcomes"]["delivered"] == len(expected)
    assert summary["plan"]["opted_out"] == 1 and summary["plan"]["no_consent"] == 6
    assert summary["failing"] is False  # set aside on purpose is not a failure
    states = message_states(Path(summary["journal"]))
    for suffix, (_, fate) in CASES.items():
        assert states[number(suffix)] == ("delivered" if fate == "sent" else fate), suffix


def test_the_plan_and_the_summary_name_who_was_set_aside(sandbox, cli_env, tmp_path):
    pipeline = campaign(tmp_path)
    cli(["optouts", "add", number("11")], cli_env)

    plan = cli(["run", str(pipeline), "--dry-run"], cli_env)
    done = cli(["run", str(pipeline)], cli_env)

    assert plan.returncode == 0, plan.output
    assert "1 opted out, 6 without consent" in plan.stdout
    assert "to send now: 5 message(s)" in plan.stdout
    assert "6 recipient(s) without İYS consent for a commercial text" in plan.stdout
    assert done.returncode == 0, done.output
    assert "opted out 1, no consent 6" in done.stdout
    assert "1 recipient(s) on the opt-out list are not sent to" in done.stdout


@pytest.mark.parametrize(
    ("missing", "section"),
    [
        ("compliance.consent", f'compliance: {{purpose: commercial, optout_text: "{OPTOUT}"}}\n'),
        ("compliance.optout_text", "compliance: {purpose: commercial, consent: data/iys.csv}\n"),
    ],
)
def test_a_commercial_pipeline_without_consent_or_opt_out_text_sends_nothing(
    sandbox, cli_env, tmp_path, missing, section
):
    pipeline = campaign(tmp_path, compliance=section)

    result = cli(["run", str(pipeline)], cli_env)

    assert result.returncode == 2, result.output
    assert missing in result.stderr
    assert "campaign.yaml:" in result.stderr  # where the section is
    assert sandbox.messages() == []


def test_an_informational_pipeline_needs_neither_and_may_honour_opt_outs(
    sandbox, cli_env, tmp_path
):
    plain = campaign(tmp_path, compliance="compliance: {purpose: informational}\n")
    cli(["optouts", "add", number("11")], cli_env)

    first = cli(["run", str(plain), "--json"], cli_env)

    assert first.returncode == 0, first.output
    assert len(sandbox.messages()) == len(CASES)  # no consent asked, opt-outs not honoured
    assert all(OPTOUT not in m["text"] or m["number"] == number("05") for m in sandbox.messages())
    sandbox.state.reset()
    honouring = campaign(  # the same texts again: the sent ledger must not stop them here
        tmp_path / "b",
        send='dedupe: "off"',
        compliance="compliance: {purpose: informational, honour_optouts: true}\n",
    )
    second = cli(["run", str(honouring), "--json"], cli_env)
    assert second.returncode == 0, second.output
    assert number("11") not in texts_by_number(sandbox)
    assert summary_of(second)["opted_out"] == 1


def test_the_opt_out_text_is_counted_in_segments_and_cost(sandbox, cli_env, tmp_path):
    body = "A" * 150
    assert cost(body).segments == 1 and cost(f"{body} {OPTOUT}").segments == 2
    write(tmp_path / "data" / "customers.csv", f"phone,text\n0{number('01')},{body}\n")
    write(tmp_path / "data" / "iys.csv", iys_records({"01": CASES["01"]}))
    pipeline = write(
        tmp_path / "long.yaml",
        f"""
        name: long
        recipients: {{csv: data/customers.csv}}
        message: {{inline: "{{{{ text }}}}", title: MASGSMTEST}}
        compliance: {{purpose: commercial, optout_text: "{OPTOUT}", consent: data/iys.csv}}
        send: {{max_segments: 1}}
        """
        + FAST_REPORT,
    )

    refused = cli(["run", str(pipeline)], cli_env)

    assert refused.returncode == 2, refused.output
    assert "the text with compliance.optout_text needs 2 segments" in refused.stderr
    assert sandbox.messages() == []
    pipeline.write_text(pipeline.read_text().replace("max_segments: 1", "max_segments: 2"))
    sent = cli(["run", str(pipeline), "--json"], cli_env)
    assert sent.returncode == 0, sent.output
    assert summary_of(sent)["plan"]["credits_to_send"] == 2
    assert [m["segments"] for m in sandbox.messages()] == [2]
    assert sandbox.messages()[0]["text"] == f"{body} {OPTOUT}"


def test_consent_records_are_checked_and_errors_name_the_line(sandbox, cli_env, tmp_path):
    pipeline = campaign(tmp_path)
    iys = tmp_path / "data" / "iys.csv"
    iys.write_text(iys.read_text() + f"+90{number('01')},MESAJ,HS_WEB,EVET,2024-01-10 10:00:00,\n")

    bad_status = cli(["run", str(pipeline)], cli_env)

    lines = len(iys.read_text().splitlines())
    assert bad_status.returncode == 2, bad_status.output
    assert f"data/iys.csv:{lines}: status 'EVET': expected ONAY or RET" in bad_status.stderr
    iys.write_text(IYS_HEADER + f"+90{number('01')},MESAJ,HS_WEB,ONAY,10.01.2024,\n")
    bad_date = cli(["run", str(pipeline)], cli_env)
    assert bad_date.returncode == 2, bad_date.output
    assert "data/iys.csv:2: consentDate '10.01.2024': expected YYYY-MM-DD HH:MM:SS" in (
        bad_date.stderr
    )
    iys.write_text("phone,status\n05321112001,ONAY\n")
    not_iys = cli(["run", str(pipeline)], cli_env)
    assert not_iys.returncode == 2, not_iys.output
    assert "not İYS consent records: no recipient, type, consentDate column" in not_iys.stderr
    iys.unlink()
    gone = cli(["run", str(pipeline)], cli_env)
    assert gone.returncode == 2 and "compliance.consent: the İYS records file" in gone.stderr
    assert sandbox.messages() == []


def test_a_resumed_run_honours_an_opt_out_added_after_it_was_planned(sandbox, cli_env, tmp_path):
    pipeline = campaign(tmp_path, send="batch_size: 2, concurrency: 1")
    # The first batch goes; a hook then stops the run, as a crash or a closed window would.
    stopper = """
        from masgsm_notify.hookspecs import hookimpl

        seen = []

        @hookimpl
        def before_batch(run, batch):
            seen.append(batch)
            if len(seen) > 1:
                raise RuntimeError("stop here")
        """
    stopping = with_plugin(cli_env, tmp_path / "site", "stopper", stopper, "stopper")
    first = cli(["run", str(pipeline), "--run-key", "spring"], stopping)
    assert first.returncode == 1, first.output
    went = set(texts_by_number(sandbox))
    assert went == {number("01"), number("05")}
    cli(["optouts", "add", number("12")], cli_env)

    resumed = cli(["run", str(pipeline), "--run-key", "spring", "--json"], cli_env)

    assert resumed.returncode == 0, resumed.output
    assert "opted out or lost consent since it was planned" in resumed.stderr
    got = texts_by_number(sandbox)
    assert set(got) == {number(s) for s in ("01", "05", "06", "08", "11")}  # 11 is not listed
    assert all(len(texts) == 1 for texts in got.values())
    assert summary_of(resumed)["opted_out"] == 1


# -- the consent_status hook ---------------------------------------------------------------------

CONSENT_PLUGIN = '''
"""A live İYS integration, as a third party would write one."""

import os

from masgsm_notify.hookspecs import hookimpl


@hookimpl
def consent_status(numbers):
    if os.environ.get("LIVE_IYS_DOWN"):
        raise ConnectionError("İYS did not answer")
    if os.environ.get("LIVE_IYS_ODD"):
        return {numbers[0]: ("ONAY", "BIREYSEL", "2024-01-01")}
    with open(os.environ["LIVE_IYS_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{len(numbers)}\\n")
    known = {
        "5321112301": "ONAY",
        "5321112302": ("RET", None),
        "+905321112303": (None, "TACIR"),  # a trader with no record: no RET, so allowed
        "5321112304": None,
        "5321112306": ("ONAY", "BIREYSEL"),
        "5321112307": (None, "BIREYSEL"),
    }
    return {k: v for k, v in known.items() if k.removeprefix("+90") in numbers}
'''


@pytest.fixture
def live_iys(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env = with_plugin(cli_env, tmp_path / "site", "live_iys", CONSENT_PLUGIN, "live-iys", "1.0")
    return {**env, "LIVE_IYS_LOG": str(tmp_path / "asked.log")}


def plugin_campaign(folder: Path, consent: str) -> Path:
    people = [f"053211123{i:02d}" for i in range(1, 8)]
    write(folder / "people.csv", "phone\n" + "\n".join(people) + "\n")
    return write(
        folder / "live.yaml",
        f"""
        name: live
        recipients: {{csv: people.csv}}
        message: {{inline: "Yeni sezon", title: MASGSMTEST}}
        compliance: {{purpose: commercial, optout_text: "{OPTOUT}", consent: "{consent}"}}
        """
        + FAST_REPORT,
    )


def test_a_plugin_answers_consent_in_bulk(sandbox, live_iys, tmp_path):
    pipeline = plugin_campaign(tmp_path, "plugin:live-iys")

    result = cli(["run", str(pipeline), "--json"], live_iys)

    assert result.returncode == 0, result.output
    assert set(texts_by_number(sandbox)) == {"5321112301", "5321112303", "5321112306"}
    assert summary_of(result)["no_consent"] == 4
    # One question for the planning chunk, with every number at once.
    assert (tmp_path / "asked.log").read_text().split() == ["7"]
    listed = cli(["plugins"], live_iys)
    assert "live-iys (live-iys 1.0): consent_status" in listed.stdout
    assert "masgsm_notify.consent (built-in): consent_status" in listed.stdout


def test_an_unknown_or_failing_consent_plugin_sends_nothing(sandbox, live_iys, tmp_path):
    unknown = cli(["run", str(plugin_campaign(tmp_path, "plugin:iys-typo"))], live_iys)

    assert unknown.returncode == 2, unknown.output
    assert "no loaded plugin named 'iys-typo' answers consent_status" in unknown.stderr
    assert "live-iys" in unknown.stderr
    down = cli(
        ["run", str(plugin_campaign(tmp_path, "plugin:live-iys"))],
        {**live_iys, "LIVE_IYS_DOWN": "1"},
    )
    assert down.returncode == 1, down.output
    assert "consent plugin 'live-iys' failed (ConnectionError: İYS did not answer)" in down.stderr
    odd = cli(
        ["run", str(plugin_campaign(tmp_path, "plugin:live-iys"))],
        {**live_iys, "LIVE_IYS_ODD": "1"},
    )
    assert odd.returncode == 1, odd.output
    assert "consent plugin 'live-iys' answered ('ONAY', 'BIREYSEL', '2024-01-01') is not" in (
        odd.stderr
    )
    assert sandbox.messages() == []


# -- the shipped example -------------------------------------------------------------------------


def test_the_campaign_example_sends_lawfully_in_the_embedded_sandbox(cli_env, tmp_path):
    project = tmp_path / "project"
    copy_examples(project)
    env = offline(cli_env)
    imported = run_cli(["optouts", "import", "pipelines/data/ret-replies.txt"], env, cwd=project)
    assert imported.returncode == 0, imported.output
    args = ["run", "pipelines/spring-campaign.yaml", "--sandbox", "--json"]

    inside = run_cli(args, {**env, "MASGSM_NOW": "2026-03-02T12:00:00+03:00"}, cwd=project)
    night = run_cli(args, {**env, "MASGSM_NOW": "2026-03-02T23:00:00+03:00"}, cwd=project)

    assert_no_traceback(inside)
    assert inside.returncode == 0, inside.output
    summary = summary_of(inside)
    assert summary["outcomes"]["delivered"] == 5
    assert (summary["opted_out"], summary["no_consent"]) == (1, 4)
    preview = summary["plan"]["preview"][0]
    assert preview["number"] == "0532 *** ** 01"  # privacy: mask
    assert preview["text"].endswith(f"tarihine kadar. {OPTOUT}")
    assert night.returncode == 4, night.output
    assert summary_of(night)["outcomes"]["not_sent"] == 5
