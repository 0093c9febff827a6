"""serve behind a real Alertmanager (Debian's prometheus-alertmanager): alerts posted to
Alertmanager's API arrive as texts in the sandbox, resolved ones as resolved texts, an HA pair's
two deliveries as one, a wrong token as nothing, and a payload killed after its 202 once.

`make test` installs the package when it can (root and apt-get), and these tests skip saying
why when it is missing; `.ci/run` requires it (MASGSM_REQUIRE_ALERTMANAGER=1: never skip).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from helpers.http import closed_port
from helpers.pipelines import copy_examples, fast_reports
from helpers.sandbox import numbers_sent, texts_by_number
from helpers.serve import ServeProcess, queue_rows, start_serve
from helpers.waiting import wait_for

from masgsm_notify.sandbox import SandboxConfig, SandboxServer

BINARY = Path("/usr/bin/prometheus-alertmanager")
TOKEN = "am-t0ken-for-tests"
ON_CALL = ("5327000001", "5337000002")


@pytest.fixture(scope="module")
def alertmanager_binary() -> Path:
    if BINARY.is_file() and os.access(BINARY, os.X_OK):
        return BINARY
    reason = (
        f"{BINARY} is missing: install Debian's prometheus-alertmanager (make system-deps does, "
        "as root) to run the tests that drive serve with a real Alertmanager"
    )
    if os.environ.get("MASGSM_REQUIRE_ALERTMANAGER"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Alertmanager:
    url: str
    process: subprocess.Popen
    log: Path

    def post_alert(self, labels: dict, summary: str, starts: str, ends: str | None = None) -> None:
        alert = {"labels": labels, "annotations": {"summary": summary}, "startsAt": starts}
        if ends:
            alert["endsAt"] = ends
        answer = requests.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=10)
        assert answer.status_code == 200, answer.text

    def notifications_failed(self) -> float:
        page = requests.get(f"{self.url}/metrics", timeout=10).text
        lines = [
            line
            for line in page.splitlines()
            if line.startswith("alertmanager_notifications_failed_total")
            and 'integration="webhook"' in line
        ]
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def am_config(hook_url: str, token: str) -> str:
    """Short group timings so a test sees the firing and the resolved notification quickly."""
    return textwrap.dedent(
        f"""
        route:
          receiver: sms
          group_by: [alertname]
          group_wait: 1s
          group_interval: 2s
          repeat_interval: 1h
        receivers:
          - name: sms
            webhook_configs:
              - url: {hook_url}
                send_resolved: true
                max_alerts: 50
                http_config:
                  authorization:
                    type: Bearer
                    credentials: {token}
        """
    )


@pytest.fixture
def start_alertmanager(alertmanager_binary: Path, tmp_path: Path) -> Iterator:
    started: list[Alertmanager] = []

    def start(hook_url: str, token: str = TOKEN) -> Alertmanager:
        folder = tmp_path / f"am-{len(started)}"
        folder.mkdir()
        config = folder / "alertmanager.yml"
        config.write_text(am_config(hook_url, token))
        port = closed_port()
        log = folder / "alertmanager.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [
                    str(alertmanager_binary),
                    f"--config.file={config}",
                    f"--storage.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    f"--web.external-url=http://127.0.0.1:{port}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        manager = Alertmanager(f"http://127.0.0.1:{port}", process, log)
        started.append(manager)

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"alertmanager exited: {log.read_text()}")
            try:
                return requests.get(f"{manager.url}/-/ready", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(ready, 30, "Alertmanager to be ready")
        return manager

    yield start
    for manager in started:
        manager.process.terminate()
        manager.process.wait(10)


def now(offset: float = 0.0) -> str:
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def alert_pipeline(tmp_path: Path) -> Path:
    return fast_reports(copy_examples(tmp_path / "project") / "alertmanager.yaml")


def serve_alerts(pipeline: Path, env: dict[str, str], folder: Path, *args: str) -> ServeProcess:
    return start_serve([str(pipeline), *args], {**env, "MASGSM_SERVE_TOKEN": TOKEN}, folder)


def test_an_alert_fired_and_resolved_through_an_ha_pair_pages_once_each(
    start_alertmanager,
    alert_pipeline: Path,
    sandbox: SandboxServer,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    serve = serve_alerts(alert_pipeline, cli_env, tmp_path)
    try:
        hook = f"{serve.url}/hooks/alertmanager"
        pair = [start_alertmanager(hook), start_alertmanager(hook)]  # an HA pair, one config
        labels = {"alertname": "DiskFull", "instance": "db-1", "severity": "critical"}
        started = now(-60)
        for manager in pair:  # as Prometheus does: every alert to every Alertmanager
            manager.post_alert(labels, "/var/lib/postgresql %97 dolu", started)

        wait_for(lambda: len(sandbox.messages()) == 2, 30, "the firing texts")
        firing = "ALARM KRİTİK DiskFull (1): db-1: /var/lib/postgresql %97 dolu - "
        for number in ON_CALL:
            [text] = texts_by_number(sandbox)[number]
            assert text in (firing + pair[0].url, firing + pair[1].url)
        wait_for(
            lambda: serve.metrics().get('masgsm_payloads_duplicate_total{pipeline="alertmanager"}'),
            30,
            "the second member's copy, answered duplicate",
        )

        ended = now()
        for manager in pair:
            manager.post_alert(labels, "/var/lib/postgresql %97 dolu", started, ended)
        wait_for(lambda: len(sandbox.messages()) == 4, 30, "the resolved texts")
        for number in ON_CALL:
            assert texts_by_number(sandbox)[number][1].startswith(
                "DÜZELDİ KRİTİK DiskFull (1): db-1 - "
            )

        metrics = serve.metrics()
        on = '{pipeline="alertmanager"}'
        assert metrics[f"masgsm_payloads_accepted_total{on}"] == 2
        assert metrics[f"masgsm_payloads_duplicate_total{on}"] == 2
        assert metrics['masgsm_http_requests_total{code="202"}'] == 4
        assert all(manager.notifications_failed() == 0 for manager in pair)
    finally:
        serve.stop()
    assert numbers_sent(sandbox) == {ON_CALL[0]: 2, ON_CALL[1]: 2}


def test_alertmanager_with_a_wrong_token_is_refused_and_nothing_is_sent(
    start_alertmanager,
    alert_pipeline: Path,
    sandbox: SandboxServer,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    serve = serve_alerts(alert_pipeline, cli_env, tmp_path)
    try:
        manager = start_alertmanager(f"{serve.url}/hooks/alertmanager", token="not-the-token")
        manager.post_alert({"alertname": "Down", "severity": "critical"}, "kapalı", now(-5))
        wait_for(
            lambda: serve.metrics().get('masgsm_http_requests_total{code="401"}'),
            30,
            "serve to refuse Alertmanager",
        )
        wait_for(lambda: manager.notifications_failed() >= 1, 30, "Alertmanager's failure count")
        assert serve.metrics()['masgsm_payloads_accepted_total{pipeline="alertmanager"}'] == 0
    finally:
        serve.stop()
    assert sandbox.messages() == []
    assert "not-the-token" not in serve.output() and TOKEN not in serve.output()


def test_an_alert_accepted_then_killed_is_sent_after_restart_once(
    start_alertmanager, alert_pipeline: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    # Every answer of this sandbox takes 1.5 s: the run is still checking the balance when
    # serve is killed, just after answering Alertmanager 202.
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=1500) as slow:
        env = {**cli_env, "MASGSM_BASE_URL": slow.base_url}
        state = Path(env["MASGSM_STATE_DIR"])
        port = str(closed_port())
        serve = serve_alerts(alert_pipeline, env, tmp_path, "--port", port)
        again = None
        try:
            manager = start_alertmanager(f"{serve.url}/hooks/alertmanager")
            labels = {"alertname": "Down", "instance": "web-1", "severity": "warning"}
            manager.post_alert(labels, "yanıt yok", now(-5))
            wait_for(
                lambda: queue_rows(state) and queue_rows(state)[0]["state"] == "running",
                30,
                "the payload's run to start",
            )
            assert serve.stop(signal.SIGKILL) == -signal.SIGKILL
            assert slow.messages() == []

            again = serve_alerts(alert_pipeline, env, tmp_path, "--port", port)
            wait_for(lambda: slow.messages(), 30, "the text after the restart")
            wait_for(lambda: queue_rows(state)[0]["state"] == "done", 30, "the payload done")
            assert manager.notifications_failed() == 0
        finally:
            if again is not None:
                again.stop()
        assert [m["number"] for m in slow.messages()] == [ON_CALL[0]]  # a warning: Deniz only
        assert slow.messages()[0]["text"].startswith("ALARM UYARI Down (1): web-1: yanıt yok")
        assert len(queue_rows(state)) == 1
