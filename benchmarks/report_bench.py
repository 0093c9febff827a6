"""The run's HTML page for a large run: how long it takes to write, and how big it is. Prints
figures.

    python benchmarks/report_bench.py                      # one million recipients
    python benchmarks/report_bench.py --recipients 100000  # a quick look

The run is built in a journal through the same records API a real run writes with (plan,
batches of 500 sent, their delivery reports, rounds of reports counted, a pre-flight balance),
so the page reads exactly what it would read after `run`; no request leaves the machine. A few
percent of numbers fail, most of them in one operator range; some batches are left unknown and
some rows are skipped as invalid, so every section of the page has work to do.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from masgsm_notify.pipeline.history import PRE_FLIGHT, record_balance, record_poll
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.pipeline.records import RunRecords
from masgsm_notify.pipeline.summary import summarize
from masgsm_notify.report import write_report
from masgsm_notify.states import BatchState

PREFIXES = ["501", "505", "506", "507", "530", "532", "533", "535", "536", "541", "542", "543",
            "544", "545", "551", "552", "553", "554", "555", "559"]  # fmt: skip
CHUNK = 50_000


def build(journal: Journal, recipients: int, seed: int) -> RunRecords:
    rng = random.Random(seed)
    run = journal.create_run("bench-1", "bench", "bench.yaml", "f" * 64, "5300000000", None)
    records = RunRecords(journal, run)
    skipped = recipients // 200
    for start in range(0, recipients, CHUNK):
        part = range(start, min(start + CHUNK, recipients))
        records.add_planned(
            (
                (
                    f"customers.csv:{i + 2}",
                    f"{PREFIXES[i % len(PREFIXES)]}{i:07d}"[:10],
                    f"Sayın müşterimiz, {i} numaralı faturanızın son ödeme tarihi yarın.",
                    "turkish",
                    1 + (i % 7 == 0),
                )
                for i in part
            ),
            [],
        )
    records.add_planned(
        [], [(f"customers.csv:{recipients + i + 2}", "0212 555 00 00", "a landline") for i in
             range(skipped)],
    )  # fmt: skip
    records.merge_duplicates()
    records.finish_plan(recipients + skipped, 0)
    record_balance(records, PRE_FLIGHT, 2 * recipients)
    batches = []
    for number, draft in enumerate(records.drafts(500)):
        batch_id = records.open_batch(draft)
        if number % 97 == 13:
            records.close_batch(batch_id, BatchState.UNKNOWN, error="read timed out")
            continue
        records.close_batch(batch_id, BatchState.SENT, message_id=str(100000 + number))
        batches.append((batch_id, draft.numbers))
    for round_ in range(3):  # three rounds of reports: most settle in the first
        for batch_id, numbers in batches:
            delivered, failed, pending = [], [], []
            for n in numbers:
                roll = rng.random()
                bad = 0.25 if n.startswith("507") else 0.01
                if roll < bad:
                    failed.append(n)
                elif round_ < 2 and roll > 0.9:
                    pending.append(n)
                else:
                    delivered.append(n)
            records.apply_report(batch_id, delivered, failed, pending)
        record_poll(records, len(batches))
    return records


def timed(work):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--journal", type=Path, help="keep the built journal here, and use it if it exists"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="masgsm-report-bench-") as folder:
        path = args.journal or Path(folder) / "bench.sqlite"
        with Journal(path) as journal:
            found = journal.find_run("bench-1")
            if found is None:
                records, wall, _ = timed(lambda: build(journal, args.recipients, args.seed))
                print(f"built the run in {wall:.1f} s", file=sys.stderr)
                found = records.run

            # Nothing cached, as `check` finds a run: one count of a round, then the page.
            _, count_wall, count_cpu = timed(lambda: record_poll(RunRecords(journal, found), 0))
            records = RunRecords(journal, found)
            summary, summary_wall, summary_cpu = timed(
                lambda: summarize(records, journal=str(journal.path), dry_run=False)
            )
            page = Path(folder) / "report.html"
            size, page_wall, page_cpu = timed(lambda: write_report(page, records, summary))
            rows = records.tally().rows()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"recipient rows:                   {rows:,}")
    print(f"page written (after the summary): {page_wall:.2f} s ({page_cpu:.2f} s CPU)")
    print(f"page size:                        {size / 1e6:.2f} MB")
    print(f"the summary itself (as --json):   {summary_wall:.2f} s ({summary_cpu:.2f} s CPU)")
    print(f"one round's count (check):        {count_wall:.2f} s ({count_cpu:.2f} s CPU)")
    print(f"peak RSS:                         {peak:.0f} MB")
    print(f"load average (1 min):             {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
