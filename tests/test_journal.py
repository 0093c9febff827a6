"""The journal's delivery guarantees, end to end: resume, a SIGKILL mid-run, a lock, and faults.

The sandbox's own record is the truth: a recipient is either accepted by it exactly once, or is
listed `unknown` in the journal (its request left, and no answer came back).
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from helpers.cli import CLI, env_for, summary_of
from helpers.journal import OF_BATCHES_IN_FLIGHT, message_states, query, query_written
from helpers.pipelines import FAST_REPORT, run_pipeline, write
from helpers.sandbox import numbers_sent
from helpers.waiting import wait_for

from masgsm_notify.sandbox import FaultPlan, SandboxConfig, SandboxServer

NUMBERS = [f"53211130{i:02d}" for i in range(6)]


def one_by_one(folder: Path, numbers: list[str] = NUMBERS, name: str = "steady") -> Path:
    """A pipeline sending one number per batch, one batch at a time."""
    write(folder / "people.csv", "phone\n" + "".join(f"0{n}\n" for n in numbers))
    return write(
        folder / f"{name}.yaml",
        f"""
        name: {name}
        recipients: {{csv: people.csv}}
        message: {{inline: "Kargonuz yolda"}}
        send: {{batch_size: 1, concurrency: 1}}
        """
        + FAST_REPORT,
    )


def batch_states(journal: Path) -> dict[str, int]:
    return dict(query_written(journal, "SELECT state, COUNT(*) FROM batches GROUP BY state"))


# -- resume ---------------------------------------------------------------------------------------


def test_rerun_of_the_same_run_key_sends_nothing_new_and_accounts_for_everyone(
    sandbox, cli_env: dict[str, str], tmp_path: Path
) -> None:
    write(
        tmp_path / "people.csv",
        "name,phone\nA,05321112201\nB,05321112202\nFails,05321112299\nBad,12345\nA,05321112201\n",
    )
    pipeline = write(
        tmp_path / "resume.yaml",
        """
        name: resume
        recipients: {csv: people.csv}
        message: {inline: "Merhaba {{ name }}"}
        send: {on_invalid: skip}
        report: {wait: 5s, poll_every: 100ms, fail_if: "failed > 1"}
        """,
    )
    journal = tmp_path / "j.sqlite"

    first = run_pipeline(pipeline, cli_env, "--json", journal=journal)
    after_first = sandbox.messages()
    second = run_pipeline(
        pipeline, cli_env, "--json", journal=journal
    )  # the derived run key: the same inputs

    assert first.returncode == 0 and second.returncode == 0, second.output
    assert sandbox.messages() == after_first  # nothing new
    assert numbers_sent(sandbox) == {"5321112201": 1, "5321112202": 1, "5321112299": 1}
    assert "Nothing left to send for this run key." in second.stderr
    one, two = summary_of(first), summary_of(second)
    assert one["run_key"] == two["run_key"]
    for summary in (one, two):
        assert summary["outcomes"] == {
            "delivered": 3,  # A twice (one message), B
            "failed": 1,
            "pending": 0,
            "unknown": 0,
            "not_sent": 0,
        }
        assert summary["skipped"] == 1 and summary["rows"] == 5
    assert query(journal, "SELECT COUNT(*) FROM runs") == [(1,)]


def test_different_inputs_under_the_same_run_key_are_refused(
    sandbox, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = one_by_one(tmp_path, NUMBERS[:2])
    journal = tmp_path / "j.sqlite"
    first = run_pipeline(pipeline, cli_env, "--run-key", "monday", journal=journal)
    assert first.returncode == 0, first.output
    with (tmp_path / "people.csv").open("a") as file:
        file.write(f"0{NUMBERS[2]}\n")

    second = run_pipeline(pipeline, cli_env, "--run-key", "monday", journal=journal)

    assert second.returncode == 2, second.output
    assert "Run key 'monday' was already sent from different inputs" in second.stderr
    assert "sent ledger keeps every text this run already sent from going" in second.stderr
    assert numbers_sent(sandbox) == {NUMBERS[0]: 1, NUMBERS[1]: 1}

    # Following the advice sends only the new row: the ledger has the others.
    third = run_pipeline(pipeline, cli_env, "--run-key", "tuesday", "--json", journal=journal)
    assert third.returncode == 0, third.output
    assert numbers_sent(sandbox) == {NUMBERS[0]: 1, NUMBERS[1]: 1, NUMBERS[2]: 1}
    assert summary_of(third)["already_sent"] == 2


# -- a run killed part-way ------------------------------------------------------------------------


def test_run_killed_mid_send_resumes_without_duplicates_and_resends_unknown_only_on_request(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    latency = 0.3
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=int(latency * 1000)) as slow:
        env = env_for(slow, cli_env)
        pipeline = one_by_one(tmp_path)
        journal = tmp_path / "j.sqlite"
        args = ["run", str(pipeline), "--journal", str(journal), "--run-key", "killed"]
        process = subprocess.Popen(
            [*CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            # Kill it once a batch was answered and the next one is in flight.
            wait_for(lambda: {"sent", "in_flight"} <= batch_states(journal).keys())
        finally:
            process.kill()
            process.wait(timeout=10)
        assert process.returncode == -9
        at_kill = batch_states(journal)
        assert at_kill.get("in_flight") == 1 and at_kill.get("sent", 0) < len(NUMBERS)
        # The message of the batch still out (those of answered batches wait for their reports
        # in flight too, their batch saying they went).
        [(in_flight,)] = query(journal, OF_BATCHES_IN_FLIGHT.format("m.number"))
        time.sleep(latency * 2)  # the sandbox finishes the request the dead process left behind
        slow.latency_ms = 0  # the rest need no slowness

        resumed = run_pipeline(pipeline, env, "--run-key", "killed", "--json", journal=journal)

        assert resumed.returncode == 3, resumed.output  # unknown > 0: the default fail_if
        summary = summary_of(resumed)
        assert summary["outcomes"]["unknown"] == 1
        assert summary["outcomes"]["delivered"] == len(NUMBERS) - 1
        states, sent = message_states(journal), numbers_sent(slow)
        assert set(states) == set(NUMBERS)
        for number in NUMBERS:
            if states[number] == "unknown":
                assert number == in_flight and sent[number] <= 1
            else:
                assert (states[number], sent[number]) == ("delivered", 1), number
        before = sent[in_flight]

        again = run_pipeline(
            pipeline, env, "--run-key", "killed", "--resend-unknown", journal=journal
        )

        assert again.returncode == 0, again.output
        assert "1 unknown message(s) will be sent again" in again.stdout
        assert message_states(journal) == dict.fromkeys(NUMBERS, "delivered")
        sent = numbers_sent(slow)
        assert sent[in_flight] == before + 1
        assert all(sent[n] == 1 for n in NUMBERS if n != in_flight)


# -- one journal, one sender ----------------------------------------------------------------------


def test_two_runners_on_one_journal_one_refuses_and_nothing_is_duplicated(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=150) as slow:
        env = env_for(slow, cli_env)
        pipeline = one_by_one(tmp_path, NUMBERS[:5])
        args = ["run", str(pipeline), "--journal", str(tmp_path / "j.sqlite"), "--run-key", "same"]
        processes = [
            subprocess.Popen(
                [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=60) for p in processes]
        finished = [
            (p.returncode, out, err) for p, (out, err) in zip(processes, outputs, strict=True)
        ]

        codes = sorted(code for code, _, _ in finished)
        assert codes[0] == 0 and codes[1] != 0, finished
        [(_, _, refusal)] = [f for f in finished if f[0] != 0]
        assert "in use by pid" in refusal and "Traceback" not in refusal
        assert numbers_sent(slow) == dict.fromkeys(NUMBERS[:5], 1)


# -- faults ---------------------------------------------------------------------------------------


def test_http_503_is_retried_and_everything_is_sent_once(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    faults = FaultPlan(queue=["503", "503"])
    with SandboxServer(SandboxConfig(settle_ms=50), faults=faults) as flaky:
        pipeline = one_by_one(tmp_path, NUMBERS[:3])
        journal = tmp_path / "j.sqlite"

        result = run_pipeline(pipeline, env_for(flaky, cli_env), journal=journal)

        assert result.returncode == 0, result.output
        assert [f["fault"] for f in flaky.fault_log] == ["503", "503"]
        assert numbers_sent(flaky) == dict.fromkeys(NUMBERS[:3], 1)
        assert batch_states(journal) == {"sent": 3}
        assert "delivered 3, failed 0, pending 0, unknown 0" in result.stdout


@pytest.mark.parametrize(("fault", "recorded"), [("drop_after", True), ("drop_before", False)])
def test_dropped_connection_makes_that_batch_unknown_and_the_rest_go(
    fault: str, recorded: bool, cli_env: dict[str, str], tmp_path: Path
) -> None:
    with SandboxServer(SandboxConfig(settle_ms=50), faults=FaultPlan(queue=[fault])) as flaky:
        pipeline = one_by_one(tmp_path, NUMBERS[:3])
        journal = tmp_path / "j.sqlite"

        result = run_pipeline(pipeline, env_for(flaky, cli_env), journal=journal)

        assert result.returncode != 0, result.output
        assert result.returncode == 3  # sent, but an outcome is unknown: the default fail_if
        [logged] = flaky.fault_log
        assert (logged["fault"], logged["recorded"]) == (fault, recorded)
        first = NUMBERS[0]  # the first batch met the fault
        expected = dict.fromkeys(NUMBERS[1:3], 1) | ({first: 1} if recorded else {})
        assert numbers_sent(flaky) == expected  # never re-sent behind the user's back
        assert batch_states(journal) == {"unknown": 1, "sent": 2}
        assert message_states(journal) == {
            first: "unknown",
            NUMBERS[1]: "delivered",
            NUMBERS[2]: "delivered",
        }
        assert "delivered 2, failed 0, pending 0, unknown 1" in result.stdout
        assert "1 recipient(s) unknown" in result.stdout
        assert "--resend-unknown" in result.stdout


def test_a_version_3_journal_is_upgraded_and_its_runs_resume(
    tmp_path, sandbox: SandboxServer, cli_env
):
    """Version 4 indexes only messages in a batch; a journal a version 3 release left, holding
    a run stopped part-way, is upgraded on open and its run goes on where it was."""
    pipeline = one_by_one(tmp_path)
    first = run_pipeline(pipeline, cli_env, "--limit", "2", journal=tmp_path / "j.sqlite")
    assert first.returncode == 0, first.output
    db = sqlite3.connect(tmp_path / "j.sqlite")
    with db:  # back to what version 3 wrote: every message in the batch index
        db.execute("DROP INDEX messages_by_batch")
        db.execute("CREATE INDEX messages_by_batch ON messages(batch_id, number)")
        db.execute("PRAGMA user_version = 3")
    db.close()

    rest = run_pipeline(pipeline, cli_env, journal=tmp_path / "j.sqlite")

    assert rest.returncode == 0, rest.output
    assert sorted(numbers_sent(sandbox)) == NUMBERS  # each once: the first two are not again
    assert set(numbers_sent(sandbox).values()) == {1}
    assert query(tmp_path / "j.sqlite", "PRAGMA user_version") == [(5,)]
    (index,) = query(
        tmp_path / "j.sqlite", "SELECT sql FROM sqlite_master WHERE name = 'messages_by_batch'"
    )
    assert index[0].endswith("WHERE batch_id IS NOT NULL")
    assert set(message_states(tmp_path / "j.sqlite").values()) == {"delivered"}


def test_texts_escaped_while_planning_never_reach_a_message_planned_after(tmp_path: Path) -> None:
    """Texts escaped while planning are kept for the connection, by message id; a message
    deleted (a discarded plan) frees its id for the next plan, whose messages must carry their
    own escaped texts, or none, never the ones of the message that had the id before."""
    from masgsm_notify.pipeline.journal import Journal
    from masgsm_notify.pipeline.records import RunRecords
    from masgsm_notify.wire import php_urlencode

    def plan(journal: Journal, key: str, texts: list[str], escape: bool) -> RunRecords:
        records = RunRecords(journal, journal.create_run(key, "n", "p.yaml", "f", None, None))
        messages = [(f"r:{i}", f"532111{i:04d}", t, "turkish", 1) for i, t in enumerate(texts)]
        wire = [php_urlencode(text) for text in texts] if escape else []
        records.add_planned(messages, [], None, wire)
        return records

    with Journal(tmp_path / "j.sqlite") as journal:
        first = plan(journal, "a", ["Eski metin 1", "Eski metin 2"], escape=True)
        (draft,) = first.drafts(500)
        assert draft.wire == [php_urlencode("Eski metin 1"), php_urlencode("Eski metin 2")]
        first.discard()

        second = plan(journal, "b", ["Yeni ğ 1", "Yeni ğ 2"], escape=False)
        (draft,) = second.drafts(500)
        assert draft.ids == [1, 2]  # the discarded plan's ids, used again
        assert draft.wire == [None, None]
        second.discard()

        third = plan(journal, "c", ["Üçüncü 1", "Üçüncü 2"], escape=True)
        (draft,) = third.drafts(500)
        assert draft.wire == [php_urlencode("Üçüncü 1"), php_urlencode("Üçüncü 2")]

    with Journal(tmp_path / "j.sqlite") as journal:  # another process resuming: none known
        run = journal.find_run("c")
        assert run is not None
        (draft,) = RunRecords(journal, run).drafts(500)
        assert draft.texts == ["Üçüncü 1", "Üçüncü 2"] and draft.wire == [None, None]
