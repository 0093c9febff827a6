"""Cutting messages into requests: at most `size` a batch, and no number twice in one batch.

A delivery report (type 2) speaks of numbers, so two texts to one number in one batch could not
be told apart. The pipelines' journal and the Apprise service's contacts mode batch the same way
with `distinct_batches`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def distinct_batches(
    items: Iterable[T], size: int, key: Callable[[T], Hashable]
) -> Iterator[list[T]]:
    """Batches of at most `size` items, in order, where no `key` appears twice in one batch.

    An item whose key the batch already holds waits for a later batch, ahead of the items read
    after it. Each batch reads at most `size` new items from `items`, so a streamed input (a
    paged query) is read at the pace batches are sent; memory holds one batch and the waiting
    items.
    """
    if size < 1:
        raise ValueError(f"a batch holds at least one item, not {size}")
    source = iter(items)
    waiting: list[T] = []
    while True:
        pending = waiting + list(islice(source, size))
        if not pending:
            return
        if len(pending) <= size and len(set(map(key, pending))) == len(pending):
            waiting = []  # the common case, every key once: counted in C, not item by item
            yield pending
            continue
        batch: list[T] = []
        waiting = []
        seen: set[Hashable] = set()
        for item in pending:
            name = key(item)
            if name in seen or len(batch) == size:
                waiting.append(item)
                continue
            seen.add(name)
            batch.append(item)
        yield batch
