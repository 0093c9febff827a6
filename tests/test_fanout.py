"""Planning on every core (masgsm_notify.pipeline.fanout): the same texts in the same order as
composing in the process, workers only for chunks still to come, and no worker that speaks."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from helpers.cli import assert_no_traceback, run_cli, summary_of
from helpers.pipelines import write

from masgsm_notify.compose import Composer
from masgsm_notify.pipeline import fanout
from masgsm_notify.render import compile_text, make_environment
from masgsm_notify.sandbox import SandboxServer

ENV = make_environment()
ENV.globals["pid"] = os.getpid  # which process rendered a text


def chunks(count: int, size: int) -> list[list[tuple[str, dict[str, str]]]]:
    rows = [(f"r.csv:{n + 2}", {"phone": f"0532{n:07d}", "n": str(n)}) for n in range(count)]
    return [rows[start : start + size] for start in range(0, count, size)]


def composer() -> Composer:
    return Composer(
        compile_text(ENV, "{{ phone }}", "number"),
        compile_text(ENV, "Sayın müşteri {{ n }} ({{ pid() }})", "text"),
    )


def test_chunks_past_the_threshold_are_composed_by_workers_in_source_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fanout, "SPREAD_AFTER", 40)
    monkeypatch.setattr(fanout, "_workers", lambda: 2)
    done = list(fanout.composed(composer(), chunks(200, 10)))

    texts = [text for c in done for _, _, text, _, _ in c.messages]
    assert [t.split()[2] for t in texts] == [str(n) for n in range(200)]
    pids = [int(t.rsplit("(", 1)[1].rstrip(")")) for t in texts]
    assert set(pids[:40]) == {os.getpid()}  # composed in the process, up to the threshold
    assert os.getpid() not in pids[40:]  # the rest by workers


def test_no_workers_when_the_threshold_is_the_last_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "SPREAD_AFTER", 40)
    monkeypatch.setattr(fanout, "_workers", lambda: 2)
    started = []
    monkeypatch.setattr(fanout, "_in_workers", lambda *args: started.append(args) or iter(()))

    done = list(fanout.composed(composer(), chunks(40, 10)))

    assert sum(len(c.messages) for c in done) == 40 and started == []


def test_a_process_with_other_threads_composes_alone() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert fanout._workers() == 0
    finally:
        stop.set()
        other.join()


@pytest.mark.parametrize("rows", [fanout.SPREAD_AFTER, fanout.SPREAD_AFTER + 2_500])
def test_a_large_dry_run_plans_every_row_and_no_worker_prints(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path, rows: int
) -> None:
    """At the threshold (no chunk left for workers) and past it: the CLI in its own process,
    where fan-out happens, plans every row once, with nothing on standard error but its own."""
    lines = ["phone,name"] + [f"0532{n:07d},Müşteri {n}" for n in range(rows)]
    (tmp_path / "people.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pipeline = write(
        tmp_path / "large.yaml",
        """
        name: large
        recipients: {csv: people.csv}
        message: {inline: "Sayın {{ name }}, siparişiniz yolda."}
        """,
    )

    result = run_cli(["run", str(pipeline), "--dry-run", "--json", "--preview", "0"], cli_env)

    assert_no_traceback(result)
    assert result.returncode == 0, result.output
    assert "Process ForkPoolWorker" not in result.stderr, result.stderr
    summary = summary_of(result)
    assert (summary["rows"], summary["messages"]) == (rows, rows)
    assert sandbox.messages() == []
