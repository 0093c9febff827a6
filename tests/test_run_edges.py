"""Edges of a run: run keys over included templates, dry runs over a journal, plugin failures,
--json errors, and notify in sandbox runs. In-process runs against the sandbox over HTTP."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.cli import NO_PLUGINS, run_cli, summary_of
from helpers.pipelines import FAST_REPORT, write

from masgsm_notify.pipeline import UI, Runner, RunOptions, load_pipeline
from masgsm_notify.plugins import get_plugin_manager


class Notes(UI):
    """Keeps what the runner says, for assertions."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def pipeline_with_include(folder: Path, extra: str = "") -> Path:
    write(folder / "templates" / "main.txt.j2", 'Merhaba {{ name }}. {% include "sig.j2" %}\n')
    write(folder / "templates" / "sig.j2", "ACME\n")
    return write(
        folder / "p.yaml",
        textwrap.dedent(f"""
        name: edges
        recipients:
          inline:
            - {{name: Ayşe, phone: "0532 111 22 01"}}
            - {{name: Ömer, phone: "0532 111 22 02"}}
        message:
          template: main.txt.j2
        {FAST_REPORT}
        """)
        + extra,
    )


def run(path: Path, **options) -> tuple[object, Notes]:
    notes = Notes()
    summary = Runner(load_pipeline(path), RunOptions(**options), notes).run()
    return summary, notes


def test_editing_an_included_template_changes_the_derived_run_key(tmp_path, cli_env, monkeypatch):
    for key, value in cli_env.items():
        monkeypatch.setenv(key, value)
    path = pipeline_with_include(tmp_path)
    first, _ = run(path, dry_run=True)
    again, _ = run(path, dry_run=True)
    write(tmp_path / "templates" / "sig.j2", "ACME Mağaza\n")
    edited, _ = run(path, dry_run=True)
    assert first.run_key == again.run_key
    assert edited.run_key != first.run_key


def test_a_dry_run_says_what_the_journal_would_resume(tmp_path, cli_env, monkeypatch, sandbox):
    for key, value in cli_env.items():
        monkeypatch.setenv(key, value)
    path = pipeline_with_include(tmp_path)
    journal = tmp_path / "j.sqlite"
    sent, _ = run(path, journal=journal)
    assert sent.outcomes["delivered"] == 2
    _, notes = run(path, journal=journal, dry_run=True)
    assert any(
        f"Run key {sent.run_key!r} is already in {journal}" in note
        and "send 0 of its 2 message(s)" in note
        for note in notes.notes
    ), notes.notes
    assert len(sandbox.messages()) == 2


class _Refuses:
    """A plugin whose before_batch hook refuses to let anything go."""

    from masgsm_notify.hookspecs import hookimpl

    @hookimpl
    def before_batch(self, run, batch):
        raise RuntimeError("quota exceeded in the CRM")


class _BrokenSink:
    from masgsm_notify.hookspecs import hookimpl

    @hookimpl
    def after_report(self, run, summary):
        raise ValueError("database is down")


@pytest.fixture
def plugin():
    manager = get_plugin_manager()
    registered = []

    def register(instance):
        manager.register(instance)
        registered.append(instance)

    yield register
    for instance in registered:
        manager.unregister(instance)


def test_a_failing_before_batch_hook_stops_the_run_with_nothing_sent(
    tmp_path, cli_env, monkeypatch, sandbox, plugin
):
    for key, value in cli_env.items():
        monkeypatch.setenv(key, value)
    plugin(_Refuses())
    summary, _ = run(pipeline_with_include(tmp_path), journal=tmp_path / "j.sqlite")
    assert summary.exit_code == 1
    assert "quota exceeded in the CRM" in summary.error
    assert summary.outcomes["not_sent"] == 2
    assert sandbox.messages() == []


def test_a_failing_after_report_hook_is_reported_and_the_result_stands(
    tmp_path, cli_env, monkeypatch, sandbox, plugin
):
    for key, value in cli_env.items():
        monkeypatch.setenv(key, value)
    plugin(_BrokenSink())
    summary, notes = run(pipeline_with_include(tmp_path), journal=tmp_path / "j.sqlite")
    assert summary.exit_code == 0
    assert summary.outcomes["delivered"] == 2
    assert any("after_report hook failed: ValueError: database is down" in n for n in notes.notes)


def test_json_mode_prints_an_error_document_on_stdout(tmp_path, cli_env):
    bad = write(tmp_path / "bad.yaml", "name: x\nrecipients: {inline: []}\nmesage: {}\n")
    result = run_cli(["run", str(bad), "--json"], cli_env)
    document = summary_of(result)
    assert result.returncode == 2
    assert document["exit_code"] == 2
    assert "did you mean 'message'?" in document["error"]
    assert "Error:" in result.stderr


def test_a_sandbox_run_does_not_notify_real_targets(tmp_path, monkeypatch):
    monkeypatch.delenv("MASGSM_USER", raising=False)
    path = pipeline_with_include(tmp_path, 'notify:\n  - "json://127.0.0.1:9/never"\n')
    summary, notes = run(path, sandbox=True, journal=tmp_path / "j.sqlite")
    assert summary.outcomes["delivered"] == 2
    assert "notify: skipped, this was a --sandbox run." in notes.notes


def test_progress_shows_on_a_terminal(tmp_path):
    """With standard error on a terminal, the run draws its progress there and still ends well."""
    path = pipeline_with_include(tmp_path)
    leader, follower = pty.openpty()
    done = subprocess.run(
        [sys.executable, "-m", "masgsm_notify", "run", str(path), "--sandbox", "--preview", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        timeout=120,
        env={**os.environ, NO_PLUGINS: "1"},
    )
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert done.returncode == 0, drawn.decode(errors="replace")
    assert b"Sending" in drawn
    assert b"Reports read: 2" in drawn
    assert b"Traceback" not in drawn
    assert b"delivered 2" in done.stdout
