"""Checking: poll type-2 delivery reports until nothing is pending or the wait is over.

Reports are read-only, so a failed poll is simply tried again at the next round. The first poll
comes right after sending (early batches have often settled by then); later ones back off from a
quarter second up to `poll_every`, so a short run finishes quickly and a long one does not hammer
the provider.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from ..client import DeliveryReport, MasgsmClient
from ..errors import CredentialsError, MasgsmError
from .history import PollLog
from .records import RunRecords

log = logging.getLogger(__name__)

FIRST_DELAY = 0.25


def check_reports(
    records: RunRecords,
    client: MasgsmClient,
    *,
    wait: float,
    poll_every: float,
    concurrency: int,
    partial_only: bool = False,
    progress: Callable[[int], None] = lambda reports: None,
    sleep: Callable[[float], bool | None] = time.sleep,
) -> int:
    """Poll until every accepted message is delivered or failed, or `wait` seconds pass.

    `partial_only` polls only batches answered 3 (partial), to learn which numbers never went.
    `progress` is told how many reports each step read. `sleep` waits between rounds; when it
    returns True (a stop event's `wait`), polling ends. Returns the number of polling rounds.
    """
    deadline = time.monotonic() + wait
    delay = min(FIRST_DELAY, poll_every)
    rounds = 0
    counts = PollLog(records)  # for the run's page: delivery over time
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="masgsm-report") as pool:
        while todo := records.batches_to_check(partial_only):
            if rounds:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if sleep(min(delay, remaining)):
                    break
                delay = min(delay * 2, poll_every)
            rounds += 1
            read = 0
            for batch_id, report in _fetched(pool, client, todo, 4 * concurrency):
                if report is not None:
                    read += 1
                    records.apply_report(batch_id, report.delivered, report.failed, report.pending)
                progress(1)
            counts.after_round(read)
    counts.close()
    return rounds


def _fetched(
    pool: ThreadPoolExecutor, client: MasgsmClient, todo: list[tuple[int, str]], window: int
) -> Iterator[tuple[int, DeliveryReport | None]]:
    """Each batch's report, in order, with up to `window` requests out at a time: a few per
    worker, never all (a large batch's report is big, and a run of a million recipients has
    thousands), and the next ones already on their way while this one is written down."""
    pending = iter(todo)
    out: collections.deque[tuple[int, Future[DeliveryReport | None]]] = collections.deque()
    try:
        while True:
            while len(out) < window and (item := next(pending, None)) is not None:
                out.append((item[0], pool.submit(_fetch, client, item[1])))
            if not out:
                return
            batch_id, future = out.popleft()
            yield batch_id, future.result()
    finally:  # stopped (refused credentials, Ctrl-C): the requests not yet made are not made
        for _, future in out:
            future.cancel()


def _fetch(client: MasgsmClient, message_id: str) -> DeliveryReport | None:
    try:
        return client.report(message_id)
    except CredentialsError:
        raise
    except MasgsmError as error:
        log.warning("Report of message %s not read this round: %s", message_id, error)
        return None
