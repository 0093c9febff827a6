"""SIGINT and SIGTERM: while planning, mid-send, and twice.

Mid-send, the first signal stops new batches, waits for those out and records them, then prints
the summary, what was not sent and the command that resumes the run, exit 130 / 143; that
command, run as printed, sends the rest with nothing twice (the sandbox's own record). While
planning nothing has been sent, and the run just stops. A second signal ends the run at once;
the batches it left out are unknown to the resume, as after a crash.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from helpers.cli import assert_no_traceback, env_for, finish, offline, start
from helpers.journal import (
    OF_BATCHES_IN_FLIGHT,
    assert_nothing_twice,
    count,
    journal_standing,
    query,
)
from helpers.pipelines import write
from helpers.stopped import make_pipeline, resume, standing
from helpers.waiting import wait_for

from masgsm_notify.sandbox import SandboxConfig, SandboxServer

RECIPIENTS = 40


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_send_waits_for_batches_out_then_the_resume_sends_the_rest(
    tmp_path: Path, cli_env: dict[str, str], signum: int, code: int
) -> None:
    name = signal.Signals(signum).name
    pipeline = make_pipeline(tmp_path, RECIPIENTS, "batch_size: 4, concurrency: 2")
    journal = tmp_path / "j.sqlite"
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=150) as server:
        env = offline(env_for(server, cli_env))
        process = start(["run", str(pipeline), "--run-key", "sig", "--journal", str(journal)], env)
        wait_for(lambda: len(server.messages()) >= 8, what="the first batches")
        process.send_signal(signum)
        result = finish(process)
        assert_no_traceback(result)
        assert result.returncode == code, result.output
        assert f"{name}: no new batch will leave; waiting for the batches already out" in (
            result.stderr
        )
        assert f"Error: Interrupted by {name} while sending: no batch left after it," in (
            result.stderr
        )
        assert "Delivery report for stops (run key sig):" in result.stdout
        # The batches out were answered and recorded: none is left in flight or unknown.
        sent, never, unknown = standing(result)
        assert (sent, never, unknown) == journal_standing(journal)
        assert unknown == 0 and never > 0
        assert len(server.messages()) == sent

        again = resume(result, env)
        assert_no_traceback(again)
        assert again.returncode == 0, again.output
        accepted = assert_nothing_twice(server, journal, RECIPIENTS)
    assert len(accepted) == RECIPIENTS


def test_a_second_signal_ends_at_once_and_what_was_out_is_unknown(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    pipeline = make_pipeline(tmp_path, RECIPIENTS, "batch_size: 4, concurrency: 2")
    journal = tmp_path / "j.sqlite"
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=1500) as server:
        env = offline(env_for(server, cli_env))
        process = start(
            ["run", str(pipeline), "--run-key", "twice", "--journal", str(journal)], env
        )
        wait_for(lambda: count(journal, "batches") > 0, what="a batch in flight")
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        result = finish(process)
        assert time.monotonic() - started < 1.0  # not the 1.5 s a batch out takes to answer
        assert_no_traceback(result)
        assert result.returncode == 130, result.output
        assert "Stopped at once by a second signal (SIGINT)." in result.stderr
        assert "Batches still out count as unknown, as after a crash." in result.stderr
        out = query(journal, OF_BATCHES_IN_FLIGHT.format("COUNT(*)"))[0][0]
        assert out > 0

        again = resume(result, env)
        assert_no_traceback(again)
        assert again.returncode == 3, again.output  # the unknown ones fail the default fail_if
        assert_nothing_twice(server, journal, RECIPIENTS)
        assert journal_standing(journal) == (RECIPIENTS - out, 0, out)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_planning_just_stops_with_nothing_sent(
    tmp_path: Path, cli_env: dict[str, str], signum: int, code: int
) -> None:
    pipeline = make_pipeline(tmp_path, 200_000, "batch_size: 500")
    journal = tmp_path / "j.sqlite"
    with SandboxServer(SandboxConfig(settle_ms=50)) as server:
        env = offline(env_for(server, cli_env))
        process = start(["run", str(pipeline), "--run-key", "plan", "--journal", str(journal)], env)
        wait_for(lambda: count(journal, "messages") > 0, what="planning to begin")
        process.send_signal(signum)
        result = finish(process)
        assert_no_traceback(result)
        assert result.returncode == code, result.output
        name = signal.Signals(signum).name
        assert f"Error: Interrupted by {name} before sending; nothing was sent" in result.stderr
        assert server.messages() == []
    # The half-written plan is gone: the next run plans afresh.
    assert query(journal, "SELECT COUNT(*) FROM messages") == [(0,)]
    assert query(journal, "SELECT COUNT(*) FROM runs") == [(0,)]


def test_a_signal_while_waiting_for_reports_ends_the_wait_and_says_how_to_read_them(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    write(tmp_path / "people.csv", "name,phone\nA,05341110001\nB,05341110002\n")
    pipeline = write(
        tmp_path / "p.yaml",
        """
        name: waits
        recipients: {csv: people.csv}
        message: {inline: "Merhaba {{ name }}"}
        report: {wait: 5m, poll_every: 1s}
        """,
    )
    journal = tmp_path / "j.sqlite"
    with SandboxServer(SandboxConfig(settle_ms=600_000)) as server:  # reports stay pending
        env = offline(env_for(server, cli_env))
        process = start(["run", str(pipeline), "--run-key", "w", "--journal", str(journal)], env)
        wait_for(lambda: len(server.messages()) == 2, what="the texts to go")
        time.sleep(0.5)  # into the wait for reports
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        result = finish(process)
    assert time.monotonic() - started < 5  # not the five minutes of report.wait
    assert_no_traceback(result)
    assert result.returncode == 143, result.output
    assert "SIGTERM: no more waiting for delivery reports." in result.stderr
    assert (
        "Error: Interrupted by SIGTERM while waiting for delivery reports (everything was sent); "
        f"read them later with: masgsm-notify check w --journal {journal}" in result.stderr
    )
    assert "pending 2" in result.stdout
