"""A send window that is closed right now (worked out from the clock in Europe/Istanbul, where
windows are judged by default): serve parks the payload instead of sending it, and validate
says the window is closed, exit 0, with no connection made and nothing written."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path

from helpers.cli import assert_no_traceback, offline, run_cli
from helpers.http import ScriptedServer
from helpers.pipelines import FAST_REPORT, write
from helpers.serve import queue_rows, start_serve
from helpers.waiting import wait_for

from masgsm_notify.sandbox import SandboxServer

ISTANBUL = zoneinfo.ZoneInfo("Europe/Istanbul")


def closed_window() -> tuple[str, dt.datetime]:
    """A one-hour window opening two hours from now (so closed for the whole test), and the
    minute it opens."""
    opens = (dt.datetime.now(ISTANBUL) + dt.timedelta(hours=2)).replace(second=0, microsecond=0)
    closes = opens + dt.timedelta(hours=1)
    return f"{opens:%H:%M}-{closes:%H:%M}", opens


def window_pipeline(folder: Path, window: str) -> Path:
    return write(
        folder / "notice.yaml",
        "name: notice\n"
        "recipients:\n"
        "  inline: [{}]\n"
        '  number: "{{ input.to }}"\n'
        'message: {inline: "{{ input.text }}", title: MASGSMTEST}\n'
        f'send: {{window: "{window}"}}\n' + FAST_REPORT,
    )


def test_serve_parks_a_payload_outside_the_window_and_sends_nothing(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    window, opens = closed_window()
    pipeline = window_pipeline(tmp_path, window)
    state = Path(cli_env["MASGSM_STATE_DIR"])
    serve = start_serve([str(pipeline)], cli_env, tmp_path)
    try:
        answer = serve.post("notice", {"to": "5321117001", "text": "Gece bakımı 02:00'de."})
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"status": "accepted", "id": 1}
        parked = wait_for(
            lambda: [r for r in queue_rows(state) if r["error"]], what="the payload parked"
        )
        listed = run_cli(["queue", "list"], cli_env)
        as_json = run_cli(["queue", "list", "--json"], cli_env)
        metrics = serve.metrics()
    finally:
        assert serve.stop() == 0

    [row] = parked
    assert row["state"] == "waiting"
    assert row["not_before"] == opens.timestamp()  # the minute the window opens
    # In the window's own zone, as the pipeline names it, whatever the server's zone is.
    assert row["error"] == f"the send window is closed until {opens:%Y-%m-%d %H:%M} +03", row
    assert row["texts"] == 0 and row["sent_at"] is None
    assert sandbox.messages() == []
    assert listed.returncode == 0, listed.output
    assert "#1  notice  waiting" in listed.stdout, listed.stdout
    assert "next try at " in listed.stdout and "the send window is closed until " in listed.stdout
    [entry] = json.loads(as_json.stdout)
    assert (entry["id"], entry["state"]) == (1, "waiting")
    assert metrics.get('masgsm_texts_sent_total{pipeline="notice"}', 0) == 0
    assert "Traceback" not in serve.output()


def test_validate_passes_a_pipeline_whose_window_is_closed_now(
    scripted_server: ScriptedServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    window, opens = closed_window()
    write(tmp_path / "people.csv", "name,phone\nAyşe,05321117101\n")
    pipeline = write(
        tmp_path / "p.yaml",
        "name: windowed\n"
        "recipients: {csv: people.csv}\n"
        'message: {inline: "Sayın {{ name }}, randevunuz yarın."}\n'
        f'send: {{window: "{window}"}}\n',
    )
    env = offline({**cli_env, "MASGSM_BASE_URL": scripted_server.base_url})

    result = run_cli(["validate", str(pipeline)], env)
    as_json = run_cli(["validate", str(pipeline), "--json"], env)

    assert_no_traceback(result)
    assert result.returncode == 0, result.output
    assert (
        f"  send window {window} (Europe/Istanbul): CLOSED until {opens:%Y-%m-%d %H:%M} +03 "
        "(a real run now sends nothing and exits 4, or waits with --wait-for-window)"
    ) in result.stdout, result.stdout
    assert f"{pipeline} is valid: 1 message(s), 1 credit(s)" in result.stdout, result.stdout
    assert as_json.returncode == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["valid"] is True
    assert document["window"]["open"] is False
    assert document["window"]["opens_at"] == opens.isoformat()
    assert scripted_server.requests == []  # no connection
    state = Path(env["MASGSM_STATE_DIR"])
    assert not state.exists() or not any(state.rglob("*"))  # nothing written
