"""The one Jinja environment every message is rendered in (pipelines and Apprise alike).

Sandboxed, so a template cannot reach Python internals; `StrictUndefined`, so a missing field is
an error before anything is sent rather than an empty hole in a customer's text. Filters and
globals come from the plugins (the built-in Turkish filters among them).

Rendering runs once per recipient, so a template that is only `{{ field }}` (the usual `number:`)
skips Jinja entirely and reads the field directly, with the same error for a missing one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import update_wrapper
from pathlib import Path
from types import BuiltinMethodType, MethodType
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
    pass_context,
)
from jinja2.compiler import CodeGenerator
from jinja2.runtime import BlockReference, Context, LoopContext, Macro, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter, SecurityError
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

from . import render_filters, render_limits
from .errors import RenderError, TemplateLimitError
from .plugins import collect
from .render_limits import TemplateLimits, current

_SIMPLE_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_FALSE_WORDS = frozenset({"", "false", "0", "no", "none", "off"})

Renderer = Callable[[Mapping[str, Any]], str]


class _Bounding(NodeTransformer):
    """Routes every loop's iterable and every `~` through the render's budget (see below)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _internal_filter(_LOOP, node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _internal_filter(_CONCAT, nodes.Tuple(node.nodes, "load", lineno=node.lineno))


def _internal_filter(name: str, node: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


# Filters the code generator inserts; a template cannot name them (they are not identifiers).
_LOOP = "masgsm:loop"
_CONCAT = "masgsm:concat"


@pass_context
def _loop_items(context: Context, iterable: Any) -> Any:
    return render_limits.counted(current(context.environment.limits), iterable)


@pass_context
def _concat(context: Context, parts: tuple) -> str:
    budget = current(context.environment.limits)
    budget.build(render_limits.joined_size(budget, parts, 0), "'~'")
    eval_ctx = context.eval_ctx
    return (markup_join if eval_ctx.volatile or eval_ctx.autoescape else str_join)(parts)


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, after `_Bounding` has rewritten the template's tree."""

    def visit_Template(self, node: nodes.Template, frame: Any = None) -> None:
        _Bounding().visit(node)
        node.set_environment(self.environment)
        super().visit_Template(node, frame)


class _BoundedTemplate(Template):
    """A template whose `render` starts a fresh budget."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        token = render_limits.start(self.environment.limits)  # type: ignore[attr-defined]
        try:
            return super().render(*args, **kwargs)
        finally:
            render_limits.stop(token)

    def new_context(
        self,
        vars: dict[str, Any] | None = None,
        shared: bool = False,
        locals: Mapping[str, Any] | None = None,
    ) -> Context:
        """Counted when shared: an include, or an import with context (the render's own
        context, and an import without context, which Jinja keeps, are not)."""
        budget = render_limits.active()
        if shared and budget is not None:
            budget.iterate(render_limits.CALL_PASSES)
        return super().new_context(vars, shared, locals)


# Calls that can recur, each counted as loop passes: a macro calling itself twice would
# otherwise do 2**40 calls with no loop in sight.
_COUNTED_CALLS = frozenset({Macro, BlockReference})
# Methods of texts and lists (built-in ones, and Markup's in Python).
_METHODS = frozenset({BuiltinMethodType, MethodType})
_SIZED_RESULTS = {str: "characters", bytes: "characters", list: "items", tuple: "items"}


class LimitedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, bounded: see `render_limits` for the limits and why.

    The hooks: the code generator routes loops and `~` through filters that count and measure;
    `finalize` measures every printed value; `concat` (which joins the output and captured
    blocks) stops once the text is too long; `call` counts macro calls and checks the methods
    of texts and lists; `call_binop` checks `*`, `**`, `%` and `+`; `str.format` gets a
    formatter that measures each field before it formats it.
    """

    intercepted_binops = frozenset(render_limits.BINOP_CHECKS)
    code_generator_class = _BoundedCodeGenerator
    template_class = _BoundedTemplate

    def __init__(self, *args: Any, limits: TemplateLimits | None = None, **kwargs: Any):
        super().__init__(*args, finalize=_measure_printed, **kwargs)
        self.limits = limits or TemplateLimits()
        self.filters.update(render_filters.FILTERS)
        self.filters.update({_LOOP: _loop_items, _CONCAT: _concat})
        self.globals.update(render_filters.GLOBALS)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        render_limits.BINOP_CHECKS[operator](current(self.limits), left, right)
        return self.binop_table[operator](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current(__self.limits)
        kind = type(__obj)
        if kind in _METHODS:
            args = render_limits.check_method(budget, __obj, args, kwargs)
        elif kind in _COUNTED_CALLS:
            budget.iterate(render_limits.CALL_PASSES)
        elif kind is LoopContext and args:  # `loop(children)` in a recursive loop
            args = (render_limits.counted(budget, args[0]), *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        unit = _SIZED_RESULTS.get(type(result))
        if unit is not None:
            budget.build(len(result), "the call", unit)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """As Jinja's sandbox does for `str.format` and `format_map`, with a bounded formatter."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__
        if isinstance(text, Markup):
            formatter: SandboxedFormatter = _BoundedEscapeFormatter(self, escape=text.escape)
        else:
            formatter = _BoundedFormatter(self)
        takes_mapping = value.__name__ == "format_map"

        def format_bounded(*args: Any, **kwargs: Any) -> str:
            if takes_mapping:
                if kwargs or len(args) != 1:
                    return wrapped(*args, **kwargs)  # Jinja's own error for the wrong arguments
                args, kwargs = (), args[0]
            return type(text)(formatter.vformat(text, args, kwargs))

        return update_wrapper(format_bounded, value)

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """Join output: captured blocks (a list) at once, the template's output as it comes."""
        budget = current(self.limits)
        if isinstance(parts, list):
            size = sum(map(len, parts))
            if size > self.limits.output_chars:
                raise budget.output_too_long()
            budget.build(size, "the block")
            return "".join(parts)
        pieces = []
        room = self.limits.output_chars
        for piece in parts:
            room -= len(piece)
            if room < 0:
                # Raised inside the template at the output that went too far, to name its line.
                thrown = getattr(parts, "throw", None)
                if thrown is not None:
                    thrown(budget.output_too_long())
                raise budget.output_too_long()
            pieces.append(piece)
        return "".join(pieces)

    def compile_expression(self, source: str, undefined_to_none: bool = True) -> Any:
        """As Jinja's, but nesting past Python's limits is a syntax error like any other."""
        try:
            return super().compile_expression(source, undefined_to_none)
        except (RecursionError, SyntaxError):
            raise TemplateSyntaxError(_TOO_DEEP, 1) from None


def _measure_printed(value: Any) -> Any:
    """Every printed value (`{{ ... }}`), measured before `str()` builds it. On the hot path:
    a text or a number is measured without a call."""
    budget = render_limits.active()
    if budget is None:  # a constant, printed while the template compiles
        return value
    kind = type(value)
    if kind is str:
        size = len(value)
    elif kind is int:
        size = value.bit_length() // 3 + 2
    else:
        size = render_limits.printed_size(value, budget.output_chars)
    if size > budget.output_chars or size > budget.built_left:
        budget.build(size, "printing the value")
    budget.built_left -= size
    return value


class _BoundedFormatter(SandboxedFormatter):
    """`str.format` in the sandbox, measuring each field before it formats it."""

    def __init__(self, env: LimitedSandbox, **kwargs: Any):
        super().__init__(env, **kwargs)
        self.limits = env.limits
        self.budget = current(env.limits)
        self.room = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self.budget = current(self.limits)
        literal = sum(len(text) for text, *_ in self.parse(format_string))
        self.budget.fits(literal, "str.format")
        self.room = self.limits.output_chars - literal
        result = super().vformat(format_string, args, kwargs)
        self.budget.build(len(result), "str.format")
        return result

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:  # !s, !r, !a build the text of the value
            self._check(render_limits.converted_size(value, conversion, self.room))
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        self._check(render_limits.format_field_size(value, format_spec, self.room))
        text = super().format_field(value, format_spec)
        self._check(len(text))
        self.room -= len(text)
        return text

    def _check(self, size: int) -> None:
        """Before a field of `size` characters joins the text so far."""
        if size > self.room:
            self.budget.fits(self.limits.output_chars - self.room + size, "str.format")


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


def make_environment(
    search_path: Iterable[Path] = (), limits: TemplateLimits | None = None
) -> SandboxedEnvironment:
    """A sandboxed, strict, bounded environment with the plugins' filters and globals."""
    resolved = dict.fromkeys(Path(p).resolve() for p in search_path)
    folders = [str(p) for p in resolved if p.is_dir()]
    env = LimitedSandbox(
        limits=limits,
        undefined=StrictUndefined,
        autoescape=False,
        loader=FileSystemLoader(folders) if folders else None,
        keep_trailing_newline=False,
    )
    env.filters.update(collect("register_filters"))
    env.globals.update(collect("register_globals"))
    return env


def compile_text(env: SandboxedEnvironment, source: str, name: str) -> Renderer:
    """A function from a row's fields to the rendered text, or a RenderError for bad syntax.

    `name` says where the template came from (a file, or `pipeline.yaml:12`) in error messages.
    """
    simple = _SIMPLE_FIELD.fullmatch(source.strip())
    if simple:
        return field_reader(simple.group(1), env.globals)
    try:
        code = env.compile(source, name=name, filename=name)
    except TemplateSyntaxError as error:
        raise RenderError(
            f"template syntax error: {error.message}", f"{name}:{error.lineno}"
        ) from None
    except (RecursionError, SyntaxError):  # Python's own limits on nesting
        raise RenderError(_TOO_DEEP, name) from None
    return _render_function(env.template_class.from_code(env, code, env.make_globals(None)))


def _render_function(template: Template) -> Renderer:
    """The template's render, with its globals as one plain dict: Jinja keeps them as a
    ChainMap, which every render copies key by key (a measurable cost per recipient)."""
    template.globals = dict(template.globals)
    return template.render


def load_template(env: SandboxedEnvironment, filename: str, where: str = "") -> Renderer:
    """A template file from the environment's search path, compiled.

    `where` (the pipeline's `file:line:column` of the template's name) prefixes a not-found error.
    """
    _require_loader(env, filename, where)
    try:
        return _render_function(env.get_template(filename))
    except TemplateSyntaxError as error:
        raise RenderError(
            f"template syntax error: {error.message}", f"{error.filename}:{error.lineno}"
        ) from None
    except (RecursionError, SyntaxError):  # Python's own limits on nesting
        raise RenderError(_TOO_DEEP, where or filename) from None
    except TemplateError as error:
        raise _not_found(env, filename, where) from error


def template_sources(env: SandboxedEnvironment, source: str) -> list[str]:
    """`source` and the text of every template it includes, imports or extends, recursively.

    What a fingerprint of "the message template" must cover: editing an included signature
    changes every text as much as editing the main file does. Names computed at render time
    cannot be followed; a missing file is left to rendering to report.
    """
    texts, seen, queue = [source], set(), [source]
    while queue:
        try:
            names = meta.find_referenced_templates(env.parse(queue.pop()))
        except (TemplateSyntaxError, RecursionError):  # compiling reports it
            continue
        for name in names:
            if name is None or name in seen or env.loader is None:
                continue
            seen.add(name)
            try:
                text = env.loader.get_source(env, name)[0]
            except TemplateNotFound:
                continue
            texts.append(text)
            queue.append(text)
    return texts


def template_source(env: SandboxedEnvironment, filename: str, where: str = "") -> str:
    """The text of a template file, or the same not-found error rendering would give."""
    _require_loader(env, filename, where)
    try:
        return env.loader.get_source(env, filename)[0]  # type: ignore[union-attr]
    except TemplateNotFound:
        raise _not_found(env, filename, where) from None


def _require_loader(env: SandboxedEnvironment, filename: str, where: str) -> None:
    if env.loader is None:
        raise _not_found(env, filename, where)


def _not_found(env: SandboxedEnvironment, filename: str, where: str) -> RenderError:
    looked = ", ".join(getattr(env.loader, "searchpath", []))
    place = f"looked in {looked}" if looked else "there is no templates/ folder to look in"
    return RenderError(f"template {filename!r} not found ({place})", where)


def render(renderer: Renderer, context: Mapping[str, Any], row: str) -> str:
    """Render for one row; any failure becomes a RenderError naming the row and template line."""
    try:
        text = renderer(context)
    except Exception as error:  # any failure inside a template is the template author's to fix
        if isinstance(error, SecurityError):
            problem = f"the template tried to reach Python internals ({error})"
        elif isinstance(error, (UndefinedError, TemplateLimitError)):
            problem = str(error)
        else:
            problem = f"{type(error).__name__}: {error}"
        raise RenderError(f"{_template_line(error)}{problem}", row) from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:  # "\ud800" in a template or a JSON row
            raise RenderError(
                f"the text holds {text[error.start]!r}, a lone surrogate that is not a character",
                row,
            ) from None
    return text


def is_true(text: str) -> bool:
    """How a rendered `when:` reads: empty, false, 0, no, none and off are false."""
    return text.strip().lower() not in _FALSE_WORDS


def field_reader(field: str, env_globals: Mapping[str, Any] | None = None) -> Renderer:
    """`{{ field }}` without Jinja: the row's value, else a global's, else Jinja's error.

    The name may be any text, including one no template could spell (`Telefon No`). The error
    for a missing field is the one Jinja gives (`'field' is undefined`), so `render` reports it
    naming the row either way.
    """
    fallback: Mapping[str, Any] = env_globals or {}

    def read(context: Mapping[str, Any]) -> str:
        value = context.get(field, _MISSING)
        if value is _MISSING:
            value = fallback.get(field, _MISSING)
            if value is _MISSING:
                raise UndefinedError(f"'{field}' is undefined")
        return str(value)

    return read


_MISSING = object()
_TOO_DEEP = "the template nests blocks or brackets too deeply"


def _template_line(error: BaseException) -> str:
    """`template NAME line N: ` for the innermost template frame of the traceback, if any.

    Jinja rewrites tracebacks so that template frames carry the template's file name and line,
    and marks them with `__jinja_exception__` in their globals.
    """
    where = ""
    tb = error.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            where = f"template {tb.tb_frame.f_code.co_filename} line {tb.tb_lineno}: "
        tb = tb.tb_next
    return where
