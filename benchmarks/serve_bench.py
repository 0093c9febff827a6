"""How fast `masgsm-notify serve` accepts payloads, and how soon they reach MASGSM. Prints figures.

    python benchmarks/serve_bench.py                 # both measures (about a minute)
    python benchmarks/serve_bench.py --burst 1000 --seconds 10   # a quick look

serve runs as its own process with the shipped Alertmanager example (two on-call phones, the
fit_sms template), against a sandbox in this process, on loopback. Each payload is a distinct
Alertmanager notification (its own group key), so none is a duplicate.

1. Accepted payloads/s: a burst posted over keep-alive connections from several threads, as
   fast as serve answers; every answer is a 202 given after the payload's commit. serve is then
   killed with SIGKILL and the queue file is counted: every accepted payload must be there. Run
   without and with --fsync. The workers send meanwhile, as they would.
2. Accept-to-provider latency: payloads at a steady rate (20/s by default); for each, the time
   from its 202 reaching the sender to its first text reaching the sandbox, p50 and p99; and
   serve's own histogram (masgsm_accept_to_send_seconds) beside it. Also serve's CPU time per
   payload (its run, the reading of its report, its conclusion): the figure that does not
   depend on how busy the machine is. The load average is printed with the figures: on a shared
   machine the latency says as much about the neighbours as about serve.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from masgsm_notify.sandbox import SandboxConfig, SandboxServer

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "masgsm_notify"]


class TimedSandbox(SandboxServer):
    """The sandbox, noting when each send request arrived, by the payload id in its texts."""

    def __init__(self) -> None:
        super().__init__(SandboxConfig(settle_ms=50))
        self.arrivals: dict[str, float] = {}
        handle = self.state.handle_v2

        def timed(fields):  # type: ignore[no-untyped-def]
            arrived = time.time()
            before = len(self.state.records)
            answer = handle(fields)
            with self.state.lock:
                recorded = self.state.records[before:]
            for _, _, text, _, _ in recorded:
                marker = text.split("bench-", 1)[1].split(":", 1)[0] if "bench-" in text else ""
                self.arrivals.setdefault(marker, arrived)
            return answer

        self.state.handle_v2 = timed  # type: ignore[method-assign]


def payload(n: int) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "Bench", "instance": f"bench-{n}", "severity": "critical"},
        "annotations": {"summary": "disk %97 dolu"},
        "startsAt": "2026-11-25T17:42:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": f"{n:016x}",
    }
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="Bench",n="{n}"}}',
            "status": "firing",
            "receiver": "sms",
            "groupLabels": {"alertname": "Bench"},
            "commonLabels": {"alertname": "Bench", "severity": "critical"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": [alert],
        }
    ).encode()


class Serve:
    def __init__(self, folder: Path, sandbox: SandboxServer, *options: str):
        project = folder / "project"
        shutil.copytree(REPO / "pipelines", project / "pipelines")
        shutil.copytree(REPO / "templates", project / "templates")
        self.state = folder / "state"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MASGSM_")}
        env.update(
            MASGSM_USER="5300000000",
            MASGSM_PASSWORD="sandbox",
            MASGSM_BASE_URL=sandbox.base_url,
            MASGSM_STATE_DIR=str(self.state),
        )
        self.out = (folder / "serve.out").open("w+")
        self.process = subprocess.Popen(
            [*CLI, "serve", str(project / "pipelines/alertmanager.yaml"), "--port", "0", *options],
            env=env,
            stdout=self.out,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while "\n" not in Path(self.out.name).read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("serve did not start")
            time.sleep(0.05)
        url = Path(self.out.name).read_text().split("\n", 1)[0]
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def post(self, connection: http.client.HTTPConnection, body: bytes) -> dict:
        connection.request(
            "POST", "/hooks/alertmanager", body, {"Content-Type": "application/json"}
        )
        answer = connection.getresponse()
        data = answer.read()
        if answer.status != 202:
            raise SystemExit(f"serve answered {answer.status}: {data!r}")
        return json.loads(data)

    def metrics(self) -> str:
        connection = self.connection()
        connection.request("GET", "/metrics")
        return connection.getresponse().read().decode()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def queued(self) -> int:
        db = sqlite3.connect(f"file:{self.state / 'queue.sqlite'}?mode=ro", uri=True)
        try:
            return db.execute("SELECT COUNT(*) FROM payloads").fetchone()[0]
        finally:
            db.close()


def accept_rate(burst: int, threads: int, fsync: bool) -> tuple[float, int, int]:
    """(payloads/s, accepted, found in the queue after SIGKILL)."""
    with TimedSandbox() as sandbox, tempfile.TemporaryDirectory() as folder:
        serve = Serve(Path(folder), sandbox, *(["--fsync"] if fsync else []))
        bodies = [payload(n) for n in range(burst)]
        share = [bodies[i::threads] for i in range(threads)]
        counted = []

        def post_all(mine: list[bytes]) -> None:
            connection = serve.connection()
            done = sum(serve.post(connection, body)["status"] == "accepted" for body in mine)
            counted.append(done)

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(post_all, share))
        elapsed = time.perf_counter() - started
        serve.kill()
        return burst / elapsed, sum(counted), serve.queued()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency(rate: float, seconds: float) -> tuple[list[float], str, float]:
    """Accept-to-provider latencies in seconds, serve's histogram lines, and serve's CPU
    seconds per payload."""
    with TimedSandbox() as sandbox, tempfile.TemporaryDirectory() as folder:
        serve = Serve(Path(folder), sandbox)
        connection = serve.connection()
        for n in range(5):  # warm up: the first run loads templates and modules
            serve.post(connection, payload(10_000_000 + n))
        time.sleep(2)
        cpu_before = cpu_seconds(serve.process.pid)
        accepted: dict[str, float] = {}
        count = int(rate * seconds)
        start = time.perf_counter()
        for n in range(count):
            pause = start + n / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            serve.post(connection, payload(n))
            accepted[str(n)] = time.time()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(k in sandbox.arrivals for k in accepted):
            time.sleep(0.1)
        time.sleep(1)  # the last reports are read and the runs concluded
        cpu = (cpu_seconds(serve.process.pid) - cpu_before) / count
        metrics = serve.metrics()
        serve.kill()
        missing = [k for k in accepted if k not in sandbox.arrivals]
        if missing:
            raise SystemExit(f"{len(missing)} payload(s) never reached the sandbox")
        histogram = "\n".join(
            line for line in metrics.splitlines() if line.startswith("masgsm_accept_to_send")
        )
        return [sandbox.arrivals[k] - accepted[k] for k in accepted], histogram, cpu


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--burst", type=int, default=5000, help="payloads in the accept burst")
    parser.add_argument("--threads", type=int, default=8, help="sender threads in the burst")
    parser.add_argument("--rate", type=float, default=20.0, help="payloads/s for the latency")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long at that rate")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} CPU, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for fsync in (False, True):
        rate, accepted, queued = accept_rate(args.burst, args.threads, fsync)
        mode = "--fsync" if fsync else "default"
        print(
            f"accepted ({mode}): {rate:,.0f} payloads/s ({accepted:,} of {args.burst:,} answered "
            f"202 accepted; {queued:,} in the queue after SIGKILL)"
        )
    values, histogram, cpu = latency(args.rate, args.seconds)
    print(
        f"accept-to-provider latency at {args.rate:g} payloads/s over {len(values)} payloads: "
        f"p50 {percentile(values, 0.5) * 1000:.1f} ms, p99 {percentile(values, 0.99) * 1000:.1f} "
        f"ms, max {max(values) * 1000:.1f} ms, mean {statistics.mean(values) * 1000:.1f} ms"
    )
    print(
        f"serve's CPU per payload: {cpu * 1000:.1f} ms; load average now {os.getloadavg()[0]:.1f}"
    )
    print("serve's histogram (masgsm_accept_to_send_seconds):")
    print(histogram)


if __name__ == "__main__":
    threading.excepthook = lambda info: print(info.exc_value, file=sys.stderr)
    main()
