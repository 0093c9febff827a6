"""Spending and pace: `send.max_credits` and `send.rate`, end to end against the sandbox.

A plan that costs more than `max_credits` is refused with nothing sent (exit 2); a resume whose
earlier attempts already spent (or may have spent) part of the cap stops before the batch that
would pass it. `rate` holds texts per second across batches and workers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from helpers.cli import assert_no_traceback, env_for, offline, run_cli, summary_of
from helpers.stopped import make_pipeline, resume, standing

from masgsm_notify.pipeline.limits import Pace, SpendingCap, paced_batch_size
from masgsm_notify.sandbox import FaultPlan, SandboxConfig, SandboxServer


def test_a_plan_over_max_credits_is_refused_with_nothing_sent(tmp_path: Path, cli_env, sandbox):
    pipeline = make_pipeline(tmp_path, 10, "max_credits: 9")
    result = run_cli(["run", str(pipeline), "--run-key", "k"], cli_env)
    assert_no_traceback(result)
    assert result.returncode == 2, result.output
    assert (
        "Error: The plan needs 10 credits to send but send.max_credits is 9; nothing was sent."
        in result.stderr
    )
    assert sandbox.messages() == []

    dry = run_cli(["run", str(pipeline), "-n"], cli_env)
    assert dry.returncode == 2, dry.output  # as the real run would
    assert "PROBLEM: The plan needs 10 credits to send but send.max_credits is 9" in dry.stdout

    within = make_pipeline(tmp_path, 10, "max_credits: 10", name="within")
    assert run_cli(["run", str(within)], cli_env).returncode == 0
    assert len(sandbox.messages()) == 10


def test_a_resume_stops_before_the_batch_that_would_pass_max_credits(tmp_path: Path, cli_env):
    journal = tmp_path / "j.sqlite"
    args = ["--run-key", "cap", "--journal", str(journal)]
    # The first batch's answer is lost after the sandbox recorded it: unknown, maybe paid for.
    faults = FaultPlan(queue=["drop_after"])
    with SandboxServer(SandboxConfig(settle_ms=50), faults=faults) as server:
        env = offline(env_for(server, cli_env))
        pipeline = make_pipeline(tmp_path, 10, "batch_size: 5, concurrency: 1")
        first = run_cli(["run", str(pipeline), *args], env)
        assert first.returncode == 3, first.output
        assert len(server.messages()) == 10

        # Sending the unknown five again would bring the run to 15 credits: over 12.
        pipeline = make_pipeline(tmp_path, 10, "batch_size: 5, concurrency: 1, max_credits: 12")
        again = run_cli(["run", str(pipeline), *args, "--resend-unknown", "--json"], env)
        assert_no_traceback(again)
        assert again.returncode == 1, again.output  # texts of this run went before: not 2
        assert (
            "The next batch needs 5 credits, and this run has spent (or may have spent) 10 of "
            "its send.max_credits 12: it stopped before that batch." in again.stderr
        )
        assert standing(again) == (5, 5, 0)
        assert summary_of(again)["exit_code"] == 1
        assert len(server.messages()) == 10  # nothing more was sent

        # With the cap raised, the printed command sends them (the --resend-unknown was
        # applied by the run above: they are sendable now).
        make_pipeline(tmp_path, 10, "batch_size: 5, concurrency: 1, max_credits: 15")
        done = resume(again, env)
        assert done.returncode == 0, done.output
        assert len(server.messages()) == 15


def test_rate_holds_texts_per_second_across_batches(tmp_path: Path, cli_env, sandbox):
    paced = make_pipeline(tmp_path, 20, "batch_size: 500, concurrency: 4, rate: 10")
    result = run_cli(["run", str(paced), "--json"], cli_env)
    assert result.returncode == 0, result.output
    summary = summary_of(result)
    took = summary["timings"]["send"]
    assert 1.9 <= took < 3.0, took  # 20 texts at 10 a second: 2 s
    assert summary["batches"] == {"sent": 2}  # batches of a second's worth: 10 texts
    assert len(sandbox.messages()) == 20

    free = make_pipeline(tmp_path, 20, 'batch_size: 500, dedupe: "off"', name="free")
    unpaced = summary_of(run_cli(["run", str(free), "--json"], cli_env))
    assert unpaced["timings"]["send"] < 0.5


def test_the_pace_is_accurate_over_a_run_whatever_the_batches():
    pace = Pace(400)
    stopping = threading.Event()
    started = time.monotonic()
    for size in [7, 50, 1, 13, 29, 100, 1, 99] * 2:  # 600 texts: 1.5 s at 400 a second
        assert pace.wait(size, stopping)
    took = time.monotonic() - started
    assert 1.5 <= took < 1.5 * 1.04, took


def test_a_stop_ends_the_wait_for_the_pace():
    pace = Pace(1)
    stopping = threading.Event()
    threading.Timer(0.1, stopping.set).start()
    started = time.monotonic()
    assert not pace.wait(5, stopping)  # five seconds' worth, cut short
    assert time.monotonic() - started < 1


def test_the_cap_counts_what_went_and_gives_back_what_did_not():
    cap = SpendingCap(10, spent=4)
    assert cap.refuse(6) is None
    cap.take(6)
    assert cap.refuse(1) is not None
    cap.give_back(6)  # that batch was refused: nothing was paid
    assert cap.refuse(6) is None
    assert SpendingCap(None, spent=10**9).refuse(10**9) is None
    assert paced_batch_size(500, 10) == 10
    assert paced_batch_size(500, 0.5) == 1
    assert paced_batch_size(5, 100) == 5
    assert paced_batch_size(500, None) == 500
