"""Crash and resume: one run killed with SIGKILL at twenty-odd random moments, then finished; and
two runners racing on one run key and journal.

After every kill the journal must pass SQLite's integrity check and agree with the sandbox's own
record: nothing the journal calls sent (or delivered, or failed) is missing from the sandbox, and
the sandbox never accepted a (number, text) twice. At the end every recipient was accepted exactly
once, or is listed unknown in the journal. The moments are drawn from `random.Random(seed)`; the
seed is printed (set CRASH_SEED to replay one).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers.cli import CLI, assert_no_traceback, env_for, offline, run_cli, summary_of
from helpers.journal import SENT_STATES, count, integrity, query, query_written
from helpers.pipelines import mobile_numbers, people_pipeline, write

from masgsm_notify.sandbox import SandboxConfig, SandboxServer

KILLS = 20
RECIPIENTS = 1_200
CONCURRENCY = 2


def make_pipeline(folder: Path, count: int, name: str, batch_size: int) -> Path:
    return people_pipeline(
        folder,
        mobile_numbers(count),
        name=name,
        text="Merhaba {{ name }}, randevunuz yarın.",
        send=f"batch_size: {batch_size}, concurrency: {CONCURRENCY}",
        report="report: {wait: 10s, poll_every: 250ms}\n",
    )


def journal_rows(journal: Path) -> list[tuple[str, str, str]]:
    return query_written(journal, "SELECT number, text, state FROM messages")


def check_consistent(journal: Path, server: SandboxServer) -> Counter:
    """The journal agrees with the sandbox; returns what the sandbox accepted, by (number, text)."""
    accepted = Counter((m["number"], m["text"]) for m in server.messages())
    assert [pair for pair, times in accepted.items() if times > 1] == []
    missing = [
        (number, state)
        for number, text, state in journal_rows(journal)
        if state in SENT_STATES and accepted[(number, text)] != 1
    ]
    assert missing == [], missing[:5]
    return accepted


def test_twenty_sigkills_of_one_run_then_it_finishes_with_nothing_twice(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    seed = int(os.environ.get("CRASH_SEED") or random.randrange(2**32))
    print(f"crash-resume seed {seed}")
    chance = random.Random(seed)
    pipeline = make_pipeline(tmp_path, RECIPIENTS, "crash", batch_size=5)
    journal = tmp_path / "crash.journal.sqlite"
    args = [*CLI, "run", str(pipeline), "--journal", str(journal), "--run-key", "crash"]
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=80) as server:
        env = offline(env_for(server, cli_env))
        kills, attempts, mid_send = 0, 0, 0
        while kills < KILLS:
            attempts += 1
            assert attempts <= 2 * KILLS, f"only {kills} kills in {attempts - 1} attempts"
            batches_before = count(journal, "batches")
            process = subprocess.Popen(
                args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            if chance.random() < 0.3:  # any moment: starting, planning, sending, checking
                time.sleep(chance.uniform(0.05, 1.2))
            else:  # a moment while it sends (whatever the machine's start-up time)
                deadline = time.monotonic() + 5
                while (
                    process.poll() is None
                    and count(journal, "batches") == batches_before
                    and time.monotonic() < deadline
                ):
                    time.sleep(0.01)
                time.sleep(chance.uniform(0.0, 0.6))
            if process.poll() is None:
                process.kill()
                kills += 1
            _, stderr = process.communicate(timeout=60)
            assert "Traceback" not in stderr, stderr
            assert process.returncode in (-9, 0, 3), (process.returncode, stderr)
            if not journal.exists():
                continue
            assert integrity(journal) == [("ok",)], f"corrupt after kill {kills}"
            check_consistent(journal, server)
            mid_send += process.returncode == -9 and count(journal, "batches") > batches_before
        print(f"{kills} kills in {attempts} attempts, {mid_send} of them while sending")
        assert mid_send >= KILLS // 2  # the kills really interrupted the sending

        time.sleep(0.2)  # the sandbox finishes what the last killed process left in flight
        server.latency_ms = 0
        final = run_cli([*args[len(CLI) :], "--json"], env)
        assert_no_traceback(final)
        accepted = check_consistent(journal, server)

    summary = summary_of(final)
    rows = journal_rows(journal)
    states = Counter(state for _, _, state in rows)
    assert final.returncode == (3 if states["unknown"] else 0), final.output
    assert sorted(number for number, _, _ in rows) == mobile_numbers(RECIPIENTS)
    assert set(states) <= {"delivered", "failed", "unknown"}, states
    for number, text, state in rows:
        if state == "unknown":  # the request left when the process died: at most once
            assert accepted[(number, text)] <= 1
        else:
            assert accepted[(number, text)] == 1, (number, state)
    assert sum(accepted.values()) == sum(
        1 for number, text, _ in rows if accepted[(number, text)]
    )  # nothing accepted that the journal does not know of
    unknown_batches = query(journal, "SELECT COUNT(*) FROM batches WHERE state = 'unknown'")[0][0]
    assert unknown_batches <= CONCURRENCY * kills  # only what was in flight at a kill
    assert summary["outcomes"]["unknown"] == states["unknown"]
    assert sum(summary["outcomes"].values()) == RECIPIENTS
    assert integrity(journal) == [("ok",)]


@pytest.mark.parametrize("rounds", [4])
def test_two_runners_started_together_never_send_twice(
    rounds: int, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Round 0 races on a journal that does not exist yet; later rounds on the same journal,
    each with a run key of its own (the first of them half sent already)."""
    journal = tmp_path / "shared.journal.sqlite"
    outcomes = []
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=30) as server:
        env = offline(env_for(server, cli_env))
        for round_ in range(rounds):
            count = 60
            first = mobile_numbers(count, start=round_ * count)
            folder = tmp_path / f"round{round_}"
            write(folder / "race.csv", "name,phone\n" + "".join(f"K,0{n}\n" for n in first))
            pipeline = write(
                folder / "race.yaml",
                f"""
                name: race
                recipients: {{csv: race.csv}}
                message: {{inline: "Tur {round_}: merhaba {{{{ name }}}}"}}
                send: {{batch_size: 3, concurrency: 2}}
                report: {{wait: 10s, poll_every: 250ms}}
                """,
            )
            args = [*CLI, "run", str(pipeline), "--journal", str(journal)]
            args += ["--run-key", f"race-{round_}"]
            if round_ == 1:  # a run killed part-way, then resumed by two racing runners
                half = subprocess.Popen(
                    args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and len(server.messages()) < 3 * count // 2:
                    time.sleep(0.02)
                half.kill()
                half.wait(timeout=30)
            racers = [
                subprocess.Popen(
                    args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                for _ in range(2)
            ]
            finished = [(p, *p.communicate(timeout=120)) for p in racers]
            for _, out, err in finished:
                assert "Traceback" not in out + err, err
            worked = [p for p, _, _ in finished if p.returncode in (0, 3)]
            refused = [err for p, _, err in finished if p.returncode not in (0, 3)]
            assert len(worked) >= 1, finished  # never both refused
            if refused:  # one refused; the other did the work
                assert "in use by" in refused[0], refused[0]
                assert "two runs sending from one journal" in refused[0]
            outcomes.append("refused" if refused else "shared")

            accepted = Counter((m["number"], m["text"]) for m in server.messages())
            assert max(accepted.values()) == 1, [p for p, n in accepted.items() if n > 1]
            got = Counter(m["number"] for m in server.messages() if m["number"] in set(first))
            rows = dict(
                (number, state)
                for number, state in query(
                    journal,
                    "SELECT m.number, m.state FROM messages m JOIN runs r ON r.id = m.run_id"
                    " WHERE r.run_key = ?",
                    (f"race-{round_}",),
                )
            )
            assert sorted(rows) == first
            for number in first:
                if rows[number] == "unknown":
                    assert got[number] <= 1
                else:
                    settled = "failed" if number.endswith("99") else "delivered"
                    assert (rows[number], got[number]) == (settled, 1), number
            assert integrity(journal) == [("ok",)]
    print(f"racing rounds: {outcomes}")
