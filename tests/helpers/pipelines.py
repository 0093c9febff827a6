"""Pipeline files in a test's folder, the shipped examples, and runs of them through the CLI."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path
from typing import Literal

from helpers import REPO
from helpers.cli import CliResult, assert_no_traceback, run_cli

# A report section that keeps tests fast against a sandbox settling in tens of milliseconds.
FAST_REPORT = "report: {wait: 5s, poll_every: 100ms}\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write dedented text (creating folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding=encoding)
    return path


def mobile_numbers(count: int, start: int = 0) -> list[str]:
    """Distinct valid mobile numbers, counting from `start` (those ending in 99 end up failed in
    the sandbox)."""
    return [f"534{i:07d}" for i in range(start, start + count)]


def people_pipeline(
    folder: Path,
    numbers: list[str],
    *,
    name: str,
    text: str,
    send: str,
    report: str = FAST_REPORT,
    csv: str | None = None,
    person: str = "Kişi",
    codes: bool = False,
    head: str = "",
) -> Path:
    """`folder/NAME.yaml`: `text` (a Jinja template) to everyone of `folder/CSV` (NAME.csv
    unless named), whose rows are "PERSON i", 0 and the number, and with `codes` a five-digit
    code; sent as `send` (a YAML flow mapping's inside) says. `head` goes first in the file."""
    csv = csv or f"{name}.csv"
    code = (lambda i: f",{i:05d}") if codes else (lambda i: "")
    rows = "".join(f"{person} {i},0{number}{code(i)}\n" for i, number in enumerate(numbers))
    (folder / csv).parent.mkdir(parents=True, exist_ok=True)
    (folder / csv).write_text(f"name,phone{',code' if codes else ''}\n{rows}", encoding="utf-8")
    lines = [
        f"name: {name}",
        f"recipients: {{csv: {csv}}}",
        f"message: {{inline: {_quoted(text)}}}",
        f"send: {{{send}}}",
    ]
    return write(folder / f"{name}.yaml", head + "\n".join(lines) + "\n" + report)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_pipeline(
    pipeline: Path,
    env: dict[str, str],
    *args: str,
    journal: Path | Literal["beside", "default"] = "beside",
    input: str | None = None,
    cwd: Path | None = None,
) -> CliResult:
    """`masgsm-notify run PIPELINE ARGS`, which must not end in a traceback. Its journal is
    `journal`, or PIPELINE.journal.sqlite ("beside"), or the one the CLI chooses ("default")."""
    if journal == "beside":
        journal = pipeline.with_suffix(".journal.sqlite")
    where = [] if journal == "default" else ["--journal", str(journal)]
    result = run_cli(["run", str(pipeline), *where, *args], env, input=input, cwd=cwd)
    assert_no_traceback(result)
    return result


def copy_examples(folder: Path) -> Path:
    """The shipped pipelines and templates, copied to `folder` (returned): tests may edit them."""
    shutil.copytree(REPO / "pipelines", folder / "pipelines", ignore=_generated)
    shutil.copytree(REPO / "templates", folder / "templates")
    return folder / "pipelines"


def _generated(folder: str, names: list[str]) -> list[str]:
    """Leave out what earlier runs may have left in the repository copy (journals, results)."""
    return [n for n in names if n == "results" or ".sqlite" in n or n.endswith(".lock")]


def fast_reports(pipeline: Path) -> Path:
    """The pipeline with a report section that finishes quickly against the test sandbox."""
    text = pipeline.read_text()
    text = re.sub(r"report:\n(  .*\n)+", FAST_REPORT, text)
    pipeline.write_text(text)
    return pipeline
