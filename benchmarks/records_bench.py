"""What a run's bookkeeping costs per message: the journal, the sent ledger, a batch's encoding.
Prints figures.

    python benchmarks/records_bench.py                       # 100,000 messages, best of 3
    python benchmarks/records_bench.py --messages 20000 --repeat 1

Each step is what a real run does, through the same API, in the order it does it, on files in a
temporary folder: the texts escaped for the wire (which a run does on the planning workers'
cores), the plan written in parts of 2,000 and its duplicates merged; the texts looked
up in the sent ledger; batches of 500 drafted, claimed in the ledger, encoded as type-1 bodies,
journaled in flight, answered and settled; a delivery report applied to each; the run counted.
No request leaves the machine. Each figure is microseconds of this process's CPU per message,
the best of `--repeat` rounds (a busy machine disturbs CPU time far less than wall time).
"""

from __future__ import annotations

import argparse
import platform
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pipeline_bench import scattered_number

from masgsm_notify.client import MasgsmClient
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.pipeline.ledger_guard import LedgerGuard
from masgsm_notify.pipeline.records import RunRecords
from masgsm_notify.state.ledger import Ledger, account_key
from masgsm_notify.states import BatchState
from masgsm_notify.wire import php_urlencode

PART, BATCH = 2_000, 500
NAMES = ["Ayşe Yılmaz", "Mehmet Öztürk", "Zeynep Çelik", "Mustafa Şahin", "İbrahim Doğan"]


def messages(count: int) -> list[tuple[str, str, str, str, int]]:
    """Composed messages as planning hands them to the journal: one Turkish-alphabet segment."""
    rng = random.Random(7)
    return [
        (
            f"customers.csv:{i + 2}",
            scattered_number(i),
            f"Sayın {rng.choice(NAMES)}, {rng.randint(100, 999_999) / 100:.2f} TL tutarındaki "
            f"faturanızın son ödeme tarihi {1 + i % 28} Aralık 2026. Bilgi: 0850 000 00 00",
            "turkish",
            1,
        )
        for i in range(count)
    ]


def one_round(planned: list, folder: Path) -> dict[str, float]:
    """Seconds of CPU per step, for one run's worth of bookkeeping."""
    spent: dict[str, float] = {}

    def step(name: str, work: Callable[[], object]) -> object:
        started = time.process_time()
        result = work()
        spent[name] = time.process_time() - started
        return result

    account = account_key("http://127.0.0.1:8080/MasApiV2", "5300000000")
    client = MasgsmClient("5300000000", "secret", title="MASGSMTEST", base_url="http://127.0.0.1:9")
    with Journal(folder / "journal.sqlite") as journal, Ledger(folder / "ledger.sqlite") as ledger:
        journal.lock()
        records = RunRecords(journal, journal.create_run("k", "n", "p.yaml", "f", "a", account))
        guard = LedgerGuard(ledger, account, records.run.uid, "k", 24 * 3600.0)
        parts = range(0, len(planned), PART)
        wire = step("escaped (workers)", lambda: [php_urlencode(m[2]) for m in planned])
        step(
            "plan written",
            lambda: [
                records.add_planned(planned[s : s + PART], [], None, wire[s : s + PART])
                for s in parts
            ],
        )
        step("duplicates merged", records.merge_duplicates)
        step("ledger looked up", lambda: [guard.already_sent(planned[s : s + PART]) for s in parts])
        drafts = step("batches drafted", lambda: list(records.drafts(BATCH)))
        claims = step("ledger claimed", lambda: [guard.claim(draft) for draft in drafts])
        step(
            "batches encoded",
            lambda: [
                client.prepare_personalised(d.numbers, d.texts, lang="tr", escaped=d.wire)
                for d in drafts
            ],
        )
        opened = step("batches opened", lambda: [records.open_batch(d) for d in drafts])
        answered = zip(opened, claims, strict=True)
        step(
            "batches answered",
            lambda: [
                (
                    records.close_batch(i, BatchState.SENT, str(i), 1),
                    guard.settle(c, BatchState.SENT),
                )
                for i, c in answered
            ],
        )
        step("ledger folded", ledger.fold)
        reported = zip(opened, drafts, strict=True)
        step(
            "reports applied",
            lambda: [
                records.apply_report(i, d.numbers[1:], d.numbers[:1], []) for i, d in reported
            ],
        )
        step("run counted", records.tally)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages in the run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best is shown")
    args = parser.parse_args()
    planned = messages(args.messages)
    rounds = []
    for _ in range(max(args.repeat, 1)):
        with tempfile.TemporaryDirectory(prefix="masgsm-records-") as tmp:
            rounds.append(one_round(planned, Path(tmp)))
    print(
        f"{args.messages:,} messages, batches of {BATCH}; Python {platform.python_version()}, "
        f"{platform.machine()}; CPU time per message, best of {len(rounds)}:"
    )
    total = 0.0
    for name in rounds[0]:
        best = min(spent[name] for spent in rounds) / args.messages * 1e6
        total += best
        print(f"  {name:<20} {best:6.2f} µs")
    print(f"  {'in all':<20} {total:6.2f} µs")


if __name__ == "__main__":
    main()
