"""Faults under load: a run of thousands of recipients against a sandbox that fails on purpose.

The sandbox injects, at random (seeded) rates: HTTP 503 (nothing recorded), HTTP 500 (recorded,
then the error), a stall past the client's read timeout (recorded, the answer held back), and
connections dropped before and after the send is recorded. The run is the real CLI in a
subprocess. Its account is then checked against the sandbox's own record (`/_sandbox/messages`
and the fault log of `/_sandbox/state`) and against the journal, opened read-only:

- no (number, text) was accepted twice;
- every recipient is in the journal exactly once, in one final state;
- the batches the journal calls unknown are exactly the requests that met an ambiguous fault
  (500, stall, drop_before, drop_after), and what the sandbox recorded of them matches the fault;
- every recipient whose requests met only 503s (or nothing) was accepted once, by retries;
- the counts of the summary, the journal and the sandbox add up.

The pipeline sets `send.timeout` below the sandbox's stall, so a stall is a read timeout.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from helpers.cli import assert_no_traceback, env_for, offline, run_cli, summary_of
from helpers.journal import query
from helpers.pipelines import mobile_numbers, people_pipeline

from masgsm_notify.sandbox import FaultPlan, SandboxConfig, SandboxServer

# Faults after which the provider may have recorded the send, or the client cannot tell.
AMBIGUOUS = {"500", "stall", "drop_before", "drop_after"}
RECORDED = {"500", "stall", "drop_after"}
FINAL_STATES = {"delivered", "failed", "unknown"}

READ_TIMEOUT = 2.0  # seconds (send.timeout); the sandbox's stall holds an answer twice as long


@dataclass(frozen=True)
class Load:
    recipients: int
    rates: dict[str, float]
    scope: str
    retries: int
    seed: int
    wait: str = "10s"  # report.wait


DEFAULT = Load(
    recipients=3_000,
    rates={"503": 0.10, "500": 0.03, "stall": 0.02, "drop_before": 0.03, "drop_after": 0.03},
    scope="send",
    retries=6,
    seed=20261125,
)
SOAK = Load(
    recipients=30_000,
    rates={"503": 0.20, "500": 0.05, "stall": 0.03, "drop_before": 0.05, "drop_after": 0.05},
    scope="all",  # report polls and the pre-flight meet the faults too, and retry
    retries=10,
    seed=424242,
    wait="2m",  # report polls meet the faults too: it takes more rounds
)


def make_pipeline(folder: Path, load: Load) -> Path:
    return people_pipeline(
        folder,
        mobile_numbers(load.recipients),
        name="load",
        csv="people.csv",
        person="Müşteri",
        codes=True,
        text="Sayın {{ name }}, doğrulama kodunuz {{ code }}.",
        send=f"batch_size: 50, concurrency: 4, retries: {load.retries}, timeout: {READ_TIMEOUT}",
        report=f"report: {{wait: {load.wait}, poll_every: 250ms}}\n",
    )


def inspect(server: SandboxServer) -> tuple[list[dict], dict]:
    """The sandbox's own record, read over HTTP from its inspection endpoints."""
    root = server.base_url.rsplit("/MasApiV2", 1)[0]
    messages = requests.get(f"{root}/_sandbox/messages", timeout=30).json()
    state = requests.get(f"{root}/_sandbox/state", timeout=30).json()
    return messages, state


def run_under_faults(load: Load, cli_env: dict[str, str], tmp_path: Path) -> None:
    print(f"fault seed {load.seed}, {load.recipients} recipients, rates {load.rates}")
    # Each kind once at the start, so every kind is met whatever the rates draw; then the rates.
    plan = FaultPlan(
        rates=load.rates,
        queue=["503", "500", "stall", "drop_before", "drop_after"],
        scope=load.scope,
        stall_ms=int(READ_TIMEOUT * 2000),
        seed=load.seed,
    )
    pipeline = make_pipeline(tmp_path, load)
    journal = tmp_path / "load.journal.sqlite"
    with SandboxServer(SandboxConfig(settle_ms=50), faults=plan) as server:
        env = offline(env_for(server, cli_env))
        args = ["run", str(pipeline), "--journal", str(journal), "--run-key", "load", "--json"]
        result = run_cli(args, env, timeout=600)
        assert_no_traceback(result)
        messages, state = inspect(server)
    assert result.returncode == 3, result.output  # unknown recipients fail the default fail_if
    summary = summary_of(result)

    # The sandbox's record: nothing accepted twice.
    accepted = Counter((m["number"], m["text"]) for m in messages)
    assert [pair for pair, times in accepted.items() if times > 1] == []
    by_number = Counter(m["number"] for m in messages)
    assert max(by_number.values()) == 1
    assert state["messages"] == len(messages)
    spent = sum(m["segments"] for m in messages)
    assert state["balances"] == {"5300000000": 1_000_000 - spent}

    # The journal: every recipient exactly once, each in one final state.
    rows = query(journal, "SELECT number, text, state, batch_id FROM messages")
    everyone = mobile_numbers(load.recipients)
    assert sorted(r[0] for r in rows) == everyone
    journal_state = {number: st for number, _, st, _ in rows}
    text_of = {number: text for number, text, _, _ in rows}
    assert set(journal_state.values()) <= FINAL_STATES, Counter(journal_state.values())
    batch_state = dict(query(journal, "SELECT id, state FROM batches"))
    members: dict[int, set[str]] = {}
    for number, _, _, batch in rows:
        members.setdefault(batch, set()).add(number)
    assert None not in members  # every recipient was attempted

    # The fault log: which requests met which fault, and whether the sandbox recorded the send.
    sends = [f for f in state["faults"] if f["numbers"]]
    faults_of: dict[str, list[str]] = {}
    for entry in sends:
        assert entry["recorded"] == (entry["fault"] in RECORDED), entry
        for number in entry["numbers"]:
            faults_of.setdefault(number, []).append(entry["fault"])
    kinds = Counter(f["fault"] for f in sends)
    assert set(kinds) == {"503", *AMBIGUOUS}, kinds
    print(f"faults met by sends: {dict(kinds)}; journal: {Counter(journal_state.values())}")

    # Unknown batches are exactly the requests that met an ambiguous fault.
    ambiguous = [f for f in sends if f["fault"] in AMBIGUOUS]
    unknown_batches = {b for b, st in batch_state.items() if st == "unknown"}
    assert sorted(sorted(f["numbers"]) for f in ambiguous) == sorted(
        sorted(members[b]) for b in unknown_batches
    )
    assert {n for n, st in journal_state.items() if st == "unknown"} == {
        n for f in ambiguous for n in f["numbers"]
    }
    for entry in ambiguous:
        for number in entry["numbers"]:
            # The sandbox kept the send when (and only when) the fault came after recording it.
            assert by_number[number] == (1 if entry["recorded"] else 0), (number, entry)

    # Everything that met only safe faults (503s) or none got through, exactly once.
    met_only_503 = 0
    for number in everyone:
        if AMBIGUOUS & set(faults_of.get(number, ())):
            continue
        met_only_503 += bool(faults_of.get(number))
        assert by_number[number] == 1, (number, faults_of.get(number))
        assert accepted[(number, text_of[number])] == 1
        expected = "failed" if number.endswith("99") else "delivered"
        assert journal_state[number] == expected, (number, faults_of.get(number))
    assert met_only_503 > 0  # the retried ones are among them

    # Nothing the journal calls sent is missing from the sandbox, and the counts add up.
    outcomes = summary["outcomes"]
    states = Counter(journal_state.values())
    assert outcomes == {
        "delivered": states["delivered"],
        "failed": states["failed"],
        "pending": 0,
        "unknown": states["unknown"],
        "not_sent": 0,
    }
    assert sum(outcomes.values()) == load.recipients == summary["rows"]
    recorded_unknown = sum(
        len(f["numbers"]) for f in ambiguous if f["recorded"]
    )  # unknown to the journal, but the sandbox has them
    assert len(messages) == outcomes["delivered"] + outcomes["failed"] + recorded_unknown
    assert summary["batches"] == dict(Counter(batch_state.values()))
    assert summary["batches"]["unknown"] == len(ambiguous)


def test_faults_under_load_nothing_twice_and_everyone_accounted_for(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    run_under_faults(DEFAULT, cli_env, tmp_path)


@pytest.mark.soak
def test_soak_faults_under_load(cli_env: dict[str, str], tmp_path: Path) -> None:
    run_under_faults(SOAK, cli_env, tmp_path)
