"""The README shows what the commands print: the `make demo` block is checked against a run of
the command `make demo` runs, up to what differs from run to run (port, run key, timings)."""

from __future__ import annotations

import re
import shlex

from helpers import REPO
from helpers.cli import run_cli

VARYING = [
    (re.compile(r"127\.0\.0\.1(:|%3A)\d+"), r"127.0.0.1\1PORT"),
    (re.compile(r"run key demo-[0-9a-f]+"), "run key demo-KEY"),
    (re.compile(r"\d+\.\d\d s\b"), "T s"),
    (re.compile(r" \([\d,]+/s\)"), " (R/s)"),
    (re.compile(r"in \d+ round\(s\)"), "in N round(s)"),
    (re.compile(r"\(\d+ [kM]B\)"), "(SIZE)"),
]


def _steady(text: str) -> str:
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return text


def _demo_block() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What `make demo` shows", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    make = re.search(r"^demo:.*\n\t\$\(BIN\)/(.*)$", (REPO / "Makefile").read_text(), re.M)
    assert make is not None
    assert lines[:2] == ["$ make demo", f".venv/bin/{make.group(1)}"]
    return lines[2:]


def _demo_block_command() -> list[str]:
    """The arguments `make demo` gives masgsm-notify."""
    make = re.search(
        r"^demo:.*\n\t\$\(BIN\)/masgsm-notify (.*)$", (REPO / "Makefile").read_text(), re.M
    )
    assert make is not None
    return shlex.split(make.group(1))


def test_the_readme_shows_what_make_demo_prints(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if not k.startswith("MASGSM_") or k.endswith("DIR")}

    command = _demo_block_command()
    result = run_cli(command, env, cwd=REPO)

    assert result.returncode == 0, result.output
    assert result.stderr == ""
    assert _steady(result.stdout).splitlines() == [_steady(line) for line in _demo_block()]
