"""Composing: one recipient row in, one SMS (number, text, cost) or one reason to refuse it out.

Pipelines and the Apprise service's contacts mode both compose rows with `Composer`, so a row
means the same text, number and cost wherever it is sent from. It sits below both doors: it
knows rows and renderers, not pipelines or Apprise.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import phone
from . import text as sms_text
from .errors import InvalidNumberError
from .render import Renderer, is_true, render
from .sources import Row

# (where, number, text, encoding, segments): a message ready for the journal.
Message = tuple[str, str, str, str, int]
# (where, value, reason): a row that cannot be sent.
Refusal = tuple[str, str, str]


@dataclass
class Composed:
    """What a group of rows became: messages, refused rows, and how many `when:` filtered out."""

    rows: int = 0
    filtered: int = 0
    messages: list[Message] = field(default_factory=list)
    invalid: list[Refusal] = field(default_factory=list)


class Composer:
    """Turns recipient rows into messages: filter, number, text, cost. No I/O, no shared state."""

    def __init__(
        self,
        number_of: Renderer,
        text_of: Renderer,
        *,
        when: Renderer | None = None,
        plain: bool = False,
        max_segments: int = sms_text.DEFAULT_MAX_SEGMENTS,
        limit_name: str = "send.max_segments",
        suffix: str = "",
        suffix_name: str = "compliance.optout_text",
    ):
        """`limit_name` is how a refusal names the segment limit to the one who can change it.

        `suffix` (a commercial text's opt-out instructions) ends every text that does not end
        with it already, after one space; the segment limit and the cost count it.
        """
        self.number_of = number_of
        self.text_of = text_of
        self.when = when
        self.plain = plain
        self.limit = max_segments
        self.limit_name = limit_name
        suffix = _normal(suffix.strip())
        self.suffix = sms_text.plain(suffix) if plain and suffix else suffix
        self.suffix_name = suffix_name

    def __call__(self, rows: Iterable[Row]) -> Composed:
        """Compose a group of rows; a template failure raises RenderError naming the row."""
        done = Composed()
        for where, fields in rows:
            done.rows += 1
            context = {**fields, "row": fields}
            if self.when is not None and not is_true(render(self.when, context, where)):
                done.filtered += 1
                continue
            raw_number = render(self.number_of, context, where)
            try:
                number = phone.normalize(raw_number)
            except InvalidNumberError as error:
                done.invalid.append((where, raw_number, error.reason))
                continue
            text = _normal(render(self.text_of, context, where).strip())
            if self.plain:
                text = sms_text.plain(text)
            if not text:
                done.invalid.append((where, number, "the message rendered empty"))
                continue
            if self.suffix and not text.endswith(self.suffix):
                text = f"{text} {self.suffix}"
            cost = sms_text.cost(text, not self.plain)
            if cost.segments > self.limit:
                done.invalid.append((where, number, self._too_long(cost.segments)))
                continue
            done.messages.append((where, number, text, cost.encoding.value, cost.segments))
        return done

    def _too_long(self, segments: int) -> str:
        counted = f" with {self.suffix_name}" if self.suffix else ""
        return (
            f"the text{counted} needs {segments} segments, "
            f"more than {self.limit_name} ({self.limit})"
        )


def _normal(text: str) -> str:
    """Composed characters (NFC), so the cost and the journal see one spelling of a text."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)
