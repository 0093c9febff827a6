"""The one Jinja environment every message is rendered in (pipelines and Apprise alike).

Sandboxed, so a template cannot reach Python internals; bounded (`render_sandbox`, with the
pipeline's `limits:`), so it cannot take the machine's memory and its loops and calls are
counted; `StrictUndefined`, so a missing field is an error before anything is sent rather than
an empty hole in a customer's text. Filters and globals come from the plugins (the built-in
Turkish filters among them).

Rendering runs once per recipient, so a template that is only `{{ field }}` (the usual `number:`)
skips Jinja entirely and reads the field directly, with the same error for a missing one.
"""

from __future__ import annotations

import contextlib
import linecache
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

from jinja2 import (
    BytecodeCache,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    meta,
)
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from .cells import LOCALES
from .errors import RenderError, TemplateLimitError, UnreadableValueError
from .plugins import collect
from .render_limits import TemplateLimits
from .render_sandbox import TOO_DEEP, LimitedSandbox

_SIMPLE_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# What a rendered `when:` may say, in any case; anything else is a mistake in the expression.
_TRUE_WORDS = frozenset({"true", "yes", "1"})
_FALSE_WORDS = frozenset({"", "false", "no", "0"})

Renderer = Callable[[Mapping[str, Any]], str]
Place = tuple[str, int] | None  # a template's name and line


class CompiledTemplates(BytecodeCache):
    """Compiled template files shared by every environment of this process.

    Each run makes its own environment; a process that runs many (serve, one run per payload)
    would otherwise parse and compile the same files every time. Jinja keys each entry by the
    template's name and file and checks its source's checksum, so an edited file is compiled
    again. Every environment here has the same settings, so their compiled code is the same.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Any) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Any) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code


_COMPILED_FILES = CompiledTemplates()


def make_environment(
    search_path: Iterable[Path] = (), locale: str = "tr", limits: TemplateLimits | None = None
) -> LimitedSandbox:
    """A sandboxed, strict, bounded environment with the plugins' filters and globals.

    `locale` (a pipeline's `locale:`) says how the number filters read `1.250` and `1,250`;
    `limits` (its `limits:`) bound what one render may build and how long it may loop.
    """
    if locale not in LOCALES:
        raise ValueError(f"locale {locale!r} is not one of {', '.join(LOCALES)}")
    resolved = dict.fromkeys(Path(p).resolve() for p in search_path)
    folders = [str(p) for p in resolved if p.is_dir()]
    env = LimitedSandbox(
        limits=limits,
        undefined=StrictUndefined,
        autoescape=False,
        loader=FileSystemLoader(folders) if folders else None,
        keep_trailing_newline=False,
        bytecode_cache=_COMPILED_FILES,
        # An environment lives for one run, so it need not look at each template file again
        # on every render (an include costs a stat per recipient); the next run sees edits.
        auto_reload=False,
    )
    env.locale = locale
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
        code = _compiled_text(env, source, name)
    except TemplateSyntaxError as error:
        raise RenderError(
            f"template syntax error: {error.message}", f"{name}:{error.lineno}"
        ) from None
    except (RecursionError, SyntaxError):  # Python's own limits on nesting
        raise RenderError(TOO_DEEP, name) from None
    # Where tracebacks (and a failing row's error) find the template's lines, as for a file.
    linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)
    return _render_function(env.template_class.from_code(env, code, env.make_globals(None)))


_compiled_texts: dict[tuple[str, str], Any] = {}
COMPILED_TEXTS_KEPT = 512


def _compiled_text(env: SandboxedEnvironment, source: str, name: str) -> Any:
    """`env.compile(source)`, remembered by source and name (see `CompiledTemplates`)."""
    key = (source, name)
    code = _compiled_texts.get(key)
    if code is None:
        code = env.compile(source, name=name, filename=name)
        if len(_compiled_texts) >= COMPILED_TEXTS_KEPT:
            _compiled_texts.clear()
        _compiled_texts[key] = code
    return code


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
        raise RenderError(TOO_DEEP, where or filename) from None
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
            names = _referenced(queue.pop())
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


@lru_cache(maxsize=256)
def _referenced(source: str) -> tuple[str | None, ...]:
    """The template names a source refers to, remembered: parsing costs about as much as
    compiling. Parsing needs no filters or loader, so one environment parses for all."""
    return tuple(meta.find_referenced_templates(_parser().parse(source)))


@lru_cache(maxsize=1)
def _parser() -> SandboxedEnvironment:
    return LimitedSandbox(undefined=StrictUndefined, autoescape=False)


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
        place = _template_place(error)
        at = ""
        if place:  # a template named after the row's place (a notify: URL) is named once
            template = "" if place[0] == row else f"template {place[0]} "
            at = f"{template}line {place[1]}: "
        if isinstance(error, SecurityError):
            problem = hidden = f"the template tried to reach Python internals ({error})"
        elif isinstance(error, (UndefinedError, TemplateLimitError)):  # never the row's values
            problem = hidden = str(error)
        elif isinstance(error, UnreadableValueError):
            holder = _holder(error, context, place)
            problem = f"{holder}{error}"
            hidden = f"{holder}{error.reader}: a value it cannot read (not shown: it is the row's)"
        else:
            problem = f"{type(error).__name__}: {error}"
            hidden = f"{type(error).__name__} (its message quotes the row, so it is not shown)"
        raise RenderError(f"{at}{problem}", row, without_data=f"{at}{hidden}") from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:  # "\ud800" in a template or a JSON row
            raise RenderError(
                f"the text holds {text[error.start]!r}, a lone surrogate that is not a character",
                row,
                without_data="the text holds a lone surrogate, which is not a character",
            ) from None
    return text


def is_true(text: str) -> bool:
    """How a rendered `when:` reads: true, yes, 1 or false, no, 0 (any case); empty is false.

    Anything else raises ValueError. `{{ days }} > 0` renders `5 > 0`, and reading every text
    that is not a false word as true would let every row through without a word.
    """
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"{text.strip()!r:.80} is not true or false")


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


@contextlib.contextmanager
def cheap_failures(env: SandboxedEnvironment) -> Iterator[None]:
    """Within, a failing render in `env` skips Jinja's rewriting of its traceback into template
    frames, four fifths of what a failure costs; its RenderError then names no template line.

    For rows that are only counted, past those an error names: a typo that breaks every row of
    a million-row file must not take minutes to report.
    """
    env.handle_exception = _reraise  # type: ignore[method-assign]  # shadows the method
    try:
        yield
    finally:
        del env.handle_exception


def _reraise(source: str | None = None) -> NoReturn:
    raise  # the exception being handled, where Jinja calls handle_exception


def _template_place(error: BaseException) -> Place:
    """The template name and line of the innermost template frame of the traceback, if any.

    Jinja rewrites tracebacks so that template frames carry the template's file name and line,
    and marks them with `__jinja_exception__` in their globals.
    """
    place = None
    tb = error.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            place = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return place


def _holder(error: UnreadableValueError, context: Mapping[str, Any], place: Place) -> str:
    """`field 'NAME': ` for the row field that holds the value a filter could not read.

    Only on the error path: the fields holding that very value (or an equal one of the same
    type); when several do (empty cells), those the failing template line passes to the filter
    (`tutar|money`, `row["Tutar"]|money`), else those it names at all. A value the template
    computed itself is held by no field, and nothing is said.
    """
    value, kind = error.value, type(error.value)
    names = [
        name
        for name, held in context.items()
        if name != "row" and (held is value or (type(held) is kind and held == value))
    ]
    if len(names) > 1 and place:
        line = linecache.getline(*place)
        for follows in (rf"""['"\]]*\s*\|\s*{error.reader}\b""", ""):
            named = [n for n in names if re.search(rf"(?<!\w){re.escape(n)}{follows}", line)]
            if named:
                names = named
                break
    if not names:
        return ""
    if len(names) == 1:
        return f"field {names[0]!r}: "
    return f"one of the fields {', '.join(map(repr, names))}: "
