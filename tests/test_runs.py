"""`masgsm-notify runs`: past runs from every journal the state directory knows, with their
counts and state, read while a run is sending without ever taking its lock."""

from __future__ import annotations

import json
import subprocess
import time

from helpers.cli import CLI, assert_no_traceback, env_for, run_cli
from helpers.pipelines import FAST_REPORT, write

from masgsm_notify.sandbox import SandboxConfig, SandboxServer


def _pipeline(folder, name: str, count: int, batch_size: int = 500):
    rows = "".join(f'    - {{phone: "0532{i:07d}"}}\n' for i in range(count))
    return write(
        folder / f"{name}.yaml",
        f"name: {name}\nrecipients:\n  inline:\n{rows}"
        f"message: {{inline: 'Merhaba from {name}'}}\n"
        f"send: {{batch_size: {batch_size}, concurrency: 1}}\n" + FAST_REPORT,
    )


def _runs(env, cwd, *args: str) -> list[dict]:
    result = run_cli(["runs", "--json", *args], env, cwd=cwd)
    assert result.returncode == 0, result.output
    return json.loads(result.stdout)["runs"]


def test_runs_lists_every_journal_newest_first_with_counts_and_state(
    sandbox, cli_env, tmp_path
) -> None:
    _pipeline(tmp_path, "alpha", 3)
    _pipeline(tmp_path, "beta", 2)
    other_journal = tmp_path / "elsewhere" / "own.sqlite"
    assert run_cli(["runs"], cli_env, cwd=tmp_path).stdout == "No runs yet (no journal found).\n"

    done = [
        run_cli(["run", "alpha.yaml", "--run-key", "a1", "--limit", "1"], cli_env, cwd=tmp_path),
        run_cli(["run", "beta.yaml", "--run-key", "b1"], cli_env, cwd=tmp_path),
        run_cli(
            ["run", "alpha.yaml", "--run-key", "a2", "--journal", str(other_journal)],
            cli_env,
            cwd=tmp_path,
        ),
        run_cli(
            ["run", "alpha.yaml", "--run-key", "a3", "-n"], cli_env, cwd=tmp_path
        ),  # no journal
    ]
    assert [r.returncode for r in done] == [0, 0, 0, 0], [r.output for r in done]

    listed = _runs(cli_env, tmp_path)
    text = run_cli(["runs"], cli_env, cwd=tmp_path)

    assert [r["run_key"] for r in listed] == ["a2", "b1", "a1"]
    a2, b1, a1 = listed
    assert (a1["state"], a1["held"], a1["outcomes"]["delivered"]) == ("limited", 2, 1)
    assert (b1["state"], b1["outcomes"]["delivered"], b1["name"]) == ("finished", 2, "beta")
    # a2 sent the same texts as a1 to the same numbers: the ledger held back a1's one text.
    assert (a2["state"], a2["already_sent"], a2["outcomes"]["delivered"]) == ("finished", 1, 2)
    assert a2["journal"] == str(other_journal.resolve())
    assert a1["pipeline"] == str((tmp_path / "alpha.yaml").resolve())
    assert a1["started"] <= a1["ended"] <= b1["started"]  # ISO times, to the second
    assert text.returncode == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["STARTED", "ENDED", "STATE", "PIPELINE", "RUN", "KEY", "COUNTS"]
    assert "limited   alpha" in lines[3] and "1 delivered, 2 held; 1 credit(s)" in lines[3]
    assert "finished  beta" in lines[2] and lines[2].endswith("2 delivered; 2 credit(s)")

    last_two = run_cli(["runs", "--last", "2"], cli_env, cwd=tmp_path)
    assert len(last_two.stdout.splitlines()) == 4  # header, two runs, how many more
    assert last_two.stdout.rstrip().endswith("... and 1 older run(s); --last 0 shows them all.")
    assert [r["run_key"] for r in _runs(cli_env, tmp_path, "--journal", str(other_journal))] == [
        "a2"
    ]


def test_runs_shows_a_run_sending_planned_and_interrupted(cli_env, tmp_path) -> None:
    """Read while the run holds its journal's lock (a reader never takes it), then after it is
    killed mid-send; a run that stopped before sending is planned."""
    with SandboxServer(SandboxConfig(settle_ms=20), latency_ms=150) as slow:
        env = env_for(slow, cli_env)
        _pipeline(tmp_path, "slow", 40, batch_size=2)  # 20 requests of 150 ms
        process = subprocess.Popen(
            [*CLI, "run", "slow.yaml", "--run-key", "s"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline, states = time.monotonic() + 20, []
            while time.monotonic() < deadline and "sending" not in states:
                states = [r["state"] for r in _runs(env, tmp_path)]
                time.sleep(0.1)
            assert states == ["sending"]
            while not slow.messages() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            process.kill()  # as a crash would: no chance to tidy up
            process.wait()
        sent = len(slow.messages())
    assert 0 < sent < 40

    with SandboxServer(SandboxConfig(balance=1)) as poor:
        _pipeline(tmp_path, "poor", 3)
        stopped = run_cli(
            ["run", "poor.yaml", "--run-key", "p"], env_for(poor, cli_env), cwd=tmp_path
        )
    assert stopped.returncode == 1, stopped.output

    listed = {r["run_key"]: r for r in _runs(cli_env, tmp_path)}
    assert listed["s"]["state"] == "interrupted"
    assert listed["s"]["outcomes"]["not_sent"] + listed["s"]["outcomes"]["unknown"] > 0
    assert listed["p"]["state"] == "planned"
    assert listed["p"]["credits_sent"] == 0


def test_runs_skips_a_file_that_is_not_a_journal(cli_env, tmp_path) -> None:
    bogus = tmp_path / "bogus.journal.sqlite"  # an old-style name beside a pipeline
    bogus.write_text("not a database")

    result = run_cli(["runs"], cli_env, cwd=tmp_path)

    assert result.returncode == 0, result.output
    assert_no_traceback(result)
    assert "Skipped: " in result.stderr and "bogus.journal.sqlite" in result.stderr
    assert result.stdout.startswith("No runs yet")
