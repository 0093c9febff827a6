"""`fail_if` over the rows the sent ledger and merging set aside, and `runs` reading a journal
another run holds. Real CLI runs against the sandbox, whose record is the truth."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from helpers.cli import CLI, assert_no_traceback, env_for, run_cli, summary_of
from helpers.journal import query
from helpers.pipelines import write
from helpers.sandbox import numbers_sent

from masgsm_notify.sandbox import SandboxConfig, SandboxServer


def pipeline(folder: Path, name: str, numbers: list[str], fail_if: str, extra: str = "") -> Path:
    rows = "".join(f"    - {{phone: '0{n}'}}\n" for n in numbers)
    return write(
        folder / f"{name}.yaml",
        f"name: {name}\nrecipients:\n  inline:\n{rows}"
        f"message: {{inline: 'Kargonuz yolda ({name}).'}}\n"
        f"{extra}report: {{wait: 5s, poll_every: 100ms, fail_if: '{fail_if}'}}\n",
    )


def run(path: Path, env: dict[str, str], *args: str):
    result = run_cli(["run", str(path), "--json", *args], env)
    assert_no_traceback(result)
    return result


def test_fail_if_already_sent_fails_the_rerun_that_the_ledger_holds_back(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    numbers = ["5321114101", "5321114102"]
    path = pipeline(tmp_path, "ledger", numbers, "already_sent > 0")

    first = run(path, cli_env, "--run-key", "k1")
    second = run(path, cli_env, "--run-key", "k2")
    human = run_cli(["check", "k2"], cli_env)

    assert first.returncode == 0, first.output
    assert summary_of(first)["already_sent"] == 0
    assert second.returncode == 3, second.output
    held_back = summary_of(second)
    assert held_back["already_sent"] == 2 and held_back["failing"] is True
    assert held_back["outcomes"]["delivered"] == 0
    assert human.returncode == 3, human.output
    assert "fail_if: already_sent > 0 -> FAIL" in human.stdout, human.stdout
    assert numbers_sent(sandbox) == {n: 1 for n in numbers}  # the ledger sent nothing twice


@pytest.mark.parametrize(("repeated", "code"), [(True, 3), (False, 0)])
def test_fail_if_merged(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path, repeated: bool, code: int
) -> None:
    numbers = ["5321114201", "5321114202"] + (["5321114201"] if repeated else [])
    path = pipeline(tmp_path, "merged", numbers, "merged > 0")

    result = run(path, cli_env)

    assert result.returncode == code, result.output
    summary = summary_of(result)
    assert summary["merged"] == (1 if repeated else 0)
    assert summary["failing"] is repeated
    assert summary["outcomes"]["delivered"] == (3 if repeated else 2)  # merged rows share one
    assert numbers_sent(sandbox) == {"5321114201": 1, "5321114202": 1}


def test_runs_lists_a_run_while_it_holds_the_journal(cli_env: dict[str, str], tmp_path) -> None:
    """`runs --journal J` while `run --journal J` is sending (and holds J's writer lock): exit
    0 and the run listed as sending; a second writer is refused meanwhile, so the lock was held."""
    numbers = [f"53211143{i:02d}" for i in range(30)]
    path = pipeline(
        tmp_path, "held", numbers, "failed > 0", "send: {batch_size: 2, concurrency: 1}\n"
    )
    journal = tmp_path / "shared.sqlite"
    with SandboxServer(SandboxConfig(settle_ms=20), latency_ms=200) as slow:
        env = env_for(slow, cli_env)
        holder = subprocess.Popen(
            [*CLI, "run", str(path), "--journal", str(journal), "--run-key", "busy"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not slow.messages():
                assert time.monotonic() < deadline and holder.poll() is None
                time.sleep(0.02)
            listed = run_cli(["runs", "--journal", str(journal), "--json"], env)
            text = run_cli(["runs", "--journal", str(journal)], env)
            writer = run_cli(["run", str(path), "--journal", str(journal), "--run-key", "x"], env)
            during = len(slow.messages())
            _, stderr = holder.communicate(timeout=120)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()

    for result in (listed, text):
        assert_no_traceback(result)
        assert result.returncode == 0, result.output
        assert "in use" not in result.output
    [busy] = json.loads(listed.stdout)["runs"]
    assert (busy["run_key"], busy["state"]) == ("busy", "sending")
    header, line = text.stdout.splitlines()
    assert header.split()[2:6] == ["STATE", "PIPELINE", "RUN", "KEY"], header
    assert line.split()[3:6] == ["sending", "held", "busy"], line
    assert writer.returncode == 1 and f"is in use by pid {holder.pid}" in writer.stderr
    assert 0 < during < len(numbers)  # read in the middle of the send
    assert holder.returncode == 0, stderr  # the run was not disturbed by its reader
    assert numbers_sent(slow) == {n: 1 for n in numbers}
    assert query(journal, "SELECT run_key FROM runs") == [("busy",)]
