"""The journal's account of who got what, in the cases where it is easiest to get wrong:
sandbox try-outs before a real run, unreadable answers, partial sends, refused batches that go
through later, reports that do not match a batch, failures after sending. In-process runs (and
a few CLI runs) against the sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.journal import planned_run, query
from helpers.pipelines import write
from helpers.sandbox import numbers_sent

from masgsm_notify.errors import MasgsmError, UsageError
from masgsm_notify.hookspecs import hookimpl
from masgsm_notify.pipeline import UI, Runner, RunOptions, format_summary, load_pipeline, recheck
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.plugins import get_plugin_manager
from masgsm_notify.sandbox import FaultPlan, SandboxConfig, SandboxServer
from masgsm_notify.states import BatchState

NUMBERS = [f"0532 111 22 {i:02d}" for i in range(10, 18)]


class Notes(UI):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def pipeline(folder: Path, extra: str = "", report: str = "{wait: 5s, poll_every: 100ms}") -> Path:
    rows = "\n".join(f'    - {{name: "Kişi {i}", phone: "{n}"}}' for i, n in enumerate(NUMBERS))
    text = textwrap.dedent(
        """\
        name: accounting
        recipients:
          inline:
        {rows}
        message:
          inline: "Merhaba {{{{ name }}}}"
          title: MASGSMTEST
        send:
          batch_size: 3
          concurrency: 1
          retries: 0
        report: {report}
        """
    ).format(rows=rows, report=report)
    return write(folder / "p.yaml", text + extra)


def use(monkeypatch: pytest.MonkeyPatch, server: SandboxServer | str) -> None:
    base = server if isinstance(server, str) else server.base_url
    for key, value in {
        "MASGSM_USER": "5300000000",
        "MASGSM_PASSWORD": "sandbox",
        "MASGSM_TITLE": "MASGSMTEST",
        "MASGSM_BASE_URL": base,
    }.items():
        monkeypatch.setenv(key, value)


def run(path: Path, **options):
    notes = Notes()
    return Runner(load_pipeline(path), RunOptions(**options), notes).run(), notes


def test_a_sandbox_try_out_does_not_stop_the_real_run(tmp_path, monkeypatch, sandbox):
    use(monkeypatch, sandbox)
    path = pipeline(tmp_path)
    tried, _ = run(path, sandbox=True)
    real, _ = run(path)
    assert tried.outcomes["delivered"] == len(NUMBERS)
    assert tried.journal is None
    assert real.outcomes["delivered"] == len(NUMBERS)
    assert sorted(numbers_sent(sandbox).values()) == [1] * len(NUMBERS)


def test_a_run_key_never_resumes_against_another_account(tmp_path, monkeypatch, sandbox):
    use(monkeypatch, sandbox)
    path = pipeline(tmp_path)
    run(path, run_key="k", journal=tmp_path / "j.sqlite")
    with SandboxServer(SandboxConfig(settle_ms=50)) as other:
        use(monkeypatch, other)
        with pytest.raises(UsageError, match="the account changed") as refused:
            run(path, run_key="k", journal=tmp_path / "j.sqlite")
        assert refused.value.exit_code == 2
        assert other.messages() == []


def test_an_unreadable_answer_to_a_send_is_unknown_and_never_sent_again(
    tmp_path, monkeypatch, scripted_server
):
    def answer(body: bytes) -> bytes:
        if b"type=1" in body:  # the send: recorded, but answered with a PHP notice in front
            return b'<b>Notice</b>: undefined index {"code":1'
        if b"apiNo=3" in body:
            return b'["MASGSMTEST"]'
        return b'{"code":1,"message":"Hesap Bakiyesi","balance":"001000"}'

    scripted_server.default = (200, "text/html", answer)
    use(monkeypatch, scripted_server.base_url)
    path = pipeline(tmp_path, report="{check: false}")
    journal = tmp_path / "j.sqlite"
    first, _ = run(path, journal=journal, run_key="k")
    sends = [r for r in scripted_server.requests if b"type=1" in r.body]
    again, _ = run(path, journal=journal, run_key="k")
    sends_after = [r for r in scripted_server.requests if b"type=1" in r.body]
    assert first.outcomes["unknown"] == len(NUMBERS)
    assert first.exit_code == 3
    assert len(sends) == 3  # three batches of three, answered in a way nobody can read
    assert len(sends_after) == len(sends)
    assert again.outcomes["unknown"] == len(NUMBERS)


@pytest.mark.parametrize("check", [True, False])
def test_a_partial_send_sends_the_rest_after_a_top_up_exactly_once(tmp_path, monkeypatch, check):
    with SandboxServer(SandboxConfig(settle_ms=50)) as server:
        use(monkeypatch, server)
        report = "{wait: 5s, poll_every: 100ms}" if check else "{check: false, wait: 5s}"
        path = pipeline(tmp_path, report=report)
        journal = tmp_path / "j.sqlite"
        # The preflight refuses a plan the balance cannot cover, so the balance is taken away
        # after it: the provider answers 3 part-way through the second batch.

        class Drain:
            @hookimpl
            def before_batch(self, run, batch):
                if batch.id == 2:
                    server.state.accounts["5300000000"].balance = 1

        drain = Drain()
        get_plugin_manager().register(drain)
        try:
            first, _ = run(path, journal=journal, run_key="k")
        finally:
            get_plugin_manager().unregister(drain)
        went_first = numbers_sent(server)
        server.state.accounts["5300000000"].balance = 100
        second, _ = run(path, journal=journal, run_key="k")
    assert first.exit_code == 1  # the balance ran out: a runtime failure, some were sent
    assert sum(went_first.values()) == 4  # batch 1 (3 numbers), then 1 of batch 2
    assert first.outcomes["not_sent"] == len(NUMBERS) - 4
    assert second.exit_code == 0
    assert sorted(numbers_sent(server).values()) == [1] * len(NUMBERS)
    assert second.outcomes["not_sent"] == 0


def test_a_batch_refused_once_and_sent_later_ends_with_exit_0(tmp_path, monkeypatch):
    with SandboxServer(SandboxConfig(settle_ms=50), faults=FaultPlan(queue=["503"])) as server:
        use(monkeypatch, server)
        path = pipeline(tmp_path)
        journal = tmp_path / "j.sqlite"
        first, _ = run(path, journal=journal, run_key="k")
        second, _ = run(path, journal=journal, run_key="k")
        assert first.exit_code == 1
        assert first.counts.refused == 3
        assert second.exit_code == 0
        assert second.counts.refused == 0
        assert sorted(numbers_sent(server).values()) == [1] * len(NUMBERS)


def test_a_report_is_joined_by_number_and_foreign_numbers_do_not_count(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        records = planned_run(
            journal, [(f"r{i}", n, "t") for i, n in enumerate(["5321110001", "5321110002"])]
        )
        batch = records.open_batch(next(records.drafts(10)))
        records.close_batch(batch, BatchState.SENT, "1")
        # As long as the batch's own numbers: a foreign one, and ours written another way.
        records.apply_report(batch, ["905321110001", "5329999999"], [], [])
        states = dict(query(tmp_path / "j.sqlite", "SELECT number, state FROM messages"))
    assert states == {"5321110001": "delivered", "5321110002": "pending"}


@pytest.mark.parametrize(
    ("sections", "named"),
    [
        pytest.param(
            {"extra": "", "report": '{export: "results/{{ vars.nope }}.csv"}'},
            "report.export",
            id="export",
        ),
        pytest.param({"extra": 'notify:\n  - "json://{{ oops"\n'}, "notify[0]", id="notify"),
    ],
)
def test_a_broken_output_template_is_found_before_sending(
    sections: dict[str, str], named: str, tmp_path, cli_env, sandbox
):
    path = pipeline(tmp_path, **sections)
    result = run_cli(["run", str(path), "--journal", str(tmp_path / "j.sqlite")], cli_env)
    assert result.returncode == 2
    assert named in result.stderr
    assert sandbox.messages() == []


def test_an_unwritable_export_is_exit_1_and_the_sends_stand(tmp_path, monkeypatch, sandbox):
    use(monkeypatch, sandbox)
    (tmp_path / "results").write_text("a file where a folder should be")
    path = pipeline(tmp_path, report='{export: "results/out.csv", wait: 5s, poll_every: 100ms}')
    summary, notes = run(path, journal=tmp_path / "j.sqlite", run_key="k")
    assert summary.exit_code == 1
    assert summary.outcomes["delivered"] == len(NUMBERS)
    expected = f"{tmp_path / 'results' / 'out.csv'}: cannot write the results file: a file stands"
    assert any(note.startswith(expected) for note in notes.notes), notes.notes
    assert summary.error.startswith(expected)
    assert "`masgsm-notify check k` writes the file again" in summary.error


def test_credentials_failing_after_some_batches_went_is_exit_1(tmp_path, monkeypatch, sandbox):
    use(monkeypatch, sandbox)

    class ChangePassword:
        @hookimpl
        def after_batch(self, run, batch, outcome):
            sandbox.state.accounts["5300000000"].password = "changed"

    plugin = ChangePassword()
    get_plugin_manager().register(plugin)
    try:
        summary, _ = run(pipeline(tmp_path), journal=tmp_path / "j.sqlite")
    finally:
        get_plugin_manager().unregister(plugin)
    assert summary.exit_code == 1
    assert "answer 401" in (summary.error or "")
    assert len(sandbox.messages()) == 3


def test_an_installed_plugin_replaces_a_built_in_filter(tmp_path, monkeypatch, sandbox):
    use(monkeypatch, sandbox)

    class Money:
        @hookimpl
        def register_filters(self, register):
            register("money", lambda value: f"{value} lira")

    plugin = Money()
    get_plugin_manager().register(plugin)
    try:
        write(
            tmp_path / "m.yaml",
            """
            name: money
            recipients:
              inline: [{phone: "0532 111 22 10", amount: 5}]
            message:
              inline: "Borç: {{ amount|money }}"
            report: {check: false}
            """,
        )
        run(tmp_path / "m.yaml", journal=tmp_path / "j.sqlite")
    finally:
        get_plugin_manager().unregister(plugin)
    assert [m["text"] for m in sandbox.messages()] == ["Borç: 5 lira"]


def test_send_texts_a_number_typed_two_ways_once(cli_env, sandbox):
    result = run_cli(
        ["send", "--to", "05321112233", "--to", "+90 532 111 22 33", "-m", "Merhaba"], cli_env
    )
    assert result.returncode == 0, result.output
    assert [m["number"] for m in sandbox.messages()] == ["5321112233"]


def test_the_preflight_retries_reads_that_met_a_503(tmp_path, monkeypatch):
    faults = FaultPlan(queue=["503", "503"], scope="all")
    with SandboxServer(SandboxConfig(settle_ms=50), faults=faults) as server:
        use(monkeypatch, server)
        summary, _ = run(pipeline(tmp_path), journal=tmp_path / "j.sqlite")
        faulted = [f["fault"] for f in server.fault_log]
    assert faulted == ["503", "503"]  # both met by the pre-flight's balance read, then retried
    assert summary.exit_code == 0
    assert summary.outcomes["delivered"] == len(NUMBERS)
    assert summary.plan.checks.balance > 0


def test_why_a_batch_did_not_go_is_in_the_report(tmp_path, monkeypatch, scripted_server):
    def answer(body: bytes) -> bytes:
        if b"type=1" in body:
            return b'{"code":0,"message":"Gonderim Hatasi"}'
        if b"apiNo=3" in body:
            return b'["MASGSMTEST"]'
        return b'{"code":1,"message":"Hesap Bakiyesi","balance":"001000"}'

    scripted_server.default = (200, "text/html", answer)
    use(monkeypatch, scripted_server.base_url)
    summary, _ = run(pipeline(tmp_path, report="{check: false}"), journal=tmp_path / "j.sqlite")
    assert summary.exit_code == 1
    assert [p["state"] for p in summary.problems] == ["rejected"]
    assert summary.problems[0]["messages"] == len(NUMBERS)
    assert "answer 0" in summary.problems[0]["error"]
    assert "answer 0" in format_summary(summary)


def test_an_empty_report_of_a_partial_batch_does_not_mark_anyone_unsent(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        records = planned_run(journal, [("r1", "5321110001", "t")])
        batch = records.open_batch(next(records.drafts(10)))
        records.close_batch(batch, BatchState.PARTIAL, "1", 3)
        records.apply_report(batch, [], [], [])  # an id the provider does not know (yet)
        states = dict(query(tmp_path / "j.sqlite", "SELECT number, state FROM messages"))
    assert states == {"5321110001": "pending"}


def test_check_refuses_to_read_reports_as_another_account(tmp_path, monkeypatch, sandbox):
    use(monkeypatch, sandbox)
    path = pipeline(tmp_path)
    journal = tmp_path / "j.sqlite"
    run(path, run_key="k", journal=journal)
    monkeypatch.setenv("MASGSM_BASE_URL", "http://127.0.0.1:9/MasApiV2")  # another provider
    with pytest.raises(UsageError, match="can only be read from the account that sent it"):
        recheck("k", journal, 0, Notes())


def test_a_fail_if_failing_after_sending_keeps_the_report(tmp_path, monkeypatch, sandbox):
    use(monkeypatch, sandbox)
    path = pipeline(tmp_path, report='{fail_if: "failed / delivered > 0.5", wait: 0}')
    summary, notes = run(path, journal=tmp_path / "j.sqlite")
    assert len(sandbox.messages()) == len(NUMBERS)
    assert summary.failing and summary.exit_code == 3  # reports unread yet: delivered is 0
    assert any("report.fail_if failed" in note for note in notes.notes)


def test_a_resume_refused_for_credentials_after_sending_is_exit_1(tmp_path, monkeypatch):
    with SandboxServer(SandboxConfig(settle_ms=50)) as server:
        use(monkeypatch, server)
        path = pipeline(tmp_path)
        journal = tmp_path / "j.sqlite"
        with_faults = FaultPlan(queue=["503"])
        server.faults = with_faults
        first, _ = run(path, journal=journal, run_key="k")
        monkeypatch.setenv("MASGSM_PASSWORD", "wrong")
        with pytest.raises(MasgsmError, match="answer 401") as refused:
            run(path, journal=journal, run_key="k")
    assert first.counts.refused == 3
    assert refused.value.exit_code == 1


def test_a_sandbox_run_with_a_journal_resumes(tmp_path, monkeypatch):
    monkeypatch.delenv("MASGSM_USER", raising=False)
    path = pipeline(tmp_path)
    journal = tmp_path / "j.sqlite"
    first, _ = run(path, sandbox=True, journal=journal)
    second, notes = run(path, sandbox=True, journal=journal)
    assert first.run_key == second.run_key
    assert "Nothing left to send for this run key." in notes.notes
