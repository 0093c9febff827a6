"""What sending lawfully costs: İYS consent records, the opt-out list, planning. Prints figures.

    python benchmarks/compliance_bench.py                          # one million of each
    python benchmarks/compliance_bench.py --recipients 100000      # a quick look

1. Indexing the İYS consent records (one MESAJ record per recipient, one in five numbers with a
   second record, plus ARAMA records that are skipped): records/s, the memory the index holds
   and how much building it raised the peak.
2. Screening recipients a planning chunk (2,000) at a time against the index and an opt-out list
   of a tenth of them: numbers/s.
3. `masgsm-notify run --dry-run` of the same recipients, as an informational pipeline and as a
   commercial one with consent, opt-outs and an opt-out text: seconds and peak memory of each.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from masgsm_notify.pipeline.compliance import ConsentCheck, Screen
from masgsm_notify.pipeline.spec import load_pipeline
from masgsm_notify.state.optouts import OptOutList


def number(i: int) -> str:
    return f"532{i:07d}"


def write_records(path: Path, count: int, seed: int = 11) -> int:
    rng = random.Random(seed)
    written = 0
    with path.open("w", encoding="utf-8") as file:
        file.write("recipient,type,source,status,consentDate,recipientType\n")
        for i in range(count):
            day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 10:00:00"
            kind = "TACIR" if i % 10 == 0 else "BIREYSEL"
            lines = [f"+90{number(i)},MESAJ,HS_WEB,ONAY,{day},{kind}\n"]
            if i % 5 == 0:
                lines.append(f"+90{number(i)},MESAJ,HS_WEB,RET,2025-01-02 10:00:00,{kind}\n")
            if i % 7 == 0:
                lines.append(f"+90{number(i)},ARAMA,HS_WEB,ONAY,{day},{kind}\n")
            file.writelines(lines)
            written += len(lines)
    return written


def write_recipients(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        file.write("name,phone\n")
        for i in range(count):
            file.write(f"Müşteri {i},0{number(i)}\n")


def write_pipeline(folder: Path, commercial: bool) -> Path:
    compliance = (
        'compliance:\n  purpose: commercial\n  optout_text: "RET yazıp 4607\'ye gönderin"\n'
        "  consent: iys.csv\n"
        if commercial
        else ""
    )
    path = folder / ("commercial.yaml" if commercial else "informational.yaml")
    path.write_text(
        f"name: {path.stem}\nrecipients: {{csv: people.csv}}\n"
        'message: {inline: "Sayın {{ name }}, bahar indirimi başladı."}\n' + compliance,
        encoding="utf-8",
    )
    return path


def dry_run(pipeline: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of `masgsm-notify run --dry-run` in a child process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(pipeline)], env=env, capture_output=True, text=True
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return took, float(done.stdout.strip().splitlines()[-1])


# Runs the command in-process, then prints its own peak RSS (VmHWM: ru_maxrss would carry the
# parent's peak across fork and exec).
_CHILD = """
import sys
from masgsm_notify.cli import main
try:
    main(["run", sys.argv[1], "--dry-run", "-q", "--preview", "0"])
except SystemExit as stop:
    if stop.code:
        raise
finally:
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    print(int(peak.split()[1]) / 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    args = parser.parse_args()
    count = args.recipients
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="masgsm-compliance-bench-") as name:
        folder = Path(name)
        os.environ["MASGSM_STATE_DIR"] = str(folder / "state")
        records = write_records(folder / "iys.csv", count)
        write_recipients(folder / "people.csv", count)

        check = ConsentCheck(load_pipeline(write_pipeline(folder, commercial=True)))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        index = check.source.index()  # the built-in reader's records, read once per run
        took = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # written streaming
        print(
            f"1. İYS records indexed: {records:,} in {took:.2f} s ({records / took:,.0f}/s), "
            f"{len(index):,} numbers; the index holds {sys.getsizeof(index) / 2**20:.1f} MB, "
            f"building it raised peak RSS by {rss_after - rss_before:.0f} MB"
        )

        with OptOutList() as optouts:
            optouts.add((number(i) for i in range(0, count, 10)), None, "bench")
        with OptOutList() as optouts:
            screen = Screen(optouts, check)
            started = time.perf_counter()
            aside = 0
            for start in range(0, count, 2000):
                aside += len(screen([number(i) for i in range(start, min(start + 2000, count))]))
            took = time.perf_counter() - started
        print(
            f"2. Screened {count:,} recipients in chunks of 2,000: {took:.2f} s "
            f"({count / took:,.0f}/s), {aside:,} set aside"
        )

        env = {**os.environ, "MASGSM_NOTIFY_NO_PLUGINS": "1"}
        env = {k: v for k, v in env.items() if k not in ("MASGSM_USER", "MASGSM_PASSWORD")}
        for commercial in (False, True):
            took, peak = dry_run(write_pipeline(folder, commercial), env)
            kind = "commercial (consent, opt-outs, opt-out text)" if commercial else "informational"
            print(
                f"3. Dry run, {kind}: {count:,} recipients in {took:.2f} s "
                f"({count / took:,.0f}/s), peak RSS {peak:.0f} MB"
            )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this process peaked at {own:.0f} MB, with the index and the CSVs' generation)")


if __name__ == "__main__":
    main()
