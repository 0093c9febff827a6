"""Throughput and memory of masgsm-notify against the sandbox on loopback. Prints figures.

    python benchmarks/pipeline_bench.py                      # everything (about two minutes)
    python benchmarks/pipeline_bench.py --recipients 20000 --big 0   # a quick look

What it measures, in one run, each against a sandbox started as its own process (so the sandbox
and the pipeline do not share an interpreter lock):

1. the whole pipeline (`masgsm-notify run`: read CSV, render, validate, plan, journal, send type-1
   batches, check reports) on N generated recipients with Turkish names: recipients/s, peak RSS;
2. the plain Apprise way, one `notify` per recipient through a masgsm:// URL, on a sample;
3. the ceiling of this stack: one pre-encoded 500-text type-1 batch posted again and again;
4. the pipeline again with 50 ms added to every request, at send.concurrency 1, 4 and 16;
5. one million recipients, to show that peak memory does not grow with the recipient count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import apprise
import requests

import masgsm_notify.apprise_plugin  # registers masgsm:// with Apprise
from masgsm_notify import MasgsmClient

FIRST = [
    "Ayşe",
    "Mehmet",
    "Zeynep",
    "Mustafa",
    "Elif",
    "Ahmet",
    "Emine",
    "Hüseyin",
    "Fatma",
    "İbrahim",
    "Şeyma",
    "Gökhan",
    "Çağrı",
    "Büşra",
    "Uğur",
    "Gülşen",
    "Oğuz",
    "Ömer",
    "Işıl",
    "Ilgın",
]
LAST = [
    "Yılmaz",
    "Öztürk",
    "Çelik",
    "Şahin",
    "Doğan",
    "Kaya",
    "Arslan",
    "Koç",
    "Kurt",
    "Aydın",
    "Özdemir",
    "Yıldız",
    "Güneş",
    "Erdoğan",
    "Aksoy",
    "Polat",
    "Işık",
    "Ünal",
]
TEMPLATE = (
    "Sayın {{ name }}, {{ amount|money }} tutarındaki faturanızın son ödeme tarihi "
    "{{ due|date('long') }}. Bilgi: 0850 000 00 00\n"
)
USER, PASSWORD, TITLE = "5300000000", "sandbox", "MASGSMTEST"
CLI = [sys.executable, "-m", "masgsm_notify"]


def write_recipients(path: Path, count: int, seed: int = 7) -> None:
    """`count` rows of name, phone, amount, due; unique valid numbers; streamed to disk."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as file:
        file.write("name,phone,amount,due\n")
        for i in range(count):
            file.write(
                f"{rng.choice(FIRST)} {rng.choice(LAST)},05{3 + i % 3}{i:08d},"
                f"{rng.randint(100, 999999) / 100:.2f},2026-12-{1 + i % 28:02d}\n"
            )


def write_pipeline(folder: Path, csv_name: str, concurrency: int) -> Path:
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "notice.txt.j2").write_text(TEMPLATE, encoding="utf-8")
    path = folder / f"bench-{csv_name}-{concurrency}.yaml"
    path.write_text(
        f"name: bench\nrecipients:\n  csv: {csv_name}\nmessage:\n  template: notice.txt.j2\n"
        f"  title: {TITLE}\nsend:\n  batch_size: 500\n  concurrency: {concurrency}\n"
        "report:\n  wait: 2m\n  poll_every: 250ms\n  fail_if: 'unknown + not_sent > 0'\n",
        encoding="utf-8",
    )
    return path


class Sandbox:
    """`masgsm-notify sandbox serve` as a child process."""

    def __init__(self, *options: str):
        self.process = subprocess.Popen(
            [*CLI, "sandbox", "serve", "--balance", str(10**12), "--settle-ms", "50", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.base_url = self.process.stdout.readline().strip()
        self.root = self.base_url.rsplit("/MasApiV2", 1)[0]

    def accepted(self) -> int:
        return requests.get(f"{self.root}/_sandbox/state", timeout=30).json()["messages"]

    def reset(self) -> None:
        requests.post(f"{self.root}/_sandbox/reset", timeout=30)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def run_pipeline(pipeline: Path, sandbox: Sandbox, journal: Path) -> dict:
    """Run the CLI as a child; return its JSON summary plus wall time and peak RSS."""
    env = {
        **os.environ,
        "MASGSM_USER": USER,
        "MASGSM_PASSWORD": PASSWORD,
        "MASGSM_BASE_URL": sandbox.base_url,
        "MASGSM_NOTIFY_NO_PLUGINS": "1",
    }
    started = time.perf_counter()
    child = subprocess.Popen(
        [*CLI, "run", str(pipeline), "--journal", str(journal), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"pipeline run failed (exit {os.waitstatus_to_exitcode(status)})")
    summary = json.loads(output)
    summary["wall"] = seconds
    summary["peak_mb"] = usage.ru_maxrss / 1024
    return summary


def apprise_rate(sandbox: Sandbox, csv_path: Path, sample: int) -> float:
    """Recipients per second, one Apprise notify per recipient (rendered in Python first)."""
    rows = csv_path.read_text(encoding="utf-8").splitlines()[1 : sample + 1]
    started = time.perf_counter()
    for row in rows:
        name, number, amount, due = row.split(",")
        notifier = apprise.Apprise()
        notifier.add(f"masgsm://{USER}:{PASSWORD}@{TITLE}/{number}?base={sandbox.base_url}")
        if not notifier.notify(body=f"Sayın {name}, {amount} TL, son ödeme {due}."):
            raise SystemExit("an Apprise notify failed")
    return len(rows) / (time.perf_counter() - started)


def ceiling_rate(sandbox: Sandbox, batches: int) -> float:
    """Texts per second posting one pre-encoded 500-text type-1 batch in a tight loop."""
    numbers = [f"0532{i:07d}" for i in range(500)]
    texts = [
        f"Sayın Müşteri {i}, 1.234,56 TL tutarındaki faturanızın son ödeme tarihi "
        "27 Kasım 2026. Bilgi: 0850 000 00 00"
        for i in range(500)
    ]
    with MasgsmClient(USER, PASSWORD, title=TITLE, base_url=sandbox.base_url) as client:
        prepared = client.prepare_personalised(numbers, texts)
        started = time.perf_counter()
        for _ in range(batches):
            client.submit(prepared)
        return batches * 500 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000_000, help="0 skips the memory run")
    parser.add_argument("--apprise-sample", type=int, default=300)
    parser.add_argument("--latency-recipients", type=int, default=40_000)
    args = parser.parse_args()

    print(
        f"masgsm-notify {masgsm_notify.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPU(s), {platform.platform()}"
    )
    with tempfile.TemporaryDirectory(prefix="masgsm-bench-") as tmp:
        folder = Path(tmp)
        write_recipients(folder / "main.csv", args.recipients)
        sandbox = Sandbox()
        try:
            main_run = run_pipeline(
                write_pipeline(folder, "main.csv", 4), sandbox, folder / "main.sqlite"
            )
            if sandbox.accepted() != args.recipients:
                raise SystemExit(
                    f"the sandbox accepted {sandbox.accepted()} texts, not {args.recipients}"
                )
            pipeline_rate = args.recipients / main_run["wall"]
            timings = main_run["timings"]
            print(
                f"\n1. pipeline, {args.recipients:,} recipients, concurrency 4: "
                f"{main_run['wall']:.2f} s wall -> {pipeline_rate:,.0f} recipients/s; "
                f"peak RSS {main_run['peak_mb']:.0f} MB"
            )
            print(
                f"   phases: plan {timings['plan']:.2f} s, send {timings['send']:.2f} s, "
                f"check {timings['check']:.2f} s; the rest is start-up and summary"
            )
            sandbox.reset()
            plain = apprise_rate(sandbox, folder / "main.csv", args.apprise_sample)
            print(
                f"2. plain Apprise, one notify per recipient ({args.apprise_sample} sampled): "
                f"{plain:,.0f} recipients/s -> pipeline is {pipeline_rate / plain:,.1f}x"
            )
            sandbox.reset()
            ceiling = ceiling_rate(sandbox, max(args.recipients // 500, 20))
            print(
                f"3. stack ceiling, pre-encoded 500-text batches in a loop: {ceiling:,.0f} "
                f"texts/s -> pipeline is {pipeline_rate / ceiling:.2f} of it"
            )
        finally:
            sandbox.close()

        write_recipients(folder / "latency.csv", args.latency_recipients, seed=11)
        slow = Sandbox("--latency-ms", "50")
        try:
            print(
                f"4. 50 ms per request, {args.latency_recipients:,} recipients, batch 500 "
                "(send phase):"
            )
            for concurrency in (1, 4, 16):
                slow.reset()
                result = run_pipeline(
                    write_pipeline(folder, "latency.csv", concurrency),
                    slow,
                    folder / f"latency-{concurrency}.sqlite",
                )
                rate = args.latency_recipients / result["timings"]["send"]
                bound = concurrency * 500 / 0.050
                print(
                    f"   concurrency {concurrency:>2}: {rate:>9,.0f} texts/s "
                    f"({rate / bound:.0%} of {bound:,.0f} = concurrency x 500 / 50 ms)"
                )
        finally:
            slow.close()

        if args.big:
            write_recipients(folder / "big.csv", args.big, seed=13)
            sandbox = Sandbox()
            try:
                big = run_pipeline(
                    write_pipeline(folder, "big.csv", 4), sandbox, folder / "big.sqlite"
                )
                print(
                    f"5. {args.big:,} recipients: {big['wall']:.1f} s wall "
                    f"({args.big / big['wall']:,.0f}/s), peak RSS {big['peak_mb']:.0f} MB "
                    f"(vs {main_run['peak_mb']:.0f} MB at {args.recipients:,})"
                )
            finally:
                sandbox.close()


if __name__ == "__main__":
    main()
