"""Jinja's filters (and `lipsum`) that can multiply a size, each checking before it builds.

They replace Jinja's own under the same names and behave as Jinja documents them; only a result
past the render's limits (`render_limits`) is refused. Each takes the render's context
(`pass_context`), which also keeps Jinja from running them while it compiles a template.

Two kinds: filters whose arguments multiply a size (`center(300000000)`, a `replace` whose new
text is long, a `join` of many long items) work out the size first; filters that only grow a
text by a small factor (`escape`, `tojson`, ...) are measured once built, so that applying them
again and again cannot compound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import pass_context
from jinja2.filters import (
    do_batch,
    do_center,
    do_forceescape,
    do_format,
    do_indent,
    do_pprint,
    do_replace,
    do_tojson,
    do_truncate,
    do_urlencode,
    do_urlize,
    do_wordwrap,
    do_xmlattr,
    make_attrgetter,
    sync_do_join,
    sync_do_slice,
    sync_do_sum,
)
from jinja2.runtime import Context
from jinja2.tests import test_lower, test_upper
from jinja2.utils import generate_lorem_ipsum
from markupsafe import escape, soft_str

from .render_limits import (
    RUNNING,
    Budget,
    joined_size,
    line_breaks,
    percent_size,
    printed_size,
    replaced_size,
    shown,
    taken,
)

# At most how long a word of lipsum's Latin is, with the space after it.
_LIPSUM_WORD = 16


def _budget(context: Context) -> Budget:
    return RUNNING.budget or Budget(context.environment.limits)  # type: ignore[attr-defined]


@pass_context
def center(context: Context, value: Any, width: int = 80) -> str:
    budget = _budget(context)
    text = shown(budget, value, "|center")
    if isinstance(width, int):
        budget.build(max(len(text), width), "|center")
    return do_center(text, width)


@pass_context
def indent(
    context: Context, s: Any, width: int | str = 4, first: bool = False, blank: bool = False
) -> str:
    budget = _budget(context)
    text = shown(budget, s, "|indent")
    if isinstance(width, int):
        budget.build(max(width, 0), "|indent")  # the margin, built first
    if isinstance(width, (int, str)):
        margin = width if isinstance(width, int) else len(width)
        budget.build(len(text) + (line_breaks(text) + 1) * max(margin, 0), "|indent")
    return do_indent(text, width, first, blank)


@pass_context
def wordwrap(
    context: Context,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    """Checked against a bound on the number of lines: of two lines in a row, the second did
    not fit at the end of the first, so together they hold at least `width` characters."""
    budget = _budget(context)
    environment = context.environment
    text = shown(budget, s, "|wordwrap")
    joint = environment.newline_sequence if wrapstring is None else wrapstring
    if isinstance(width, (int, float)) and isinstance(joint, str):
        content = len(text) + 7 * text.count("\t")  # a tab becomes up to 8 spaces
        lines = 2 * content // max(int(width), 1) + 2 * (line_breaks(text) + 1)
        budget.build(content + lines * len(joint), "|wordwrap")
    return do_wordwrap(environment, text, width, break_long_words, wrapstring, break_on_hyphens)


@pass_context
def replace(context: Context, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    budget = _budget(context)
    text = shown(budget, s, "|replace")
    old_text, new_text = shown(budget, old, "|replace"), shown(budget, new, "|replace")
    budget.build(replaced_size(text, old_text, new_text, count), "|replace")
    return do_replace(context.eval_ctx, text, old, new, count)


@pass_context
def join(context: Context, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    budget = _budget(context)
    if attribute is not None:
        value = map(make_attrgetter(context.environment, attribute), value)
    items = taken(budget, value, "|join")
    separator = shown(budget, d, "|join")
    budget.build(joined_size(budget, items, len(separator)), "|join")
    return sync_do_join(context.eval_ctx, items, d)


@pass_context
def format_(context: Context, value: Any, *args: Any, **kwargs: Any) -> str:
    budget = _budget(context)
    text = shown(budget, value, "|format")
    budget.build(percent_size(text, kwargs or args, budget.output_chars), "|format")
    return do_format(text, *args, **kwargs)


@pass_context
def batch(context: Context, value: Any, linecount: int, fill_with: Any = None) -> Any:
    if fill_with is not None and isinstance(linecount, int):
        _budget(context).build(linecount, "|batch", "items")
    return do_batch(value, linecount, fill_with)


@pass_context
def slice_(context: Context, value: Any, slices: int, fill_with: Any = None) -> Any:
    if isinstance(slices, int):
        _budget(context).build(slices, "|slice", "items")
    return sync_do_slice(value, slices, fill_with)


@pass_context
def sum_(
    context: Context, iterable: Any, attribute: str | int | None = None, start: Any = 0
) -> Any:
    """Adding numbers is left alone; adding lists (`start=[]`) is joining them, and measured."""
    environment = context.environment
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    if isinstance(start, (list, tuple)):
        budget = _budget(context)
        iterable = taken(budget, iterable, "|sum")
        size = len(start)
        for item in iterable:
            if size > budget.output_chars:
                break
            size += len(item) if isinstance(item, (list, tuple)) else 0
        budget.build(size, "|sum", "items")
    return sync_do_sum(environment, iterable, start=start)


@pass_context
def urlize(
    context: Context,
    value: Any,
    trim_url_limit: int | None = None,
    nofollow: bool = False,
    target: str | None = None,
    rel: str | None = None,
    extra_schemes: Any = None,
) -> str:
    """`target` and `rel` are written into every link; a text has at most one link per `.`,
    `@` or `:` in it."""
    budget = _budget(context)
    text = shown(budget, value, "|urlize")
    per_link = sum(len(shown(budget, part or "", "|urlize")) for part in (target, rel))
    links = sum(map(text.count, ".@:")) + 1
    budget.fits(len(text) + links * per_link, "|urlize")
    result = do_urlize(context.eval_ctx, text, trim_url_limit, nofollow, target, rel, extra_schemes)
    budget.build(len(result), "|urlize")
    return result


def _measured_filter(
    name: str, original: Callable[..., Any], takes: str = "", measure_input: bool = True
) -> Any:
    """`original`, refused when its input's text (if `measure_input`) or its result is too long.
    `takes` names what Jinja passes it first: "eval_ctx", "environment" or nothing."""

    @pass_context
    def measured(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget(context)
        if measure_input:
            budget.fits(printed_size(value, budget.output_chars), f"|{name}")
        if takes:
            result = original(getattr(context, takes), value, *args, **kwargs)
        else:
            result = original(value, *args, **kwargs)
        if isinstance(result, str):
            budget.build(len(result), f"|{name}")
        return result

    measured.__name__ = measured.__qualname__ = name
    measured.__doc__ = original.__doc__
    return measured


@pass_context
def lipsum(context: Context, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if isinstance(n, int) and isinstance(max, int):
        budget = _budget(context)
        budget.build(n * (max * _LIPSUM_WORD + 20) if n > 0 else 0, "lipsum()")
    return generate_lorem_ipsum(n, html, min, max)


FILTERS: dict[str, Callable[..., Any]] = {
    "center": center,
    "indent": indent,
    "wordwrap": wordwrap,
    "replace": replace,
    "join": join,
    "format": format_,
    "batch": batch,
    "slice": slice_,
    "sum": sum_,
    "urlize": urlize,
    "truncate": _measured_filter("truncate", do_truncate, "environment", measure_input=False),
    "e": _measured_filter("e", escape),
    "escape": _measured_filter("escape", escape),
    "forceescape": _measured_filter("forceescape", do_forceescape),
    "urlencode": _measured_filter("urlencode", do_urlencode),
    "tojson": _measured_filter("tojson", do_tojson, "eval_ctx"),
    "pprint": _measured_filter("pprint", do_pprint),
    "xmlattr": _measured_filter("xmlattr", do_xmlattr, "eval_ctx"),
    "string": _measured_filter("string", soft_str),
}

GLOBALS: dict[str, Callable[..., Any]] = {"lipsum": lipsum}

# Jinja's filters that never turn what they are given into text (they count, pick, sort or
# convert to numbers). Every other filter, a plugin's included, gets its values measured first
# (except the ones above, which measure what they build themselves).
_TEXT_FREE = frozenset(
    {
        "abs", "attr", "count", "d", "default", "dictsort", "filesizeformat", "first", "float",
        "groupby", "int", "items", "last", "length", "list", "map", "max", "min", "random",
        "reject", "rejectattr", "reverse", "round", "select", "selectattr", "sort", "unique",
    }
)  # fmt: skip
_SELF_MEASURED = frozenset(FILTERS)


def turns_into_text(name: str) -> bool:
    """Whether the filter `name` may turn its values into text and does not measure them."""
    return name not in _TEXT_FREE and name not in _SELF_MEASURED and ":" not in name


def _measured_test(name: str, original: Callable[[Any], bool]) -> Callable[..., bool]:
    """Jinja's `lower` and `upper` tests, which turn the value into text first."""

    @pass_context
    def measured(context: Context, value: Any) -> bool:
        budget = _budget(context)
        budget.fits(printed_size(value, budget.output_chars), f"is {name}")
        return original(value)

    measured.__name__ = measured.__qualname__ = name
    return measured


TESTS: dict[str, Callable[..., bool]] = {
    "lower": _measured_test("lower", test_lower),
    "upper": _measured_test("upper", test_upper),
}
