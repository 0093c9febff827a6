"""Composing a large plan on every core: rows are rendered in worker processes, in order.

Rendering a text is most of planning's work, and while a run plans, the machine's other cores
have nothing to do (nothing may be sent before the plan is whole). Past `SPREAD_AFTER` rows, the
chunks still to come are composed by forked workers that inherit the compiled templates; the
parent keeps reading the source, and writes the journal in source order as results come back.
A small run, or a process with other threads (an embedded sandbox, `serve`), where forking is
not safe, composes in the process itself.
"""

from __future__ import annotations

import collections
import itertools
import os
import signal
import threading
from collections.abc import Iterable, Iterator

from ..compose import Composed, Composer
from ..sources import Row

SPREAD_AFTER = 4_000  # rows composed in the process before workers are worth starting
MAX_WORKERS = 4
AHEAD = 2  # chunks queued per worker: enough to keep them busy, never the whole source

_composer: Composer | None = None  # the parent's, inherited by the forked workers


def composed(composer: Composer, chunks: Iterable[list[Row]]) -> Iterator[Composed]:
    """Each chunk composed, in the order given."""
    chunks = iter(chunks)
    rows = 0
    for chunk in chunks:
        yield composer(chunk)
        rows += len(chunk)
        if rows >= SPREAD_AFTER:
            break
    following = next(chunks, None)
    if following is None:  # workers only for chunks still to come
        return
    rest = itertools.chain([following], chunks)
    workers = _workers()
    if workers > 1:
        yield from _in_workers(composer, rest, workers)
    else:
        yield from map(composer, rest)


def _workers() -> int:
    """How many worker processes may help: none where forking is unsafe or pointless.

    `multiprocessing` is imported by the large plans that use it, not by every run.
    """
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, MAX_WORKERS)


def _in_workers(
    composer: Composer, chunks: Iterator[list[Row]], workers: int
) -> Iterator[Composed]:
    import multiprocessing

    global _composer
    _composer = composer
    # A worker is born with the parent's handlers, which would raise the parent's "run
    # interrupted" in it: SIGINT and SIGTERM wait, blocked, until the worker has its own.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        pool = multiprocessing.get_context("fork").Pool(
            workers, initializer=_quiet_worker, initargs=(mask,)
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    finished = False
    try:
        waiting: collections.deque = collections.deque()
        for chunk in chunks:
            waiting.append(pool.apply_async(_compose, (chunk,)))
            if len(waiting) >= workers * AHEAD:
                yield waiting.popleft().get()
        while waiting:
            yield waiting.popleft().get()
        pool.close()
        finished = True
    finally:
        if not finished:  # stopped or failed: the chunks still queued are not wanted
            pool.terminate()
        pool.join()
        _composer = None


_STOPPING = {signal.SIGINT, signal.SIGTERM}


def _quiet_worker(mask: set[signal.Signals]) -> None:
    """Signals are the parent's to handle: it stops the workers when it stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _compose(chunk: list[Row]) -> Composed:
    assert _composer is not None
    return _composer(chunk)
