"""serve over real HTTP: a real `masgsm-notify serve` process, the sandbox, the queue on disk."""

from __future__ import annotations

import copy
import json
import signal
import socket
import sqlite3
from pathlib import Path

import pytest
import requests
from helpers.cli import assert_no_traceback, run_cli, summary_of
from helpers.pipelines import REPO, copy_examples, fast_reports, write
from helpers.sandbox import numbers_sent, texts_by_number
from helpers.serve import queue_rows, start_serve
from helpers.waiting import wait_for

from masgsm_notify.sandbox import SandboxConfig, SandboxServer

SAMPLE = json.loads((REPO / "pipelines/data/alertmanager-webhook.json").read_text())
TOKEN = "t0ken-for-tests~Sifre"
ON_CALL = ("5327000001", "5337000002")


def notice(text: str, number: str = "5321112233") -> dict:
    """A payload for the `notice` pipeline below: one text to one number."""
    return {"to": number, "text": text}


NOTICE_PIPELINE = """
name: {name}
recipients:
  inline: [{{}}]
  number: "{{{{ input.to }}}}"
message:
  inline: "{{{{ input.text }}}}"
  title: MASGSMTEST
report: {{wait: 5s, poll_every: 100ms}}
"""


def notice_pipeline(folder: Path, name: str = "notice", extra: str = "") -> Path:
    return write(folder / f"{name}.yaml", NOTICE_PIPELINE.format(name=name) + extra)


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    pipelines = copy_examples(tmp_path / "project")
    fast_reports(pipelines / "alertmanager.yaml")
    return pipelines


def test_an_alertmanager_payload_becomes_texts_then_a_concluded_run(
    examples: Path, sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    serve = start_serve([str(examples / "alertmanager.yaml")], cli_env, tmp_path)
    try:
        assert serve.url.startswith("http://127.0.0.1:")
        answer = serve.post("alertmanager", SAMPLE)
        assert answer.status_code == 202
        assert answer.json() == {"status": "accepted", "id": 1}

        wait_for(lambda: len(sandbox.messages()) == 2, what="the two on-call texts")
        texts = texts_by_number(sandbox)
        assert texts[ON_CALL[0]][0].startswith("ALARM KRİTİK DiskFull (2): db-1: /var/lib/")
        assert texts[ON_CALL[0]][0].endswith(". Düzelen: 1 - http://alertmanager.example:9093")
        state = Path(cli_env["MASGSM_STATE_DIR"])
        done = wait_for(
            lambda: [r for r in queue_rows(state) if r["concluded_at"]], what="the conclusion"
        )
        assert done[0]["state"] == "done" and done[0]["texts"] == 2
        assert json.loads(done[0]["outcome"])["outcomes"]["delivered"] == 2

        metrics = serve.metrics()
        on = '{pipeline="alertmanager"}'
        assert metrics[f"masgsm_payloads_accepted_total{on}"] == 1
        assert metrics[f"masgsm_texts_sent_total{on}"] == 2
        assert metrics[f"masgsm_texts_delivered_total{on}"] == 2
        assert metrics[f"masgsm_credits_spent_total{on}"] == 2
        assert metrics['masgsm_runs_total{pipeline="alertmanager",outcome="ok"}'] == 1
        assert metrics[f"masgsm_accept_to_send_seconds_count{on}"] == 1
        assert metrics['masgsm_queue_depth{pipeline="alertmanager",state="waiting"}'] == 0
        assert metrics['masgsm_http_requests_total{code="202"}'] == 1

        # A reader works while serve runs: the run's reports, by its run key.
        checked = run_cli(["check", done[0]["run_key"], "--json"], cli_env)
        assert checked.returncode == 0, checked.output
        assert summary_of(checked)["outcomes"]["delivered"] == 2
        listed = run_cli(["queue", "list"], cli_env)
        assert "#1  alertmanager  done" in listed.stdout
        assert "delivered 2; fail_if OK" in listed.stdout
    finally:
        assert serve.stop() == 0
    assert "Traceback" not in serve.output()
    assert "Stopped." in serve.stderr.read_text()


def test_redelivery_is_a_duplicate_and_sends_nothing(
    examples: Path, sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    serve = start_serve([str(examples / "alertmanager.yaml")], cli_env, tmp_path)
    try:
        assert serve.post("alertmanager", SAMPLE).json()["status"] == "accepted"
        # What Alertmanager's retry or the other member of an HA pair sends: the same
        # notification, with keys in another order and another receiver's details.
        again = copy.deepcopy(SAMPLE)
        again["alerts"].reverse()
        again["externalURL"] = "http://alertmanager-2.example:9093"
        again["truncatedAlerts"] = 0
        assert serve.post("alertmanager", again).json() == {"status": "duplicate", "id": 1}
        resolved = copy.deepcopy(SAMPLE)
        resolved["status"] = "resolved"
        for alert in resolved["alerts"]:
            alert["status"], alert["endsAt"] = "resolved", "2026-11-25T18:00:00Z"
        assert serve.post("alertmanager", resolved).json() == {"status": "accepted", "id": 2}

        wait_for(lambda: len(sandbox.messages()) == 4, what="firing and resolved texts")
        texts = texts_by_number(sandbox)
        assert texts[ON_CALL[1]][1].startswith("DÜZELDİ KRİTİK DiskFull (2): db-1, db-2 - http")
        metrics = serve.metrics()
        assert metrics['masgsm_payloads_duplicate_total{pipeline="alertmanager"}'] == 1
    finally:
        serve.stop()
    assert numbers_sent(sandbox) == {ON_CALL[0]: 2, ON_CALL[1]: 2}


def test_after_the_dedupe_window_the_same_payload_pages_again(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = notice_pipeline(tmp_path)
    serve = start_serve([str(pipeline), "--dedupe-window", "1s"], cli_env, tmp_path)
    try:
        assert serve.post("notice", notice("Disk dolu")).json()["status"] == "accepted"
        assert serve.post("notice", notice("Disk dolu")).json()["status"] == "duplicate"
        wait_for(lambda: len(sandbox.messages()) == 1, what="the first text")
        wait_for(
            lambda: serve.post("notice", notice("Disk dolu")).json()["status"] == "accepted",
            5,
            "the window to pass",
        )
        wait_for(lambda: len(sandbox.messages()) == 2, what="the reminder")
    finally:
        serve.stop()


def test_http_answers(sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path) -> None:
    pipeline = notice_pipeline(tmp_path)
    env = {**cli_env, "MASGSM_SERVE_TOKEN": TOKEN}
    serve = start_serve([str(pipeline), "--max-body", "2048"], env, tmp_path)
    url = serve.url
    try:
        good = notice("Merhaba")
        assert serve.post("notice", good).status_code == 401  # no Authorization
        wrong = serve.post("notice", good, token=TOKEN + "x")
        assert wrong.status_code == 401
        assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Bearer" in wrong.json()["error"]
        basic = requests.post(f"{url}/hooks/notice", json=good, auth=("u", TOKEN), timeout=10)
        assert basic.status_code == 401
        assert serve.post("nope", good, token=TOKEN).status_code == 404
        assert requests.post(f"{url}/other", json=good, timeout=10).status_code == 404
        assert requests.post(f"{url}/hooks/Not_Valid", json=good, timeout=10).status_code == 404
        got = requests.get(f"{url}/hooks/notice", timeout=10)
        assert (got.status_code, got.headers["Allow"]) == (405, "POST")
        not_json = serve.post("notice", b"{nope", token=TOKEN)
        assert not_json.status_code == 400
        assert "line 1 column 2" in not_json.json()["error"]
        assert serve.post("notice", b"\xff\xfe{}", token=TOKEN).status_code == 400
        too_big = serve.post("notice", {"to": "5321112233", "text": "x" * 3000}, token=TOKEN)
        assert too_big.status_code == 413
        chunked = requests.post(
            f"{url}/hooks/notice",
            data=iter([b'{"text": "', b"y" * 3000, b'"}']),
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert chunked.status_code == 413
        assert requests.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
        ok = serve.post("notice", good, token=TOKEN)
        assert (ok.status_code, ok.json()["status"]) == (202, "accepted")
        by_header = {"Idempotency-Key": "order-1"}
        first = serve.post("notice", notice("Sipariş 1"), token=TOKEN, **by_header)
        second = serve.post("notice", notice("Sipariş 1 (yeniden)"), token=TOKEN, **by_header)
        assert (first.json()["status"], second.json()["status"]) == ("accepted", "duplicate")
        wait_for(lambda: len(sandbox.messages()) == 2, what="two texts")
        codes = {k: v for k, v in serve.metrics().items() if k.startswith("masgsm_http_req")}
        assert codes['masgsm_http_requests_total{code="401"}'] == 3
        assert codes['masgsm_http_requests_total{code="400"}'] == 2
    finally:
        serve.stop()
    assert TOKEN not in serve.output()


def test_a_queue_that_cannot_store_answers_503_until_it_can(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = notice_pipeline(tmp_path)
    serve = start_serve([str(pipeline)], cli_env, tmp_path)
    queue = Path(cli_env["MASGSM_STATE_DIR"]) / "queue.sqlite"
    blocker = sqlite3.connect(queue, timeout=1, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the queue past serve's patience
        refused = serve.post("notice", notice("Bekle"))
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        health = requests.get(f"{serve.url}/healthz", timeout=10)
        assert (health.status_code, health.json()["status"]) == (503, "cannot store")
        blocker.execute("ROLLBACK")
        assert serve.post("notice", notice("Bekle")).status_code == 202
        assert requests.get(f"{serve.url}/healthz", timeout=10).status_code == 200
        wait_for(lambda: len(sandbox.messages()) == 1, what="the text")
    finally:
        blocker.close()
        serve.stop()
    assert "Could not store 1 payload(s), answered 503" in serve.stderr.read_text()


def test_payloads_of_a_pipeline_go_in_order_and_bad_ones_do_not_block(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = notice_pipeline(tmp_path)
    serve = start_serve([str(pipeline)], cli_env, tmp_path)
    try:
        sent = []
        for n in range(12):
            body = notice(f"Bildirim {n}") if n != 4 else {"to": "5321112233"}  # no text
            assert serve.post("notice", body).status_code == 202
            if n != 4:
                sent.append(f"Bildirim {n}")
        wait_for(lambda: len(sandbox.messages()) == 11, what="eleven texts")
        assert [m["text"] for m in sandbox.messages()] == sent
        state = Path(cli_env["MASGSM_STATE_DIR"])
        bad = next(r for r in queue_rows(state) if r["id"] == 5)
        assert bad["state"] == "failed"
        assert (
            "notice.yaml:6:11 (inline) line 1: 'dict object' has no attribute 'text'"
            in (bad["error"])
        )
        assert serve.metrics()['masgsm_payloads_failed_total{pipeline="notice"}'] == 1
        listed = run_cli(["queue", "list", "--state", "failed"], cli_env)
        assert "#5  notice  failed" in listed.stdout and "no attribute 'text'" in listed.stdout
    finally:
        serve.stop()
    assert "notice #5: failed:" in serve.stderr.read_text()


def test_a_failed_payload_is_retried_by_hand_and_pipelines_do_not_block_each_other(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    down = socket.socket()
    down.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    closed = down.getsockname()[1]
    broken = notice_pipeline(
        tmp_path,
        "broken",
        f'service: {{base: "http://127.0.0.1:{closed}/MasApiV2"}}\n'
        "send: {retries: 0, give_up_after: 1s}\n",
    )
    template = write(tmp_path / "templates" / "later.txt.j2", "{{ input.text }}{{ input.x }}")
    later = write(
        tmp_path / "later.yaml",
        NOTICE_PIPELINE.format(name="later").replace(
            'inline: "{{ input.text }}"', "template: later.txt.j2"
        ),
    )
    working = notice_pipeline(tmp_path, "working")
    args = [str(broken), str(later), str(working), "--retry-for", "2m"]
    serve = start_serve(args, cli_env, tmp_path)
    state = Path(cli_env["MASGSM_STATE_DIR"])
    try:
        assert serve.post("broken", notice("Bir")).json()["id"] == 1
        assert serve.post("broken", notice("İki")).json()["id"] == 2
        assert serve.post("later", notice("Sonra", "5321112244")).json()["id"] == 3
        assert serve.post("working", notice("Çalışıyor", "5321112255")).json()["id"] == 4
        wait_for(lambda: numbers_sent(sandbox)["5321112255"] == 1, what="the working pipeline")
        rows = wait_for(
            lambda: [r for r in queue_rows(state) if r["id"] == 1 and r["attempts"] >= 2],
            what="a second attempt of the broken pipeline",
        )
        assert rows[0]["state"] in ("waiting", "running") and "127.0.0.1" in rows[0]["error"]
        second = next(r for r in queue_rows(state) if r["id"] == 2)
        assert (second["state"], second["attempts"]) == ("waiting", 0)  # behind the first
        assert serve.metrics()['masgsm_run_retries_total{pipeline="broken"}'] >= 1

        failed = wait_for(
            lambda: [r for r in queue_rows(state) if r["id"] == 3 and r["state"] == "failed"],
            what="the template error",
        )
        assert "'x'" in failed[0]["error"]
        not_failed = run_cli(["queue", "retry", "4"], cli_env)
        assert not_failed.returncode == 2 and "is done, not failed" in not_failed.stderr
        template.write_text("{{ input.text }}")  # the fix
        retried = run_cli(["queue", "retry", "3"], cli_env)
        assert retried.returncode == 0, retried.output
        assert "waits again; serve at http://127.0.0.1:" in retried.stdout
        wait_for(lambda: numbers_sent(sandbox)["5321112244"] == 1, what="the retried payload")
        assert texts_by_number(sandbox)["5321112244"] == ["Sonra"]
    finally:
        serve.stop()
        down.close()
    listed = run_cli(["queue", "list", "--json", "--pipeline", "broken"], cli_env)
    rows = json.loads(listed.stdout)
    assert [r["state"] for r in rows] == ["waiting", "waiting"]


def test_a_payload_accepted_then_killed_is_sent_after_restart_once(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = notice_pipeline(tmp_path)
    # Every answer of this sandbox takes 1.5 s: the run is still in its balance check when the
    # process is killed, a moment after the 202.
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=1500) as slow:
        env = {**cli_env, "MASGSM_BASE_URL": slow.base_url}
        serve = start_serve([str(pipeline)], env, tmp_path)
        assert serve.post("notice", notice("Sunucu çöktü")).status_code == 202
        state = Path(env["MASGSM_STATE_DIR"])
        wait_for(lambda: queue_rows(state)[0]["state"] == "running", what="the run to start")
        assert serve.stop(signal.SIGKILL) == -signal.SIGKILL
        assert slow.messages() == []

        again = start_serve([str(pipeline)], env, tmp_path)
        try:
            assert "1 payload(s) interrupted by a stop resume now" in again.stderr.read_text()
            wait_for(lambda: slow.messages(), 30, "the text after the restart")
            wait_for(lambda: queue_rows(state)[0]["state"] == "done", 30, "done")
            assert queue_rows(state)[0]["attempts"] == 2
        finally:
            again.stop()
        assert [m["text"] for m in slow.messages()] == ["Sunucu çöktü"]


def test_sigterm_finishes_the_payload_being_sent(cli_env: dict[str, str], tmp_path: Path) -> None:
    pipeline = notice_pipeline(tmp_path)
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=700) as slow:
        env = {**cli_env, "MASGSM_BASE_URL": slow.base_url}
        serve = start_serve([str(pipeline)], env, tmp_path)
        assert serve.post("notice", notice("Kapanmadan önce")).status_code == 202
        state = Path(env["MASGSM_STATE_DIR"])
        wait_for(lambda: queue_rows(state)[0]["state"] == "running", what="the run to start")
        assert serve.stop(signal.SIGTERM) == 0
        assert [m["text"] for m in slow.messages()] == ["Kapanmadan önce"]
        assert queue_rows(state)[0]["state"] == "done"
    err = serve.stderr.read_text()
    assert "Stopping (SIGTERM): no new payloads." in err
    assert "waiting for the payload being sent by notice" in err


@pytest.mark.parametrize(
    ("args", "env_changes", "code", "message"),
    [
        (["--host", "0.0.0.0"], {}, 2, "without a token serve listens on the loopback only"),
        (["--dedupe-window", "soon"], {}, 2, "--dedupe-window"),
        ([], {"MASGSM_SERVE_TOKEN": ""}, None, None),
    ],
)
def test_start_refusals(
    args: list[str],
    env_changes: dict[str, str],
    code: int | None,
    message: str | None,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    pipeline = notice_pipeline(tmp_path)
    if code is None:  # an empty token is no token: loopback only, and said so
        serve = start_serve([str(pipeline)], {**cli_env, **env_changes}, tmp_path)
        serve.stop()
        assert "No token (MASGSM_SERVE_TOKEN or --token-file)" in serve.stderr.read_text()
        return
    result = run_cli(["serve", str(pipeline), "--port", "0", *args], {**cli_env, **env_changes})
    assert result.returncode == code, result.output
    assert message in result.stderr
    assert_no_traceback(result)


def test_pipelines_that_cannot_be_served_are_refused(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    spaced = notice_pipeline(tmp_path / "a", "On Call")
    twin_a = notice_pipeline(tmp_path / "b", "twin")
    twin_b = notice_pipeline(tmp_path / "c", "twin")
    result = run_cli(["serve", str(spaced), "--port", "0"], cli_env)
    assert result.returncode == 2 and "lower-case letters, digits, - and _ only" in result.stderr
    result = run_cli(["serve", str(twin_a), str(twin_b), "--port", "0"], cli_env)
    assert result.returncode == 2 and "each served pipeline needs its own" in result.stderr

    first = start_serve([str(twin_a)], cli_env, tmp_path)
    try:
        port = first.url.rsplit(":", 1)[1]
        busy_port = run_cli(
            ["serve", str(twin_a), "--port", port, "--journal", str(tmp_path / "other.sqlite")],
            cli_env,
        )
        assert (
            busy_port.returncode == 1 and f"Cannot listen on 127.0.0.1:{port}" in busy_port.stderr
        )
        same_queue = run_cli(["serve", str(twin_a), "--port", "0"], cli_env)
        assert same_queue.returncode == 1
        assert "one serve works a queue at a time" in same_queue.stderr
        assert first.url in same_queue.stderr
    finally:
        first.stop()


def test_serve_holds_its_journals_a_cron_run_waits_and_readers_read(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = notice_pipeline(tmp_path)
    serve = start_serve([str(pipeline), "--fsync"], cli_env, tmp_path)
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps(notice("Cron'dan", "5321112266")))
    try:
        assert serve.post("notice", notice("Serve'den")).status_code == 202
        wait_for(lambda: len(sandbox.messages()) == 1, what="serve's text")
        refused = run_cli(["run", str(pipeline), "--input", str(payload)], cli_env)
        assert refused.returncode == 1, refused.output
        assert "notice.sqlite is in use by pid" in refused.stderr
        assert " serve " in refused.stderr  # the command holding it
        assert_no_traceback(refused)
        run_key = queue_rows(Path(cli_env["MASGSM_STATE_DIR"]))[0]["run_key"]
        checked = run_cli(["check", run_key, "--json", "--wait", "2s"], cli_env)
        assert checked.returncode == 0, checked.output
    finally:
        serve.stop()
    ran = run_cli(["run", str(pipeline), "--input", str(payload)], cli_env)
    assert ran.returncode == 0, ran.output
    assert [m["text"] for m in sandbox.messages()] == ["Serve'den", "Cron'dan"]


def test_queue_commands_without_a_queue(cli_env: dict[str, str]) -> None:
    listed = run_cli(["queue", "list"], cli_env)
    assert listed.returncode == 0 and "No queue at" in listed.stdout
    assert json.loads(run_cli(["queue", "list", "--json"], cli_env).stdout) == []
    retried = run_cli(["queue", "retry", "1"], cli_env)
    assert retried.returncode == 2 and "serve has not run" in retried.stderr
