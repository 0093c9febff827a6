"""A run's messages counted in one pass: by state, encoding and segment count.

The plan, the summary and the exit code all read these groups instead of asking the journal
again; `states.py` says which states make up each figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Group:
    """Messages of a run that share a state, an encoding and a segment count."""

    state: str
    encoding: str
    segments: int
    messages: int
    rows: int  # recipient rows, counting each duplicate merged into a message


@dataclass(frozen=True)
class Tally:
    """A run's messages in groups, from one pass over the journal."""

    groups: list[Group]

    def _pick(self, states: Iterable[str] | None) -> list[Group]:
        wanted = None if states is None else set(states)
        return [g for g in self.groups if wanted is None or g.state in wanted]

    def messages(self, states: Iterable[str] | None = None) -> int:
        return sum(g.messages for g in self._pick(states))

    def rows(self, states: Iterable[str] | None = None) -> int:
        return sum(g.rows for g in self._pick(states))

    def credits(self, states: Iterable[str] | None = None) -> int:
        return sum(g.segments * g.messages for g in self._pick(states))

    def by_encoding(self, states: Iterable[str] | None = None) -> dict[str, int]:
        return _count_by((g.encoding, g.messages) for g in self._pick(states))

    def by_segments(self, states: Iterable[str] | None = None) -> dict[int, int]:
        return _count_by((g.segments, g.messages) for g in self._pick(states))


def _count_by(pairs: Iterable[tuple[Any, int]]) -> dict[Any, int]:
    found: dict[Any, int] = {}
    for key, count in pairs:
        found[key] = found.get(key, 0) + count
    return found
