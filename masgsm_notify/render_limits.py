"""The limits of one render: how long a text it may build, and how much work it may do.

The sandbox keeps templates away from Python, but not from `{{ 'x'|center(300000000) }}` (a
gigabyte) or two nested loops over `range(100000)` (minutes). Signals and resource limits cannot
stop a render: Apprise renders in worker threads, and the whole process shares one memory. So
the renderer bounds itself: every operation that can multiply a size works out the size it is
about to build and refuses *before* building it, and loops, macro calls and includes are
counted.

Three limits, per render (one recipient's text), set per pipeline under `limits:`:
- `output_chars`: the rendered text, and any one text or list a template builds on the way;
- `loop_iterations`: passes through loops; a call of a macro, `caller()` or block, and a
  template rendered (an include or import), costs about as much as twenty passes and counts so
  (recursive macros make work without any loop);
- `built_chars`: all the text one render builds, printed values and text operations together,
  so that a loop of a million passes, each building a long text, still ends quickly.

A `Budget` holds what is left of them for the render running now. The render sets it for its
own thread (`RUNNING`), so renders in other threads, Apprise's workers among them, never share
one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

from jinja2.utils import Namespace

from .errors import TemplateLimitError

# Numbers are not texts, and no SMS needs a 1,234-digit one; without a bound `{{ 10**(10**10) }}`
# or a loop squaring a number exhausts memory. Not configurable: no template needs more.
MAX_NUMBER_BITS = 4096
# What a float can print before its precision digits (1e308 has 309 digits).
_FLOAT_DIGITS = 330
# The characters `str.splitlines` breaks at.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# What a macro, block or `caller()` call, or a template rendered, counts as. A loop pass costs
# a few tenths of a microsecond, such a call tens of times more: counted so, a macro that calls
# itself twice at each level stops within about a second.
CALL_PASSES = 20
_TEXTS = (str, bytes)
_LEAVES = frozenset({int, float, bool, type(None)})
_SEQUENCES = (str, bytes, list, tuple)


@dataclass(frozen=True)
class TemplateLimits:
    """What one render may do; `built_chars` defaults to 100 times `output_chars`."""

    output_chars: int = 100_000
    loop_iterations: int = 1_000_000
    built_chars: int | None = None

    def __post_init__(self) -> None:
        if self.built_chars is None:
            object.__setattr__(self, "built_chars", 100 * self.output_chars)


class Budget:
    """What is left of the limits for one render; every check raises TemplateLimitError."""

    __slots__ = ("built_left", "iterations_left", "limits", "output_chars")

    def __init__(self, limits: TemplateLimits):
        self.limits = limits
        self.output_chars = limits.output_chars
        self.iterations_left = limits.loop_iterations
        self.built_left: int = limits.built_chars  # type: ignore[assignment]

    def iterate(self, passes: int = 1) -> None:
        """Before `passes` loop passes (or calls, or template renders)."""
        self.iterations_left -= passes
        if self.iterations_left < 0:
            raise TemplateLimitError(
                f"the template would make more than limits.loop_iterations "
                f"({self.limits.loop_iterations:,}) loop passes (a macro call or an include "
                f"counts as {CALL_PASSES})"
            )

    def fits(self, size: int, what: str, unit: str = "characters") -> None:
        """Before `what` makes a text (or list) of `size` characters (or items)."""
        if size > self.output_chars:
            raise self._too_long(size, what, unit)

    def build(self, size: int, what: str, unit: str = "characters") -> None:
        """As `fits`, and counted against all that the render may build."""
        if size > self.output_chars:
            raise self._too_long(size, what, unit)
        self.built_left -= size
        if self.built_left < 0:
            raise TemplateLimitError(
                f"the template would build more than limits.built_chars "
                f"({self.limits.built_chars:,}) characters in all"
            )

    def _too_long(self, size: int, what: str, unit: str) -> TemplateLimitError:
        thing = "a text" if unit == "characters" else "a list"
        return TemplateLimitError(
            f"{what} would make {thing} of {size:,} {unit}, "
            f"more than limits.output_chars ({self.output_chars:,})"
        )

    def output_too_long(self) -> TemplateLimitError:
        return TemplateLimitError(
            f"the text would be longer than limits.output_chars ({self.output_chars:,} characters)"
        )


class _Running(threading.local):
    """The budget of the render running in this thread (a render never waits on another, so
    a thread's renders run one inside another at most, never side by side)."""

    budget: Budget | None = None


RUNNING = _Running()


def current(limits: TemplateLimits) -> Budget:
    """The running render's budget; outside a render (an expression such as `report.fail_if`,
    which has no loops) a fresh one, so each operation is still bounded."""
    return RUNNING.budget or Budget(limits)


# -- sizes, worked out without building ---------------------------------------------------------


def printed_size(value: Any, room: int) -> int:
    """How many characters `str(value)` has, found without building it.

    Nested lists can hold one long text many times over (`[[s, s], [s, s]]` and so on), so the
    printed form of a small structure can be huge. Counting stops once it passes `room`.
    """
    kind = type(value)
    if kind is str:
        return len(value)
    if kind in _LEAVES or isinstance(value, (str, bytes, range)):
        return len(str(value))
    if not isinstance(value, (Collection, Namespace)):
        return len(str(value))
    size = 0
    pending = [value]
    while pending and size <= room:
        item = pending.pop()
        if isinstance(item, (str, bytes, range)):
            size += len(repr(item))
        elif isinstance(item, Mapping):
            size += _brackets(item, 2 * len(item))  # ": " after each key
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, Collection):
            size += _brackets(item, 0)
            pending.extend(item)
        elif isinstance(item, Namespace):
            size += len("<Namespace >")
            pending.append(item._Namespace__attrs)
        else:
            size += len(repr(item))
    return size


def _brackets(collection: Collection[Any], extra: int) -> int:
    """The characters of a collection's printed form around its items: exact for lists, tuples
    and dicts, an upper bound for other kinds (sets, views: `dict_items([...])`)."""
    count = len(collection)
    separators = 2 * max(count - 1, 0) + extra
    kind = type(collection)
    if kind is list or kind is dict:
        return 2 + separators
    if kind is tuple:
        return 2 + separators + (count == 1)
    return 24 + separators


def converted_size(value: Any, conversion: str, room: int) -> int:
    """The length of `str(value)` ("s"), or of `repr(value)` ("r", and "a" for ASCII text)."""
    if conversion == "s":
        return printed_size(value, room)
    return printed_size([value], room) - 2  # a list prints its items' repr between brackets


def shown(budget: Budget, value: Any, what: str) -> str:
    """`value` as text, refused before `str()` builds it if it would be too long."""
    if isinstance(value, str):
        return value
    budget.build(printed_size(value, budget.output_chars), what)
    return str(value)


def taken(budget: Budget, items: Iterable[Any], what: str) -> Collection[Any]:
    """The items of an iterable, at most one more than the limit allows (then refused)."""
    if not isinstance(items, (str, list, tuple)):
        items = list(islice(items, budget.output_chars + 1))
    budget.build(len(items), what, "items")
    return items


def joined_size(budget: Budget, items: Collection[Any], separator_length: int) -> int:
    """Characters of the items printed and joined with a separator; stops past the limit."""
    room = budget.output_chars
    size = separator_length * max(len(items) - 1, 0)
    for item in items:
        if size > room:
            break
        size += printed_size(item, room - size)
    return size


def replaced_size(text: str | bytes, old: Any, new: Any, count: Any = -1) -> int:
    """Length of `text.replace(old, new, count)`, counting the matches instead of replacing."""
    kind = str if isinstance(text, str) else bytes
    if not (isinstance(old, kind) and isinstance(new, kind)):
        return len(text)  # replace itself refuses other types
    # `old` is of the text's own kind (checked above): mypy cannot follow that through `kind`.
    hits = text.count(old)  # type: ignore[arg-type]  # an empty `old` matches len(text) + 1 times
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def line_breaks(text: str) -> int:
    return sum(map(text.count, _LINE_BREAKS))


def _number_size(value: Any, precision: int) -> int:
    """At most how many characters a number prints with %-style or format-spec conversions."""
    if isinstance(value, int):
        return value.bit_length() // 3 + 2 + precision  # octal is the longest form
    return _FLOAT_DIGITS + precision


_PERCENT_FIELD = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?"
    r"[hlL]?(?P<kind>.)",
    re.DOTALL,
)


def percent_size(fmt: str | bytes, values: Any, room: int) -> int:
    """At most how long `fmt % values` is, from its fields' widths, precisions and values."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    mapping = values if isinstance(values, Mapping) else None
    queue = iter(values if isinstance(values, tuple) else (values,))
    size = len(text)
    for field in _PERCENT_FIELD.finditer(text):
        size -= len(field[0])  # the field is replaced by what it formats
        kind = field["kind"]
        if kind == "%":
            size += 1
            continue
        width = _star_or_number(field["width"], queue)
        precision = _star_or_number(field["precision"], queue)
        key = field["key"]
        value = mapping.get(key) if key is not None and mapping is not None else next(queue, "")
        if kind in "sra":
            printed = converted_size(value, kind, room)
            body = min(printed, precision) if field["precision"] is not None else printed
        else:
            body = _number_size(value, precision)
        size += max(width, body)
        if size > room:
            break
    return size


def _star_or_number(part: str | None, queue: Iterator[Any]) -> int:
    """A width or precision: digits, or `*` for the next value (an int)."""
    if not part:
        return 0
    if part == "*":
        value = next(queue, 0)
        return abs(value) if isinstance(value, int) else 0
    return int(part)


_FORMAT_SPEC = re.compile(
    r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?[a-zA-Z%]?\Z",
    re.DOTALL,
)


def format_field_size(value: Any, spec: str, room: int) -> int:
    """At most how long `format(value, spec)` is; 0 for specs of other kinds (dates), whose
    result is measured once built, since they cannot multiply a size."""
    match = _FORMAT_SPEC.match(spec)
    if match is None:
        return 0
    width = int(match["width"] or 0)
    precision = int(match["precision"] or 0)
    if isinstance(value, (int, float)):
        body = _number_size(value, precision)
    else:
        body = printed_size(value, room)
    return max(width, body)


# -- operators ------------------------------------------------------------------------------------


def check_power(budget: Budget, base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and abs(base) > 1
        and exponent * (abs(base).bit_length() - 1) > MAX_NUMBER_BITS
    ):
        raise _number_too_big("'**'")


def check_times(budget: Budget, left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_NUMBER_BITS:
            raise _number_too_big("'*'")
        return
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, _SEQUENCES) and isinstance(times, int):
            budget.build(len(sequence) * max(times, 0), "'*'", _unit(sequence))
            return


def check_plus(budget: Budget, left: Any, right: Any) -> None:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        budget.build(len(left) + len(right), "'+'", _unit(left))


def check_modulo(budget: Budget, left: Any, right: Any) -> None:
    if isinstance(left, _TEXTS):
        budget.build(percent_size(left, right, budget.output_chars), "'%'")


def _unit(sequence: Any) -> str:
    return "characters" if isinstance(sequence, _TEXTS) else "items"


def _number_too_big(operator: str) -> TemplateLimitError:
    return TemplateLimitError(f"{operator} would make a number of more than {MAX_NUMBER_BITS} bits")


BINOP_CHECKS = {"**": check_power, "*": check_times, "+": check_plus, "%": check_modulo}


# -- loops ----------------------------------------------------------------------------------------

# Iterables whose length cannot change while a loop runs over them (a dict or set that changes
# size stops the loop): their passes are counted at once, with no cost per pass.
_FIXED_LENGTH = frozenset(
    {str, bytes, tuple, range, dict, set, frozenset}
    | {type({}.keys()), type({}.values()), type({}.items())}
)


def counted(budget: Budget, iterable: Any) -> Any:
    """The iterable a loop runs over, with each pass counted against the budget."""
    kind = type(iterable)
    if kind in _FIXED_LENGTH:
        budget.iterate(len(iterable))
        return iterable
    if kind is list:
        return _CountedList(budget, iterable)
    return _counting(budget, iterable)


class _CountedList:
    """A list a loop runs over: the items it holds when the loop starts are counted at once,
    any the loop adds one by one; its length stays the list's own (`loop.length`)."""

    __slots__ = ("budget", "items")

    def __init__(self, budget: Budget, items: list[Any]):
        self.budget = budget
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Any]:
        known = len(self.items)
        self.budget.iterate(known)
        items = iter(self.items)
        return chain(islice(items, known), _counting(self.budget, items))


def _counting(budget: Budget, iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        budget.iterations_left -= 1
        if budget.iterations_left < 0:
            budget.iterate(0)  # raises: none left
        yield item


# -- methods of texts and lists -------------------------------------------------------------------


def _argument(args: tuple, kwargs: dict, index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _check_widened(budget: Budget, name: str, text: Any, args: tuple, kwargs: dict) -> tuple:
    width = _argument(args, kwargs, 0, "width", 0)
    if isinstance(width, int):
        budget.build(max(len(text), width), f".{name}()")
    return args


def _check_expandtabs(budget: Budget, name: str, text: Any, args: tuple, kwargs: dict) -> tuple:
    size = _argument(args, kwargs, 0, "tabsize", 8)
    if isinstance(size, int):
        tab = "\t" if isinstance(text, str) else b"\t"
        budget.build(len(text) + text.count(tab) * max(size - 1, -1), ".expandtabs()")
    return args


def _check_replace(budget: Budget, name: str, text: Any, args: tuple, kwargs: dict) -> tuple:
    if len(args) >= 2:
        count = _argument(args, kwargs, 2, "count", -1)
        budget.build(replaced_size(text, args[0], args[1], count), ".replace()")
    return args


def _check_join(budget: Budget, name: str, text: Any, args: tuple, kwargs: dict) -> tuple:
    if not args:
        return args
    items = taken(budget, args[0], ".join()")
    budget.build(joined_size(budget, items, len(text)), ".join()")
    return (items, *args[1:])


def _check_translate(budget: Budget, name: str, text: Any, args: tuple, kwargs: dict) -> tuple:
    table = args[0] if args else None
    if isinstance(text, str) and isinstance(table, Collection) and not isinstance(table, _TEXTS):
        values = table.values() if isinstance(table, Mapping) else table
        longest = max((len(v) for v in values if isinstance(v, str)), default=1)
        budget.build(len(text) * max(longest, 1), ".translate()")
    return args


def _check_extend(budget: Budget, name: str, target: Any, args: tuple, kwargs: dict) -> tuple:
    if not args:
        return args
    items = taken(budget, args[0], ".extend()")
    budget.build(len(target) + len(items), ".extend()", "items")
    return (items,)


_TEXT_METHODS = {
    "center": _check_widened,
    "ljust": _check_widened,
    "rjust": _check_widened,
    "zfill": _check_widened,
    "expandtabs": _check_expandtabs,
    "replace": _check_replace,
    "join": _check_join,
    "translate": _check_translate,
}


def check_method(budget: Budget, method: Any, args: tuple, kwargs: dict) -> tuple:
    """Before calling a method of a text or list that can multiply a size: refuse, or return
    the arguments to call it with (an iterator argument is read into a list to be measured)."""
    owner = getattr(method, "__self__", None)
    if isinstance(owner, _TEXTS):
        check = _TEXT_METHODS.get(getattr(method, "__name__", ""))
        if check is not None:
            return check(budget, method.__name__, owner, args, kwargs)
    elif isinstance(owner, list) and getattr(method, "__name__", "") == "extend":
        return _check_extend(budget, "extend", owner, args, kwargs)
    return args
