"""Runs that go wrong on purpose: the pipeline they run, and the resume command they print."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from helpers.cli import CliResult, run_cli
from helpers.pipelines import mobile_numbers, people_pipeline


def make_pipeline(folder: Path, count: int, send: str, name: str = "stops") -> Path:
    """A pipeline of `count` recipients, one text each, sent as `send` (a YAML flow mapping's
    inside) says; delivery reports are not waited for."""
    return people_pipeline(
        folder,
        mobile_numbers(count),
        name=name,
        text="Merhaba {{ name }}, siparişiniz yolda.",
        send=send,
        report="report: {check: false}\n",
    )


def resume_args(result: CliResult) -> list[str]:
    """The arguments of the `Resume with: masgsm-notify ...` command the run printed."""
    found = re.search(r"Resume with: masgsm-notify (.+)$", result.stderr, re.MULTILINE)
    assert found, result.output
    return shlex.split(found[1])


def resume(result: CliResult, env: dict[str, str], cwd: Path | None = None) -> CliResult:
    """Run the command the stopped run printed, exactly as printed."""
    return run_cli(resume_args(result), env, cwd=cwd)


def standing(result: CliResult) -> tuple[int, int, int]:
    """(sent, never left, unknown) as the stopped run's message says them."""
    found = re.search(
        r"So far ([\d,]+) recipient\(s\) sent, ([\d,]+) never left, ([\d,]+) unknown\.",
        result.stderr,
    )
    assert found, result.output
    sent, never, unknown = (int(n.replace(",", "")) for n in found.groups())
    return sent, never, unknown
