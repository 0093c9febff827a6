"""masgsm-notify against the script people would otherwise write, and against its targets.

    python benchmarks/pipeline_bench.py                  # everything (several minutes)
    python benchmarks/pipeline_bench.py --repeat 3 --big 0 --recipients 20000   # a quick look

Every figure comes from child processes against a sandbox started as a process of its own (so
the sandbox and the measured program do not share an interpreter lock), after a warm-up, as the
median of `--repeat` runs, and is printed beside its target:

1. the whole pipeline (`masgsm-notify run` with every guarantee on: the sent ledger, the
   journal, pre-flight, delivery reports) and `benchmarks/bare_script.py` (read the CSV, render
   with Jinja, post type-1 batches of 500, poll the reports; nothing else), side by side on the
   same recipients: recipients/s and their ratio; and the pipeline once more with a ledger that
   already holds `--history` pairs of earlier runs, as a ledger in use does;
2. the plain Apprise way, one `notify` per recipient through the same masgsm:// account and the
   same template, on a sample;
3. start-up: `masgsm-notify --version` and `--help`, and a 10-row `run` from process start to
   its first request (and first send) as the sandbox saw them;
4. with 50 ms added to every request, the send phase at concurrency 1 and 4, against the bound
   concurrency x 500 / 50 ms, and how long a request took from its batch journaled in flight
   to its answer journaled (the 50 ms, the sandbox's own work on 500 texts, and HTTP);
5. one million recipients: peak memory of the run, and the sandbox's memory per stored message.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import apprise
import requests

import masgsm_notify
import masgsm_notify.apprise_plugin  # registers masgsm:// with Apprise
from masgsm_notify.render import load_template, make_environment
from masgsm_notify.state.ledger import ACCEPTED, Ledger, account_key, digest

FIRST = ["Ayşe", "Mehmet", "Zeynep", "Mustafa", "Elif", "Ahmet", "Emine", "Hüseyin", "Fatma"]
FIRST += ["İbrahim", "Şeyma", "Gökhan", "Çağrı", "Büşra", "Uğur", "Gülşen", "Oğuz", "Ömer"]
LAST = ["Yılmaz", "Öztürk", "Çelik", "Şahin", "Doğan", "Kaya", "Arslan", "Koç", "Kurt", "Aydın"]
LAST += ["Özdemir", "Yıldız", "Güneş", "Erdoğan", "Aksoy", "Polat", "Işık", "Ünal"]
TEMPLATE = (
    "Sayın {{ name }}, {{ amount|money }} tutarındaki faturanızın son ödeme tarihi "
    "{{ due|date('long') }}. Bilgi: 0850 000 00 00\n"
)
USER, PASSWORD, TITLE = "5300000000", "sandbox", "MASGSMTEST"
CLI = [sys.executable, "-m", "masgsm_notify"]
BENCHMARKS = Path(__file__).resolve().parent


def scattered_number(i: int) -> str:
    """The i-th of 300,000,000 distinct mobile numbers, in no order: a customer list is not
    sorted by phone number, and an index keyed by number must not be flattered by one that is."""
    return f"5{3 + i % 3}{(i * 48_271_031 + 1_234_567) % 10**8:08d}"


def write_recipients(path: Path, count: int, seed: int = 7) -> None:
    """`count` rows of name, phone, amount, due; unique valid numbers; streamed to disk."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as file:
        file.write("name,phone,amount,due\n")
        for i in range(count):
            file.write(
                f"{rng.choice(FIRST)} {rng.choice(LAST)},0{scattered_number(i)},"
                f"{rng.randint(100, 999999) / 100:.2f},2026-12-{1 + i % 28:02d}\n"
            )


def write_pipeline(folder: Path, csv_name: str, concurrency: int) -> Path:
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "notice.txt.j2").write_text(TEMPLATE, encoding="utf-8")
    path = folder / f"bench-{csv_name}-{concurrency}.yaml"
    path.write_text(
        f"name: bench-{path.stem}\nrecipients:\n  csv: {csv_name}\nmessage:\n"
        f"  template: notice.txt.j2\n  title: {TITLE}\nsend:\n  batch_size: 500\n"
        f"  concurrency: {concurrency}\nreport:\n  wait: 2m\n  poll_every: 250ms\n"
        "  fail_if: 'unknown + not_sent > 0'\n",
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

    def state(self) -> dict:
        return requests.get(f"{self.root}/_sandbox/state", timeout=60).json()

    def reset(self) -> None:
        requests.post(f"{self.root}/_sandbox/reset", timeout=60)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def run_env(sandbox: Sandbox, state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MASGSM_USER": USER,
        "MASGSM_PASSWORD": PASSWORD,
        "MASGSM_BASE_URL": sandbox.base_url,
        "MASGSM_STATE_DIR": str(state),
        "MASGSM_NOTIFY_NO_PLUGINS": "1",
    }


# Starts a command and writes its peak RSS to a file. A process's ru_maxrss starts from the
# high-water mark of the process that spawned it (Linux keeps it across fork and exec), so a run
# spawned by this benchmark, which holds a million-pair ledger's worth of memory by then, would
# report the benchmark's peak as its own; this launcher is small.
PEAK_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass(frozen=True)
class Finished:
    """A child process that succeeded: what it printed, and what it took."""

    output: bytes
    started_at: float  # time.time() when it was started
    wall: float
    cpu: float  # user and system time, its own and its workers'


def finished(command: list[str], env: dict[str, str] | None = None) -> Finished:
    """Run a command that must succeed. The benchmark's own earlier writes (a copied ledger of
    80 MB, the last run's journal) reach the disk first, not in the fsyncs of the run measured,
    as a state directory in use has long been on disk."""
    os.sync()
    started_at = time.time()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        shown = " ".join(command)[-200:]
        raise SystemExit(f"{shown} failed (exit {code}): {process.stderr.read()[-500:]!r}")
    return Finished(output, started_at, wall, usage.ru_utime + usage.ru_stime)


def run_pipeline(pipeline: Path, sandbox: Sandbox, state: Path, peak: bool = False) -> dict:
    """`masgsm-notify run` as a child, every guarantee on; its summary with wall and CPU time
    and the wall-clock time it started, and with `peak` the peak RSS of the run and its workers.
    Each run has a state directory of its own, so the ledger holds no earlier run."""
    command = [*CLI, "run", str(pipeline), "--json", "-q"]
    peak_file = state.with_name(f"{state.name}.peak")
    if peak:
        command = [sys.executable, "-c", PEAK_LAUNCHER, str(peak_file), *command]
    run = finished(command, run_env(sandbox, state))
    summary = json.loads(run.output)
    summary.update(wall=run.wall, cpu=run.cpu, started_at=run.started_at)
    if peak:
        summary["peak_mb"] = int(peak_file.read_text()) / 1024
    return summary


def ledger_with_history(path: Path, base_url: str, pairs: int) -> None:
    """A ledger holding `pairs` accepted (number, text) pairs of earlier runs, none of them the
    benchmark's texts: what a state directory holds after a few months of sending."""
    account = account_key(base_url, USER)
    rng = random.Random(17)
    with Ledger(path) as ledger:
        for start in range(0, pairs, 50_000):
            chunk = [
                (scattered_number(rng.randrange(300_000_000)), digest(f"earlier {start + i}"))
                for i in range(min(50_000, pairs - start))
            ]
            claims = ledger.claim(account, chunk, owner="earlier", run_key="earlier", since=None)
            ledger.settle(claims.id, ACCEPTED)
        ledger.fold()
        ledger.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def run_bare(csv_path: Path, template: Path, sandbox: Sandbox) -> Finished:
    script = BENCHMARKS / "bare_script.py"
    run = finished([sys.executable, str(script), str(csv_path), str(template), sandbox.base_url])
    assert json.loads(run.output)["sent"] > 0
    return run


def request_ms(state: Path) -> float:
    """The median time from a batch journaled in flight to its answer journaled, in the run's
    journal: what one request cost, as the pipeline saw it."""
    (journal,) = (state / "journals").glob("*.sqlite")
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT answered_at - started_at FROM batches").fetchall()
    finally:
        db.close()
    return statistics.median(seconds for (seconds,) in rows) * 1000


def apprise_rate(sandbox: Sandbox, csv_path: Path, folder: Path, sample: int) -> float:
    """Recipients per second, one Apprise notify per recipient, the text rendered with the
    pipeline's own template and environment."""
    render = load_template(make_environment([folder / "templates"]), "notice.txt.j2")
    rows = csv_path.read_text(encoding="utf-8").splitlines()[1 : sample + 1]
    started = time.perf_counter()
    for row in rows:
        name, number, amount, due = row.split(",")
        notifier = apprise.Apprise()
        notifier.add(f"masgsm://{USER}:{PASSWORD}@{TITLE}/{number}?base={sandbox.base_url}")
        text = render({"name": name, "amount": amount, "due": due}).strip()
        if not notifier.notify(body=text):
            raise SystemExit("an Apprise notify failed")
    return len(rows) / (time.perf_counter() - started)


def median_time(args: list[str], times: int) -> float:
    """The median wall time of a command that must succeed."""
    env = {**os.environ, "MASGSM_NOTIFY_NO_PLUGINS": "1"}
    return statistics.median(finished(args, env).wall for _ in range(times))


PHASES = ("plan", "send", "check")


def phases(runs: list[dict]) -> str:
    """The median of each phase the runs timed, as the summary shows them, and of the rest of
    the wall time (`around`: the interpreter and imports, settings, pre-flight, the summary,
    waiting for the ledger's fold, and the interpreter's exit)."""
    timed = [
        f"{phase} {statistics.median(r['timings'].get(phase, 0.0) for r in runs):.2f}"
        for phase in PHASES
    ]
    around = statistics.median(
        r["wall"] - sum(r["timings"].get(phase, 0.0) for phase in PHASES) for r in runs
    )
    return ", ".join([*timed, f"around {around:.2f}"])


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000, help="the main run's size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per median, at least 3")
    parser.add_argument("--big", type=int, default=1_000_000, help="memory run; 0 skips it")
    parser.add_argument(
        "--apprise-sample", type=int, default=300, help="recipients sent the plain Apprise way"
    )
    parser.add_argument(
        "--latency-recipients", type=int, default=40_000, help="recipients of the 50 ms runs"
    )
    parser.add_argument(
        "--history", type=int, default=1_000_000, help="earlier pairs in the ledger; 0 skips it"
    )
    args = parser.parse_args()
    repeat = max(args.repeat, 1)
    # Bytecode as an installed package has it (pip compiles at install; an editable checkout
    # where PYTHONDONTWRITEBYTECODE is set would compile every module in every child).
    compileall.compile_dir(Path(masgsm_notify.__file__).parent, quiet=1)

    print(
        f"masgsm-notify {masgsm_notify.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPU(s), {platform.platform()}; medians of "
        f"{repeat} runs after a warm-up"
    )
    with tempfile.TemporaryDirectory(prefix="masgsm-bench-") as tmp:
        folder = Path(tmp)
        write_recipients(folder / "main.csv", args.recipients)
        write_recipients(folder / "warm.csv", 2_000, seed=3)
        template = folder / "templates" / "notice.txt.j2"
        main_pipeline = write_pipeline(folder, "main.csv", 4)
        warm_pipeline = write_pipeline(folder, "warm.csv", 4)
        sandbox = Sandbox()
        try:
            run_pipeline(warm_pipeline, sandbox, folder / "state-warm")
            run_bare(folder / "warm.csv", template, sandbox)
            pipeline_runs, bare_runs = [], []
            for round_ in range(repeat):
                sandbox.reset()
                bare_runs.append(run_bare(folder / "main.csv", template, sandbox))
                sandbox.reset()
                pipeline_runs.append(
                    run_pipeline(main_pipeline, sandbox, folder / f"state-{round_}")
                )
                if sandbox.state()["messages"] != args.recipients:
                    raise SystemExit("the sandbox did not accept every text")
            pipe = statistics.median(r["wall"] for r in pipeline_runs)
            bare = statistics.median(r.wall for r in bare_runs)
            rate = args.recipients / pipe
            print(
                f"\n1. {args.recipients:,} recipients: pipeline {pipe:.2f} s ({rate:,.0f}/s; "
                f"{phases(pipeline_runs)}; CPU "
                f"{statistics.median(r['cpu'] for r in pipeline_runs):.2f} s), bare script "
                f"{bare:.2f} s ({args.recipients / bare:,.0f}/s; CPU "
                f"{statistics.median(r.cpu for r in bare_runs):.2f} s)"
            )
            print(
                f"   pipeline / bare script: {bare / pipe:.2f}  (target >= 1.00: "
                f"{verdict(bare / pipe, 1.0)}); stretch 50,000/s: {verdict(rate, 50_000)}"
            )
            if args.history:
                history = folder / "history.sqlite"
                ledger_with_history(history, sandbox.base_url, args.history)
                history_runs = []
                for round_ in range(repeat):
                    state = folder / f"state-history-{round_}"
                    state.mkdir()
                    shutil.copyfile(history, state / "ledger.sqlite")
                    sandbox.reset()
                    history_runs.append(run_pipeline(main_pipeline, sandbox, state))
                with_history = statistics.median(r["wall"] for r in history_runs)
                print(
                    f"   with {args.history:,} earlier pairs in the ledger: pipeline "
                    f"{with_history:.2f} s ({args.recipients / with_history:,.0f}/s; "
                    f"{phases(history_runs)}), pipeline / bare script {bare / with_history:.2f}"
                )
            sandbox.reset()
            plain = apprise_rate(sandbox, folder / "main.csv", folder, args.apprise_sample)
            print(
                f"2. plain Apprise, one notify per recipient ({args.apprise_sample} sampled): "
                f"{plain:,.0f}/s; the pipeline is {rate / plain:,.0f}x"
            )
            version = median_time([*CLI, "--version"], max(repeat, 5))
            help_ = median_time([*CLI, "--help"], max(repeat, 5))
            print(
                f"3. --version {version:.3f} s, --help {help_:.3f} s (target <= 0.15: "
                f"{verdict(version, 0.15, False)}, {verdict(help_, 0.15, False)})"
            )
            write_recipients(folder / "ten.csv", 10, seed=5)
            ten = write_pipeline(folder, "ten.csv", 4)
            firsts, sends = [], []
            for round_ in range(max(repeat, 5)):
                sandbox.reset()
                started = run_pipeline(ten, sandbox, folder / f"state-ten-{round_}")["started_at"]
                state = sandbox.state()
                firsts.append(state["first_request_at"] - started)
                sends.append(state["first_send_at"] - started)
            first, send = statistics.median(firsts), statistics.median(sends)
            print(
                f"   10-row run: first request {first:.3f} s, first send {send:.3f} s after "
                f"the process starts (target <= 0.5: {verdict(send, 0.5, False)})"
            )
        finally:
            sandbox.close()

        write_recipients(folder / "latency.csv", args.latency_recipients, seed=11)
        slow = Sandbox("--latency-ms", "50")
        try:
            print(f"4. 50 ms per request, {args.latency_recipients:,} recipients, batch 500:")
            for concurrency in (1, 4):
                pipeline = write_pipeline(folder, "latency.csv", concurrency)
                rates, requests = [], []
                for round_ in range(repeat):
                    slow.reset()
                    state = folder / f"state-latency-{concurrency}-{round_}"
                    result = run_pipeline(pipeline, slow, state)
                    rates.append(args.latency_recipients / result["timings"]["send"])
                    requests.append(request_ms(state))
                achieved = statistics.median(rates)
                bound = concurrency * 500 / 0.050
                print(
                    f"   concurrency {concurrency}: {achieved:,.0f} texts/s, {achieved / bound:.0%}"
                    f" of {bound:,.0f} (target >= 70%: {verdict(achieved / bound, 0.7)}); a "
                    f"request took {statistics.median(requests):.1f} ms (median), of which the "
                    "sandbox added 50"
                )
        finally:
            slow.close()

        if args.big:
            write_recipients(folder / "big.csv", args.big, seed=13)
            sandbox = Sandbox()
            try:
                before = sandbox.rss_mb()
                big = run_pipeline(
                    write_pipeline(folder, "big.csv", 4), sandbox, folder / "sb", peak=True
                )
                per_message = (sandbox.rss_mb() - before) * 1024 * 1024 / args.big
                big_rate = args.big / big["wall"]
                print(
                    f"5. {args.big:,} recipients: {big['wall']:.1f} s ({big_rate:,.0f}"
                    f"/s), peak RSS of the run {big['peak_mb']:.0f} MB (target < 100: "
                    f"{verdict(big['peak_mb'], 100, False)}); the sandbox holds {per_message:,.0f} "
                    "bytes per stored message (was 550)"
                )
            finally:
                sandbox.close()


if __name__ == "__main__":
    main()
