"""serve's parts alone: idempotency keys, the queue file, metrics text, the fit_sms filter."""

from __future__ import annotations

import copy
import json
import re
import stat
from pathlib import Path

import pytest
from helpers import REPO

from masgsm_notify.filters import fit_sms
from masgsm_notify.render import make_environment
from masgsm_notify.serve.keys import idempotency_key
from masgsm_notify.serve.metrics import Metrics
from masgsm_notify.serve.queue import Arrival, QueueStore, queue_path
from masgsm_notify.text import cost

SAMPLE = json.loads((REPO / "pipelines/data/alertmanager-webhook.json").read_text())
GRAFANA = json.loads((REPO / "pipelines/data/grafana-webhook.json").read_text())


def key_of(document: object, header: str | None = None) -> str:
    return idempotency_key(document, json.dumps(document).encode(), header)


def test_alertmanager_keys_name_the_notification_not_the_bytes() -> None:
    other_member = copy.deepcopy(SAMPLE)
    other_member["alerts"].reverse()
    other_member["externalURL"] = "http://alertmanager-2.example:9093"
    other_member["receiver"] = "sms-2"
    other_member["truncatedAlerts"] = 0
    assert key_of(other_member) == key_of(SAMPLE)
    assert key_of(SAMPLE, header="ignored for this shape") == key_of(SAMPLE)

    changes = {
        "status": lambda d: d.update(status="resolved"),
        "groupKey": lambda d: d.update(groupKey='{}:{alertname="Other"}'),
        "alert status": lambda d: d["alerts"][0].update(status="resolved"),
        "endsAt": lambda d: d["alerts"][0].update(endsAt="2026-11-25T18:00:00Z"),
        "startsAt": lambda d: d["alerts"][1].update(startsAt="2026-11-25T18:00:00Z"),
        "an alert more": lambda d: d["alerts"].append(dict(d["alerts"][0], fingerprint="ff")),
    }
    for name, change in changes.items():
        changed = copy.deepcopy(SAMPLE)
        change(changed)
        assert key_of(changed) != key_of(SAMPLE), name
    assert key_of(GRAFANA) != key_of(SAMPLE)  # Grafana's shape is recognised too
    regrouped = copy.deepcopy(GRAFANA)
    regrouped["title"] = "[FIRING:2] Altyapı (again)"
    assert key_of(regrouped) == key_of(GRAFANA)


def test_other_payloads_are_keyed_by_header_else_by_bytes() -> None:
    document = {"order": 1}
    assert key_of(document, "order-1") == key_of({"order": 2}, "order-1")
    assert key_of(document, "order-1") != key_of(document, "order-2")
    assert key_of(document) != key_of({"order": 2})
    assert idempotency_key(document, b'{"order":1}') != idempotency_key(document, b'{"order": 1}')
    no_fingerprints = {"groupKey": "g", "alerts": [{"status": "firing"}]}
    assert key_of(no_fingerprints) == idempotency_key(
        no_fingerprints, json.dumps(no_fingerprints).encode()
    )
    assert key_of(document, "  ") == key_of(document)  # a blank header is no header
    assert key_of(no_fingerprints) != key_of(no_fingerprints, "k")


def test_the_queue_file_is_owner_only_dedupes_within_its_window_and_keeps_order(
    tmp_path: Path,
) -> None:
    path = queue_path(None)
    assert path.parent == tmp_path / "state"
    assert queue_path(tmp_path / "alerts.sqlite") == tmp_path / "alerts.queue.sqlite"
    with QueueStore(path) as queue:
        answers = queue.accept(
            [Arrival("a", "k1", b"{}"), Arrival("a", "k1", b"{}"), Arrival("b", "k1", b"[]")],
            window=600,
        )
        assert answers == [("accepted", 1), ("duplicate", 1), ("accepted", 2)]
        assert queue.accept([Arrival("a", "k1", b"{}")], window=0) == [("accepted", 3)]
        assert queue.next_for("a").id == 1
        queue.start(1)
        assert queue.recover() == 1  # a process that died while running it
        assert queue.next_for("a").state == "waiting"
        queue.fail(1, "bad template")
        assert queue.next_for("a").id == 3  # a failed payload does not block the queue
        assert queue.retry(1).state == "failed"
        assert queue.next_for("a").id == 1
        assert queue.depth() == {("a", "waiting"): 2, ("b", "waiting"): 1}
        assert queue.next_for("a").run_key == "a-k1-1"
        assert queue.body(2) == b"[]"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_metrics_are_prometheus_text() -> None:
    metrics = Metrics(["alerts", "shop"], depth=lambda: {("alerts", "waiting"): 3})
    metrics.count("masgsm_payloads_accepted_total", pipeline="alerts")
    metrics.count("masgsm_runs_total", pipeline="alerts", outcome="ok")
    metrics.count("masgsm_http_requests_total", code="202")
    for seconds in (0.004, 0.015, 0.3, 120):
        metrics.observe_latency("alerts", seconds)
    page = metrics.render()
    sample = re.compile(r'^masgsm_[a-z_]+(\{([a-z_]+="[^"]*",?)+\})? -?[0-9.e+]+$')
    for line in page.splitlines():
        assert (
            line.startswith("# HELP masgsm_")
            or line.startswith("# TYPE masgsm_")
            or (sample.match(line))
        ), line
    assert 'masgsm_payloads_accepted_total{pipeline="alerts"} 1' in page
    assert 'masgsm_payloads_accepted_total{pipeline="shop"} 0' in page
    assert 'masgsm_queue_depth{pipeline="alerts",state="waiting"} 3' in page
    assert 'masgsm_accept_to_send_seconds_bucket{pipeline="alerts",le="0.005"} 1' in page
    assert 'masgsm_accept_to_send_seconds_bucket{pipeline="alerts",le="0.02"} 2' in page
    assert 'masgsm_accept_to_send_seconds_bucket{pipeline="alerts",le="60.0"} 3' in page
    assert 'masgsm_accept_to_send_seconds_bucket{pipeline="alerts",le="+Inf"} 4' in page
    assert 'masgsm_accept_to_send_seconds_count{pipeline="alerts"} 4' in page
    assert "# TYPE masgsm_accept_to_send_seconds histogram" in page
    with pytest.raises(ValueError, match="takes labels"):
        metrics.count("masgsm_runs_total", pipeline="alerts")


def test_fit_sms_keeps_the_first_items_within_the_segments() -> None:
    items = [f"db-{i}: /var/lib/postgresql %9{i % 10} dolu" for i in range(40)]
    head, tail = "ALARM KRİTİK DiskFull (40): ", " - http://am:9093"
    for segments in (1, 2, 3, 6):
        fitted = fit_sms(items, segments, before=head, after=tail)
        whole = head + fitted + tail
        assert cost(whole).segments <= segments
        shown = fitted.count("; ") + 1
        assert fitted.startswith(items[0]) and fitted.endswith(f" +{40 - shown} daha")
        one_more = fit_sms(items[: shown + 1], 50)  # the next item would not have fitted
        assert cost(head + one_more + f" +{40 - shown - 1} daha" + tail).segments > segments
    assert fit_sms(["a", "b"], 1) == "a; b"
    assert fit_sms(["x" * 500], 1, more=" +{n}") == " +1"
    assert fit_sms([], 1) == ""
    with pytest.raises(ValueError, match="segments"):
        fit_sms(["a"], 0)
    with pytest.raises(ValueError, match="a list of items"):
        fit_sms("abc", 1)


def test_fit_sms_in_a_template_names_a_missing_list() -> None:
    env = make_environment()
    template = env.from_string("{{ alerts|fit_sms(2) }}")
    assert template.render(alerts=["a", "b"]) == "a; b"
    with pytest.raises(Exception, match="'alerts' is undefined"):
        template.render()
