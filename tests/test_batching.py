"""`distinct_batches`: at most `size` a batch, no number twice in one, order kept, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter

import pytest

from masgsm_notify.batching import distinct_batches


def numbers(batches: list[list[tuple[str, str]]]) -> list[list[str]]:
    return [[number for number, _text in batch] for batch in batches]


def test_plain_numbers_are_cut_by_size_in_order() -> None:
    items = [(f"53211122{i:02d}", "t") for i in range(5)]
    batches = list(distinct_batches(items, 2, key=itemgetter(0)))
    assert batches == [items[0:2], items[2:4], items[4:5]]


def test_a_repeated_number_waits_for_the_next_batch_ahead_of_later_items() -> None:
    items = [("a", "1"), ("b", "1"), ("a", "2"), ("c", "1"), ("a", "3"), ("d", "1")]
    batches = list(distinct_batches(items, 3, key=itemgetter(0)))
    # Each batch reads 3 new items, as journal.chunks reads a page: a b a | c a d
    assert numbers(batches) == [["a", "b"], ["a", "c", "d"], ["a"]]
    assert [text for batch in batches for number, text in batch if number == "a"] == [
        "1",
        "2",
        "3",
    ]
    assert sorted(item for batch in batches for item in batch) == sorted(items)


def test_one_number_many_times_is_one_a_batch() -> None:
    items = [("a", str(i)) for i in range(4)]
    assert numbers(list(distinct_batches(items, 10, key=itemgetter(0)))) == [["a"]] * 4


def test_reads_at_most_size_new_items_per_batch() -> None:
    read: list[int] = []

    def source() -> Iterator[tuple[str, int]]:
        for i in range(10):
            read.append(i)
            yield (str(i), i)

    batches = distinct_batches(source(), 3, key=itemgetter(0))
    assert [i for _n, i in next(batches)] == [0, 1, 2]
    assert read == [0, 1, 2]
    assert [i for _n, i in next(batches)] == [3, 4, 5]
    assert read == [0, 1, 2, 3, 4, 5]


def test_nothing_in_nothing_out_and_a_size_below_one_is_refused() -> None:
    assert list(distinct_batches([], 5, key=itemgetter(0))) == []
    with pytest.raises(ValueError, match="at least one"):
        list(distinct_batches([("a", "1")], 0, key=itemgetter(0)))
