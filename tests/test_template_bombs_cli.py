"""Template bombs through the CLI: in a message template, every bomb of
tests/test_template_limits.py is exit 2 with nothing sent; in a `notify:` URL template, the bomb
is refused before anything is sent. Each run is a real subprocess against the sandbox, its peak
memory measured by the kernel."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.http import ScriptedServer
from helpers.pipelines import FAST_REPORT, write
from test_template_limits import BOMBS, run_measured

from masgsm_notify.sandbox import SandboxServer

WITHIN = 30.0  # seconds: a bounded render takes milliseconds; an unbounded one, minutes


@pytest.mark.parametrize("name", list(BOMBS))
def test_a_bomb_in_a_message_template_is_exit_2_and_sends_nothing(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path, name: str
) -> None:
    source, what, limit = BOMBS[name]
    write(tmp_path / "people.csv", "name,phone\nAyşe,05321116001\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "bomb.txt.j2").write_text(source, encoding="utf-8")
    pipeline = write(
        tmp_path / "p.yaml",
        "name: bomb\nrecipients: {csv: people.csv}\nmessage: {template: bomb.txt.j2}\n"
        + FAST_REPORT,
    )

    started = time.monotonic()
    code, _, err, peak_mb = run_measured(
        ["-m", "masgsm_notify", "run", str(pipeline)], cli_env, tmp_path
    )
    seconds = time.monotonic() - started

    assert code == 2, err
    assert "Traceback" not in err, err
    template = tmp_path / "templates" / "bomb.txt.j2"
    assert f"people.csv:2: template {template} line 1: " in err, err
    assert what in err and limit in err, err
    assert seconds < WITHIN and peak_mb < 100, (seconds, peak_mb)
    assert sandbox.messages() == []


NOTIFY_BOMB = """
name: notify-bomb
recipients: {inline: [{phone: "05321116101"}]}
message: {inline: "Gece yedeği bitti."}
notify:
  - "json://127.0.0.1:PORT/ok"
  - "json://127.0.0.1:PORT/{{ 'x'|center(300000000) }}"
"""


def test_a_bomb_in_a_notify_url_is_refused_before_anything_is_sent(
    sandbox: SandboxServer,
    cli_env: dict[str, str],
    scripted_server: ScriptedServer,
    tmp_path: Path,
) -> None:
    """The URL templates see only `env`, so they are rendered when the run starts: a render
    past `limits:` is bad input (exit 2, naming notify[1]), found as a syntax error would be."""
    text = NOTIFY_BOMB.replace("PORT", str(scripted_server.port)) + FAST_REPORT
    pipeline = write(tmp_path / "p.yaml", text)

    started = time.monotonic()
    code, out, err, peak_mb = run_measured(
        ["-m", "masgsm_notify", "run", str(pipeline)], cli_env, tmp_path
    )
    seconds = time.monotonic() - started
    validated = run_cli(["validate", str(pipeline)], cli_env)

    assert code == 2, out + err
    assert "Traceback" not in err, err
    assert (
        f"{pipeline}: notify[1]: line 1: |center would make a text "
        "of 300,000,000 characters, more than limits.output_chars (100,000)"
    ) in err, err
    assert seconds < WITHIN and peak_mb < 100, (seconds, peak_mb)
    assert sandbox.messages() == []
    assert scripted_server.requests == []  # no notice either, not even to the good URL
    assert validated.returncode == 2, validated.output
    assert "notify[1]" in validated.stderr and "limits.output_chars" in validated.stderr

    # The same pipeline without the bomb sends the text and then the notice.
    fixed = write(tmp_path / "fixed.yaml", text.replace("{{ 'x'|center(300000000) }}", "two"))
    result = run_cli(["run", str(fixed)], cli_env)
    assert result.returncode == 0, result.output
    assert [m["number"] for m in sandbox.messages()] == ["5321116101"]
    assert sorted(r.path for r in scripted_server.requests) == ["/ok", "/two"]
