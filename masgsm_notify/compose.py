"""Composing: one recipient row in, one SMS (number, text, cost) or one reason to refuse it out.

Pipelines and the Apprise service's contacts mode both compose rows with `Composer`, so a row
means the same text, number and cost wherever it is sent from. It sits below both doors: it
knows rows and renderers, not pipelines or Apprise.

A text's line breaks become `\n` and its tabs spaces; any other control character (a NUL from a
damaged export, an escape) refuses the row: a phone shows none of them, and some cut a text short
on its way. Only texts that cost as UCS-2 (or hold a form feed) are scanned for them: the GSM and
Turkish alphabets that `text.cost` checks every text against hold no other control character.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import phone
from . import text as sms_text
from .errors import InvalidNumberError, RenderError
from .render import Renderer, is_true, render
from .sources import Row
from .wire import php_urlencode

# (where, number, text, encoding, segments): a message ready for the journal.
Message = tuple[str, str, str, str, int]
# (where, value, reason): a row that cannot be sent.
Refusal = tuple[str, str, str]

# C0 and C1 control characters and DEL, but not \n (\r and \t are made plain before).
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@dataclass
class Composed:
    """What a group of rows became: messages, refused rows, rows whose templates failed, and
    how many `when:` filtered out."""

    rows: int = 0
    filtered: int = 0
    messages: list[Message] = field(default_factory=list)
    invalid: list[Refusal] = field(default_factory=list)
    errors: list[RenderError] = field(default_factory=list)
    wire: list[str] = field(default_factory=list)  # the texts escaped, if the composer escapes


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
        escape: bool = False,
    ):
        """`limit_name` is how a refusal names the segment limit to the one who can change it.

        `suffix` (a commercial text's opt-out instructions) ends every text that does not end
        with it already, after one space; the segment limit and the cost count it.

        `escape` also writes each text as the request body carries it (`Composed.wire`): where
        rows are composed on several cores, the escaping is done there too.
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
        self.escape = escape

    def __call__(self, rows: Iterable[Row]) -> Composed:
        """Compose a group of rows. A row whose template fails is kept as its RenderError and
        the rest go on, so one pass can name every bad row instead of only the first."""
        done = Composed()
        for where, fields in rows:
            done.rows += 1
            try:
                self._compose(where, {**fields, "row": fields}, done)
            except RenderError as error:
                done.errors.append(error)
        if self.escape:
            done.wire = [php_urlencode(message[2]) for message in done.messages]
        return done

    def _compose(self, where: str, context: dict, done: Composed) -> None:
        if self.when is not None and not _passes(self.when, context, where):
            done.filtered += 1
            return
        raw_number = render(self.number_of, context, where)
        try:
            number = phone.normalize(raw_number)
        except InvalidNumberError as error:
            done.invalid.append((where, raw_number, error.reason))
            return
        made = self._text(context, where)
        if isinstance(made, str):
            done.invalid.append((where, number, made))
            return
        text, cost = made
        done.messages.append((where, number, text, cost.encoding.value, cost.segments))

    def _text(self, context: dict, where: str) -> tuple[str, sms_text.TextCost] | str:
        """The row's final text and its cost, or why it cannot be sent."""
        text = render(self.text_of, context, where)
        if "\r" in text or "\t" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
        text = _normal(text.strip())
        if self.plain:
            if control := _CONTROL.search(text):  # before plain() writes it as "?"
                return _control_reason(text, control.start())
            text = sms_text.plain(text)
        if not text:
            return "the message rendered empty"
        if self.suffix and not text.endswith(self.suffix):
            text = f"{text} {self.suffix}"
        cost = sms_text.cost(text, not self.plain)
        # GSM 7-bit and the Turkish table hold no control character but \n, \r and \f, so only
        # a UCS-2 text, or one with a form feed, needs a scan of its own.
        scan = cost.encoding is sms_text.Encoding.UCS2 or "\f" in text
        if scan and (control := _CONTROL.search(text)):
            return _control_reason(text, control.start())
        if cost.segments > self.limit:
            counted = f" with {self.suffix_name}" if self.suffix else ""
            return (
                f"the text{counted} needs {cost.segments} segments, "
                f"more than {self.limit_name} ({self.limit})"
            )
        return text, cost


def _normal(text: str) -> str:
    """Composed characters (NFC), so the cost and the journal see one spelling of a text."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _control_reason(text: str, at: int) -> str:
    """Where the character sits, by position: the reason may be shown where the row's content
    must not be (the Apprise door's contacts files)."""
    return (
        f"the text holds the control character U+{ord(text[at]):04X} at character {at + 1:,}; "
        "the data has a stray byte there (a damaged export?)"
    )


def _passes(when: Renderer, context: dict, where: str) -> bool:
    """The row's `when:`, which must say true or false; a RenderError names the row and what
    it said otherwise."""
    verdict = render(when, context, where)
    try:
        return is_true(verdict)
    except ValueError:
        words = "true/false, yes/no or 1/0"
        raise RenderError(
            f"when: rendered {verdict.strip()!r:.80}, which is not {words}",
            where,
            without_data=f"when: rendered something that is not {words}",
        ) from None
