"""The bounded sandbox: Jinja's `SandboxedEnvironment`, with every render held to its limits.

`render_limits` says what the limits are and works out sizes; this module hooks that into
Jinja. The hooks, each where Jinja offers one:
- the code generator (`code_generator_class`) rewrites each template's tree before compiling
  it: a loop's iterable goes through a filter that counts its passes, an include or import is
  counted before it, a `~` goes through a filter that measures it first, and a value given
  to a filter that may make text of it (`upper`, a plugin's filter) is measured unless it is
  plain, a text or a number;
- `finalize` measures a printed value before `str()` builds it, and `concat`, which joins the
  output and captured blocks, stops once the text gets too long;
- `call` counts macro, `caller()` and block calls, checks the methods of texts and lists, and
  measures what a global function is given; `call_binop` checks `*`, `**`, `%` and `+`;
  `call_filter` (`map('upper')`) measures as a template's filter does; `str.format` gets a
  formatter that measures each field before formatting it;
- the template class (`template_class`) starts a fresh budget for each render.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import update_wrapper
from itertools import islice
from types import BuiltinMethodType, FunctionType, MethodType
from typing import Any

from jinja2 import Template, TemplateSyntaxError, nodes, pass_context
from jinja2.compiler import CodeGenerator
from jinja2.runtime import BlockReference, Context, LoopContext, Macro, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

from . import render_filters, render_limits
from .errors import TemplateLimitError
from .render_limits import Budget, TemplateLimits, current

TOO_DEEP = "the template nests blocks or brackets too deeply"


class _Bounding(NodeTransformer):
    """Routes every loop's iterable and every `~` through the render's budget, and marks the
    values given to filters that may turn them into text (see below)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        # Jinja types a loop's iterable as any node; its parser only ever puts an expression there.
        node.iter = _internal_filter(_LOOP, node.iter)  # type: ignore[arg-type]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _internal_filter(_CONCAT, nodes.Tuple(node.nodes, "load", lineno=node.lineno))

    def visit_Include(self, node: nodes.Include) -> list[nodes.Node]:
        """An include (or import) renders a template: counted as loop passes, before it."""
        return [nodes.ExprStmt(_internal_filter(_INCLUDE, nodes.Const(None))), node]

    visit_Import = visit_FromImport = visit_Include

    def visit_Filter(self, node: nodes.Filter) -> nodes.Node:
        self.generic_visit(node)
        if render_filters.turns_into_text(node.name):
            what = f"|{node.name}"
            if node.node is not None:  # None: a {% filter %} block, its text already built
                node.node = _measured(node.node, what)
            node.args = [_measured(arg, what) for arg in node.args]
            for keyword in node.kwargs:
                keyword.value = _measured(keyword.value, what)
            if node.dyn_args is not None:
                node.dyn_args = _measured(node.dyn_args, what)
            if node.dyn_kwargs is not None:
                node.dyn_kwargs = _measured(node.dyn_kwargs, what)
        return node


def _measured(node: nodes.Expr, what: str) -> nodes.Expr:
    if isinstance(node, nodes.Const):  # written in the template: as small as the template
        return node
    return nodes.Filter(node, _MEASURE, [nodes.Const(what)], [], None, None, lineno=node.lineno)


def _internal_filter(name: str, node: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


# Filters the code generator inserts; a template cannot name them (they are not identifiers).
_LOOP = "masgsm:loop"
_CONCAT = "masgsm:concat"
_MEASURE = "masgsm:measure"  # a value given to a filter that may turn it into text
_INCLUDE = "masgsm:include"

# These filters are registered on a LimitedSandbox alone, so `context.environment` is one;
# Jinja types it as a plain Environment, hence the `attr-defined` ignores.


@pass_context
def _loop_items(context: Context, iterable: Any) -> Any:
    limits = context.environment.limits  # type: ignore[attr-defined]
    return render_limits.counted(current(limits), iterable)


@pass_context
def _count_include(context: Context, _: None) -> None:
    limits = context.environment.limits  # type: ignore[attr-defined]
    current(limits).iterate(render_limits.CALL_PASSES)


@pass_context
def _measure(context: Context, value: Any, what: str) -> Any:
    return context.environment.measured(value, what)  # type: ignore[attr-defined]


@pass_context
def _concat(context: Context, parts: tuple) -> str:
    budget = current(context.environment.limits)  # type: ignore[attr-defined]
    budget.build(render_limits.joined_size(budget, parts, 0), "'~'")
    eval_ctx = context.eval_ctx
    return (markup_join if eval_ctx.volatile or eval_ctx.autoescape else str_join)(parts)


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, after `_Bounding` has rewritten the template's tree.

    A printed value goes through `environment.finalize` (`_measure_printed`), except one
    printed straight into the output, not into a captured block: a text no longer than the
    limit, or a number, is yielded with no call of ours (`concat` measures the output as it
    comes), anything else goes to `environment.printed`. That keeps the usual `{{ name }}` as
    cheap as before, and a too long text is refused at its own line.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._printed: list[str] = []

    def visit_Template(self, node: nodes.Template, frame: Any = None) -> None:
        _Bounding().visit(node)
        node.set_environment(self.environment)
        super().visit_Template(node, frame)

    def visit_Filter(self, node: nodes.Filter, frame: Any) -> None:
        """A measured value is plain (a text, a number) or measured by a call:
        `(v if type(v := value) in environment.plain_types else measure(context, v, what))`."""
        if node.name != _MEASURE or node.node is None:  # ours always filter a value
            super().visit_Filter(node, frame)
            return
        name = self.temporary_identifier()
        self.write(f"({name} if type({name} := ")
        self.visit(node.node, frame)
        self.write(f") in environment.plain_types else {self.filters[_MEASURE]}(context, {name}, ")
        self.visit(node.args[0], frame)
        self.write("))")

    def _output_child_pre(self, node: nodes.Expr, frame: Any, finalize: Any) -> None:
        if _straight_to_output(frame):
            name = self.temporary_identifier()
            self._printed.append(name)
            self.write(f"({name} if ({name}_type := type({name} := ")
        else:
            super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Any, finalize: Any) -> None:
        if _straight_to_output(frame):
            name = self._printed.pop()
            self.write(f")) is str and len({name}) <= environment.output_chars ")
            self.write(f"else str({name}) if {name}_type in environment.short_types ")
            self.write(f"else environment.printed({name}))")
        else:
            super()._output_child_post(node, frame, finalize)


def _straight_to_output(frame: Any) -> bool:
    eval_ctx = frame.eval_ctx
    return frame.buffer is None and not eval_ctx.volatile and not eval_ctx.autoescape


class _BoundedTemplate(Template):
    """A template whose `render` starts a fresh budget."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        running = render_limits.RUNNING
        outer = running.budget  # None, unless a render calls another
        running.budget = Budget(self.environment.limits)  # type: ignore[attr-defined]
        try:
            return super().render(*args, **kwargs)
        finally:
            running.budget = outer


# Pieces of output taken at a time: a usual text comes in fewer.
_CHUNK = 64
# Calls that can recur, each counted as loop passes: a macro calling itself twice would
# otherwise do 2**40 calls with no loop in sight.
_COUNTED_CALLS = frozenset({Macro, BlockReference})
# Methods of texts and lists (built-in ones, and Markup's in Python).
_METHODS = frozenset({BuiltinMethodType, MethodType})
_SIZED_RESULTS: dict[type, str] = {
    str: "characters",
    bytes: "characters",
    list: "items",
    tuple: "items",
}


class LimitedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, bounded by `limits` (see `render_limits`) through the hooks above.

    `locale` is how the number filters read an ambiguous `1.250` (see `cells`).
    """

    intercepted_binops = frozenset(render_limits.BINOP_CHECKS)
    code_generator_class = _BoundedCodeGenerator
    template_class = _BoundedTemplate
    locale = "tr"

    def __init__(self, *args: Any, limits: TemplateLimits | None = None, **kwargs: Any):
        super().__init__(*args, finalize=_measure_printed, **kwargs)
        self.limits = limits or TemplateLimits()
        self.output_chars = self.limits.output_chars
        self.filters.update(render_filters.FILTERS)
        self.filters.update(
            {_LOOP: _loop_items, _CONCAT: _concat, _MEASURE: _measure, _INCLUDE: _count_include}
        )
        self.tests.update(render_filters.TESTS)
        self.globals.update(render_filters.GLOBALS)

    #: Values whose text is short whatever they hold (an int's, 4,300 digits at most).
    short_types = frozenset({int, float, bool, type(None), date, datetime})
    #: Values measured without a call: their text is as long as they are, or short.
    plain_types = short_types | {str, Markup}

    def printed(self, value: Any) -> str:
        """The text of a value printed straight into the output, if it is not too long (a text
        that is comes here only to be refused)."""
        if type(value) is str:
            current(self.limits).fits(len(value), "printing the value")
        return str(value if type(value) in self.plain_types else _measure_printed(value))

    def measured(self, value: Any, what: str) -> Any:
        """`value`, after checking that its text would not be too long."""
        budget = current(self.limits)
        budget.fits(render_limits.printed_size(value, budget.output_chars), what)
        return value

    def call_filter(
        self,
        name: str,
        value: Any,
        args: Any = None,
        kwargs: Any = None,
        context: Context | None = None,
        eval_ctx: Any = None,
    ) -> Any:
        """A filter called by name (`map('upper')`), measured as a template's filter is."""
        if render_filters.turns_into_text(name):
            for given in (value, *(args or ()), *(kwargs or {}).values()):
                if type(given) not in self.plain_types:
                    self.measured(given, f"|{name}")
        return super().call_filter(name, value, args, kwargs, context, eval_ctx)

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
        elif kind is FunctionType:  # a global: it may turn what it is given into text
            for value in (*args, *kwargs.values()):
                if type(value) not in __self.plain_types:
                    __self.measured(value, f"{__obj.__name__}()")
        result = super().call(__context, __obj, *args, **kwargs)
        unit = _SIZED_RESULTS.get(type(result))
        if unit is not None:
            budget.build(len(result), "the call", unit)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """As Jinja's sandbox does for `str.format` and `format_map`, with a bounded formatter."""
        if type(value) not in _METHODS:  # every attribute read comes here: the usual case first
            return None
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        return update_wrapper(_FormatMethod(self, value, wrapped), value)

    def concat(self, parts: Iterable[str]) -> str:
        """Join output: a captured block (a list) at once; the template's output (a generator)
        as it comes, 64 pieces at a time, stopping at the first chunk that makes it too long (a
        usual text comes in one). A chunk is joined before it is measured: each of its pieces
        was measured already (or is text of the template), so what it builds stays small."""
        limit = self.output_chars
        if type(parts) is list:
            size = sum(map(len, parts))
            budget = current(self.limits)
            if size > limit:
                raise budget.output_too_long()
            budget.build(size, "the block")
            return "".join(parts)
        pieces = list(islice(parts, _CHUNK))
        text = "".join(pieces)
        if len(pieces) < _CHUNK:  # all of it, the usual case
            if len(text) <= limit:
                return text
            raise self._too_long(parts)
        chunks = [text]
        size = len(text)
        while size <= limit:
            pieces = list(islice(parts, _CHUNK))
            if not pieces:
                return "".join(chunks)
            text = "".join(pieces)
            size += len(text)
            chunks.append(text)
        raise self._too_long(parts)

    def _too_long(self, parts: Iterable[str]) -> TemplateLimitError:
        """The error for output that got too long: thrown into the template where it stands,
        to name that line, or, once it has finished, naming the template."""
        error = current(self.limits).output_too_long()
        if getattr(parts, "gi_frame", None) is not None:
            parts.throw(error)  # type: ignore[attr-defined]
        code = getattr(parts, "gi_code", None)
        if code is None:
            return error
        return TemplateLimitError(f"template {code.co_filename}: {error}")

    def compile_expression(self, source: str, undefined_to_none: bool = True) -> Any:
        """As Jinja's, but nesting past Python's limits is a syntax error like any other."""
        try:
            return super().compile_expression(source, undefined_to_none)
        except (RecursionError, SyntaxError):
            raise TemplateSyntaxError(TOO_DEEP, 1) from None


def _measure_printed(value: Any) -> Any:
    """Every printed value (`{{ ... }}`), measured before `str()` builds it. On the hot path:
    a text or a number is measured without a call."""
    budget = render_limits.RUNNING.budget
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


class _FormatMethod:
    """`text.format` or `text.format_map`, formatting with a `_BoundedFormatter`."""

    def __init__(self, env: LimitedSandbox, method: Any, wrapped: Callable[..., str]):
        self.text = method.__self__
        self.takes_mapping = method.__name__ == "format_map"
        self.wrapped = wrapped  # Jinja's, for its errors about wrong arguments
        if isinstance(self.text, Markup):
            self.formatter: SandboxedFormatter = _BoundedEscapeFormatter(
                env, escape=type(self.text).escape
            )
        else:
            self.formatter = _BoundedFormatter(env)

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        if self.takes_mapping:
            if kwargs or len(args) != 1:
                return self.wrapped(*args, **kwargs)
            kwargs = args[0]
            args = ()
        return type(self.text)(self.formatter.vformat(self.text, args, kwargs))


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
