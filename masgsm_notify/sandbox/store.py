"""The sandbox's record of accepted messages, packed: it must hold a million-recipient run.

Kept as Python objects, a record of one (id, number, text, title, segments) costs about 500 bytes;
packed into arrays and one UTF-8 buffer it costs the text's bytes plus 25. Every message stays
listed (`/_sandbox/messages` is complete), and a send's numbers are read back for its report.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from itertools import accumulate, repeat
from typing import Any

FIRST_ID = 100001


class MessageStore:
    """Accepted messages, oldest first, in sends with consecutive message ids."""

    def __init__(self) -> None:
        self.numbers = array("q")  # a validated 5xxxxxxxxx number survives int() and back
        self.text_starts = array("Q")
        self.text_ends = array("Q")
        self.segments = array("H")
        self.texts = bytearray()
        self.send_starts = array("Q")  # index of each send's first message
        self.accepted_at = array("d")
        self.titles: list[str] = []  # one per send; a handful of distinct strings, interned

    def __len__(self) -> int:
        return len(self.numbers)

    @property
    def next_id(self) -> int:
        return FIRST_ID + len(self.send_starts)

    def add(
        self,
        title: str,
        numbers: Sequence[str],
        texts: Sequence[str],
        segments: Sequence[int],
        accepted_at: float,
    ) -> str:
        """Record one accepted send and return its message id.

        A type-0 send repeats one text, which is stored once; a type-1 send's texts are
        stored one after another, their bounds counted in C.
        """
        if len(numbers) != len(texts) or len(numbers) != len(segments):
            raise ValueError("a send needs one text and one cost per number")
        # What could fail (a cost past 65,535 segments, a number that is no integer) comes
        # first, before any array has grown, so the arrays always stay aligned.
        costs, values = array("H", segments), array("q", map(int, numbers))
        message_id = self.next_id
        self.send_starts.append(len(self.numbers))
        self.accepted_at.append(accepted_at)
        self.titles.append(title)
        self.numbers += values
        self.segments += costs
        start = len(self.texts)
        if texts and texts.count(texts[0]) == len(texts):
            self.texts += texts[0].encode()
            self.text_starts.extend(repeat(start, len(texts)))
            self.text_ends.extend(repeat(len(self.texts), len(texts)))
        else:
            encoded = [text.encode() for text in texts]
            ends = list(accumulate(map(len, encoded), initial=start))
            self.texts += b"".join(encoded)
            self.text_starts.extend(ends[:-1])
            self.text_ends.extend(ends[1:])
        return str(message_id)

    def send(self, message_id: str) -> tuple[list[str], float] | None:
        """The numbers of one send, in order, and when it was accepted; None if unknown."""
        try:
            index = int(message_id) - FIRST_ID
        except ValueError:
            return None
        if not 0 <= index < len(self.send_starts):
            return None
        first, last = self._range(index)
        return [str(n) for n in self.numbers[first:last]], self.accepted_at[index]

    def listed(self, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Messages as `/_sandbox/messages` lists them."""
        stop = len(self.numbers) if limit is None else min(len(self.numbers), offset + limit)
        found = []
        send = bisect.bisect_right(self.send_starts, offset) - 1
        for i in range(offset, stop):
            while send + 1 < len(self.send_starts) and self.send_starts[send + 1] <= i:
                send += 1
            found.append(
                {
                    "id": str(FIRST_ID + send),
                    "number": str(self.numbers[i]),
                    "text": self.texts[self.text_starts[i] : self.text_ends[i]].decode(),
                    "title": self.titles[send],
                    "segments": self.segments[i],
                }
            )
        return found

    def sends(self) -> int:
        return len(self.send_starts)

    def _range(self, index: int) -> tuple[int, int]:
        first = self.send_starts[index]
        last = (
            self.send_starts[index + 1] if index + 1 < len(self.send_starts) else len(self.numbers)
        )
        return first, last
