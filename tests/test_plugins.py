"""An outside plugin, installed the way pip would leave it, loaded through the entry-point group.

The plugin is a module plus a `*.dist-info` folder with `entry_points.txt` on the subprocess's
PYTHONPATH: exactly what importlib.metadata (and so pluggy) finds for an installed distribution.
It adds a recipient source, a filter, and two hooks that write what they see to a file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import NO_PLUGINS, assert_no_traceback, run_cli
from helpers.pipelines import FAST_REPORT, write
from helpers.plugins import with_plugin
from helpers.sandbox import texts_by_number

from masgsm_notify.sandbox import SandboxServer

PLUGIN = '''
"""A third-party masgsm-notify plugin, for the tests."""

import os

from masgsm_notify.hookspecs import hookimpl
from masgsm_notify.sources import Source, SourceError


class NumbersRange(Source):
    """`numbers_range: {start: 5321114000, count: 3}`: consecutive numbers."""

    name = "numbers_range"

    def rows(self):
        try:
            start, count = int(self.value["start"]), int(self.value["count"])
        except (TypeError, KeyError, ValueError):
            raise SourceError(f"{self.context.where}: numbers_range needs start and count")
        for index in range(count):
            yield f"numbers_range[{index}]", {"phone": f"0{start + index}", "index": index}


def _log(line):
    with open(os.environ["MYPLUGIN_LOG"], "a", encoding="utf-8") as file:
        file.write(line + "\\n")


@hookimpl
def register_sources(register):
    register("numbers_range", NumbersRange)


@hookimpl
def register_filters(register):
    register("shout", lambda text: str(text).upper() + "!")


@hookimpl
def after_batch(run, batch, outcome):
    _log(f"after_batch {run.name} {len(batch.numbers)} {outcome.state}")


@hookimpl
def after_report(run, summary):
    _log(f"after_report {run.name} delivered={summary.outcomes['delivered']}")
'''


@pytest.fixture
def plugin_env(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`cli_env` with the plugin "installed" on the subprocess's path, and outside plugins on
    (the suite switches them off everywhere else)."""
    env = with_plugin(cli_env, tmp_path / "site", "myplugin", PLUGIN, "myplugin")
    return {**env, "MYPLUGIN_LOG": str(tmp_path / "hooks.log")}


def test_plugins_lists_the_outside_plugin_with_its_hooks(plugin_env: dict[str, str]) -> None:
    result = run_cli(["plugins"], plugin_env)

    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        "myplugin (myplugin 0.1): after_batch, after_report, register_filters, register_sources"
        in lines
    )
    assert any(line.startswith("masgsm_notify.sources (built-in): ") for line in lines)
    assert lines[-1].startswith("myplugin ")  # built-ins first, then the installed ones


def test_no_plugins_variable_hides_the_outside_plugin(
    plugin_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**plugin_env, NO_PLUGINS: "1"}
    listed = run_cli(["plugins"], env)
    pipeline = write(
        tmp_path / "p.yaml",
        "name: plugged\nrecipients: {numbers_range: {start: 5321114000, count: 3}}\n"
        "message: {inline: hi}\n",
    )
    refused = run_cli(["run", str(pipeline), "--journal", str(tmp_path / "j.sqlite")], env)

    assert listed.returncode == 0, listed.output
    assert "myplugin" not in listed.stdout
    assert "masgsm_notify.sources (built-in)" in listed.stdout
    assert refused.returncode == 2, refused.output
    assert_no_traceback(refused)
    assert "p.yaml:2:" in refused.stderr and "name a source (csv, jsonl" in refused.stderr


def test_pipeline_uses_the_plugin_source_filter_and_hooks(
    sandbox: SandboxServer, plugin_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = write(
        tmp_path / "plugged.yaml",
        """
        name: plugged
        recipients:
          numbers_range: {start: 5321114000, count: 3}
          number: "{{ phone }}"
        message:
          inline: "{{ 'merhaba'|shout }} {{ index }}"
        send: {batch_size: 2}
        """
        + FAST_REPORT,
    )

    result = run_cli(["run", str(pipeline), "--journal", str(tmp_path / "j.sqlite")], plugin_env)

    assert result.returncode == 0, result.output
    assert_no_traceback(result)
    assert texts_by_number(sandbox) == {
        "5321114000": ["MERHABA! 0"],
        "5321114001": ["MERHABA! 1"],
        "5321114002": ["MERHABA! 2"],
    }
    calls = (tmp_path / "hooks.log").read_text(encoding="utf-8").splitlines()
    assert sorted(calls[:2]) == ["after_batch plugged 1 sent", "after_batch plugged 2 sent"]
    assert calls[2:] == ["after_report plugged delivered=3"]
    assert "numbers_range[0]" in result.stdout  # the plugin's row names reach the plan
