"""MASGSM going away: before sending (the pre-flight reads) and in the middle of a run.

The run retries what cannot have reached the provider, saying so on standard error, and gives
up once the provider has been unreachable for `send.give_up_after` in a row (shortened here).
It then says how many recipients were sent, never left or are unknown, and the command that
resumes it; run as printed once the provider is back, that command finishes the run with
nothing sent twice, by the sandbox's own record.
"""

from __future__ import annotations

import contextlib
import time
from itertools import islice
from pathlib import Path

from helpers.cli import assert_no_traceback, env_for, finish, offline, run_cli, start
from helpers.http import closed_port
from helpers.journal import assert_nothing_twice, journal_standing
from helpers.stopped import make_pipeline, resume, resume_args, standing
from helpers.waiting import wait_for

from masgsm_notify.pipeline.patience import Patience
from masgsm_notify.retry import Outage
from masgsm_notify.sandbox import SandboxConfig, SandboxServer

RECIPIENTS = 40


def test_an_unreachable_api_in_pre_flight_says_so_then_gives_up(tmp_path: Path, cli_env):
    port = closed_port()
    pipeline = make_pipeline(tmp_path, 3, "give_up_after: 2s")
    env = {**cli_env, "MASGSM_BASE_URL": f"http://127.0.0.1:{port}/MasApiV2"}
    started = time.monotonic()
    result = run_cli(["run", str(pipeline), "--run-key", "k"], env)
    took = time.monotonic() - started
    assert_no_traceback(result)
    assert result.returncode == 1, result.output
    line = f"MASGSM unreachable at 127.0.0.1:{port} (connection refused); retrying in 0.5 s;"
    assert line + " giving up at 2 s." in result.stderr
    assert (
        f"Error: MASGSM unreachable at 127.0.0.1:{port} (connection refused) for 2 s, so the run "
        "gave up (send.give_up_after: 2s). Nothing was sent" in result.stderr
    )
    assert took < 15  # 2 s of retries, not 31 s of silence


def test_the_provider_going_down_mid_run_stops_it_and_the_printed_command_resumes_it(
    tmp_path: Path, cli_env
):
    pipeline = make_pipeline(
        tmp_path, RECIPIENTS, "batch_size: 4, concurrency: 2, give_up_after: 2s"
    )
    journal = tmp_path / "elsewhere.sqlite"
    config = SandboxConfig(settle_ms=50)
    first = SandboxServer(config, latency_ms=60).start()
    port = int(first.base_url.split(":")[2].split("/")[0])
    env = offline(env_for(first, cli_env))
    try:
        process = start(
            ["run", str(pipeline), "--run-key", "outage", "--journal", str(journal)], env
        )
        wait_for(lambda: len(first.messages()) >= 8, what="the first batches")
    finally:
        first.stop()  # MASGSM goes down: connections closed, new ones refused
    result = finish(process)
    assert_no_traceback(result)
    assert result.returncode == 1, result.output
    assert f"MASGSM unreachable at 127.0.0.1:{port} (connection refused); retrying in" in (
        result.stderr
    )
    assert "for 2 s, so the run gave up (send.give_up_after: 2s)." in result.stderr
    # What the run says is what the journal holds, and what the sandbox accepted.
    sent, never, unknown = standing(result)
    assert (sent, never, unknown) == journal_standing(journal)
    assert sent + never + unknown == RECIPIENTS
    assert never > 0
    assert len(first.messages()) in range(sent, sent + unknown + 1)
    assert resume_args(result) == [
        "run",
        str(pipeline),
        "--run-key",
        "outage",
        "--journal",
        str(journal),
    ]

    # MASGSM comes back (same address, same record); the printed command finishes the run.
    with SandboxServer(config, port=port, state=first.state) as back:
        again = resume(result, env)
        assert_no_traceback(again)
        assert again.returncode in (0, 3), again.output  # 3: unknowns are not sent again
        accepted = assert_nothing_twice(back, journal, RECIPIENTS)
    assert journal_standing(journal) == (RECIPIENTS - unknown, 0, unknown)
    assert len(accepted) >= RECIPIENTS - unknown


def test_a_success_stops_the_outage_clock_and_every_caller_gives_up_together():
    now = [0.0]
    outage = Outage(10, clock=lambda: now[0])

    def fail() -> None:
        raise ConnectionError("refused")

    def failing() -> None:
        with contextlib.suppress(ConnectionError):
            outage.attempt(fail, ConnectionError)

    failing()
    now[0] = 6
    assert outage.lasted == 6 and not outage.over
    pauses = outage.pauses()
    assert [next(pauses), next(pauses), next(pauses), next(pauses)] == [0.5, 1, 2, 4]
    assert outage.attempt(lambda: "answered", ConnectionError) == "answered"
    assert outage.lasted == 0  # a success, whoever made it, starts the clock again
    failing()
    now[0] = 16
    assert outage.over
    assert list(outage.pauses()) == []  # no caller retries past the give-up moment
    pauses = Outage(10, clock=lambda: now[0]).pauses()
    assert list(islice(pauses, 6)) == [0.5, 1, 2, 4, 8, 8]  # up to the ceiling, not past it


def test_retry_lines_are_rate_limited_across_workers():
    said: list[str] = []
    patience = Patience(60, said.append)
    refused = ConnectionRefusedError()
    for _ in range(20):  # four workers retrying at once
        patience.on_retry(refused, 0.5)
    assert len(said) == 1
