"""serve's metrics, in the Prometheus text format (version 0.0.4), every name `masgsm_`.

Counters start at zero for every pipeline served, so a dashboard sees them before the first
payload; they restart at zero with the process, as Prometheus expects of counters. The queue
depth is read from the queue itself at each scrape, so it includes what `queue retry` added from
another process.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# The accept-to-send histogram's upper bounds, in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # counter, gauge, histogram
    help: str
    labels: tuple[str, ...] = ("pipeline",)


FAMILIES = (
    Family("masgsm_http_requests_total", "counter", "HTTP requests answered.", ("code",)),
    Family("masgsm_payloads_accepted_total", "counter", "Payloads accepted (committed, 202)."),
    Family(
        "masgsm_payloads_duplicate_total",
        "counter",
        "Payloads answered 202 duplicate: their key was accepted within --dedupe-window.",
    ),
    Family(
        "masgsm_payloads_failed_total",
        "counter",
        "Payloads that ended failed: bad input (a template error, invalid numbers) or errors "
        "past --retry-for.",
    ),
    Family("masgsm_run_retries_total", "counter", "Runs put back to wait after a runtime error."),
    Family(
        "masgsm_runs_total",
        "counter",
        "Runs concluded (reports read, verdict given), by outcome: ok, failing (fail_if held), "
        "error (the send stopped on an error).",
        ("pipeline", "outcome"),
    ),
    Family("masgsm_texts_sent_total", "counter", "Texts MASGSM accepted."),
    Family("masgsm_texts_delivered_total", "counter", "Texts reported delivered."),
    Family("masgsm_texts_failed_total", "counter", "Texts reported failed."),
    Family(
        "masgsm_texts_unknown_total",
        "counter",
        "Texts whose request got no usable answer: they may or may not have gone.",
    ),
    Family("masgsm_credits_spent_total", "counter", "Credits spent on sent texts."),
    Family(
        "masgsm_queue_depth",
        "gauge",
        "Payloads waiting or running.",
        ("pipeline", "state"),
    ),
    Family(
        "masgsm_accept_to_send_seconds",
        "histogram",
        "Seconds from a payload's 202 to its first batch leaving for MASGSM.",
    ),
    Family("masgsm_serve_start_time_seconds", "gauge", "When this serve process started.", ()),
)
_BY_NAME = {family.name: family for family in FAMILIES}
Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Thread-safe counters and one histogram family; `render()` is the /metrics page."""

    def __init__(
        self,
        pipelines: Iterable[str],
        depth: Callable[[], dict[tuple[str, str], int]] = dict,
    ):
        self.pipelines = sorted(pipelines)
        self.depth = depth
        self._lock = threading.Lock()
        self._values: dict[tuple[str, Labels], float] = {}
        self._histograms: dict[Labels, list[float]] = {}  # bucket counts, then sum, then count
        self.started = time.time()
        for family in FAMILIES:
            if family.kind == "counter" and family.labels == ("pipeline",):
                for pipeline in self.pipelines:
                    self._values[(family.name, (("pipeline", pipeline),))] = 0.0
        for pipeline in self.pipelines:
            self._histograms[(("pipeline", pipeline),)] = [0.0] * (len(LATENCY_BUCKETS) + 3)

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name, _labels(name, labels))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, _labels(name, labels)), 0.0)

    def observe_latency(self, pipeline: str, seconds: float) -> None:
        key = (("pipeline", pipeline),)
        with self._lock:
            counts = self._histograms.setdefault(key, [0.0] * (len(LATENCY_BUCKETS) + 3))
            counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            counts[-2] += seconds
            counts[-1] += 1

    def render(self) -> str:
        with self._lock:
            values = dict(self._values)
            histograms = {key: list(counts) for key, counts in self._histograms.items()}
        depth = self.depth()
        lines: list[str] = []
        for family in FAMILIES:
            lines += [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} {family.kind}"]
            if family.kind == "histogram":
                lines += _histogram_lines(family.name, histograms)
            elif family.name == "masgsm_queue_depth":
                for pipeline in self.pipelines:
                    for state in ("waiting", "running"):
                        count = depth.get((pipeline, state), 0)
                        labels: Labels = (("pipeline", pipeline), ("state", state))
                        lines.append(f"{family.name}{_format(labels)} {count}")
            elif family.name == "masgsm_serve_start_time_seconds":
                lines.append(f"{family.name} {self.started:.3f}")
            else:
                for (name, labels), value in sorted(values.items()):
                    if name == family.name:
                        lines.append(f"{name}{_format(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


def _histogram_lines(name: str, histograms: dict[Labels, list[float]]) -> list[str]:
    base = name
    lines = []
    for labels, counts in sorted(histograms.items()):
        running = 0.0
        for bound, count in zip(LATENCY_BUCKETS, counts, strict=False):
            running += count
            lines.append(f"{base}_bucket{_format((*labels, ('le', repr(bound))))} {running:g}")
        running += counts[len(LATENCY_BUCKETS)]
        lines.append(f"{base}_bucket{_format((*labels, ('le', '+Inf')))} {running:g}")
        lines.append(f"{base}_sum{_format(labels)} {counts[-2]:.6f}")
        lines.append(f"{base}_count{_format(labels)} {counts[-1]:g}")
    return lines


def _labels(name: str, given: dict[str, str]) -> Labels:
    family = _BY_NAME[name]
    if set(given) != set(family.labels):
        raise ValueError(f"{name} takes labels {family.labels}, not {tuple(given)}")
    return tuple((label, str(given[label])) for label in family.labels)


def _format(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
