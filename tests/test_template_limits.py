"""Bounded templates: what one render may build, and how much work it may do (`limits:`).

Every operation that can multiply a size is checked before it builds; loops, macro calls and
includes are counted; a render past a limit fails naming the row, the template line and the
limit. The tables run each operation at the limit (it renders) and one past it (it is refused);
the bombs of issue 10 run in child processes, timed and measured; a pipeline run through the
real command and Apprise's contacts mode show that nothing is sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from helpers.cli import assert_no_traceback, run_cli
from helpers.pipelines import write
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER, sandbox_messages

from masgsm_notify.errors import PipelineError, RenderError
from masgsm_notify.pipeline.spec import load_pipeline
from masgsm_notify.render import compile_text, make_environment, render
from masgsm_notify.render_limits import CALL_PASSES, TemplateLimits
from masgsm_notify.sandbox import SandboxServer

LIMIT = 1_000
PASSES = 500
LIMITS = TemplateLimits(output_chars=LIMIT, loop_iterations=PASSES)
ROW = "rows.csv:7"
WHERE = f"{ROW}: template t.j2 line 1: "


def rendered(
    template: str, limits: TemplateLimits = LIMITS, folder: Path | None = None, **fields
) -> str:
    env = make_environment([folder] if folder else [], limits=limits)
    return render(compile_text(env, template, "t.j2"), fields, ROW)


def refusal(template: str, limits: TemplateLimits = LIMITS, **fields) -> str:
    with pytest.raises(RenderError) as caught:
        rendered(template, limits, **fields)
    return str(caught.value)


# -- one table of operations: at the limit they render, one past it they are refused --------------


@dataclass(frozen=True)
class Size:
    """An operation, and templates (with fields) that make it build exactly `k` units."""

    what: str  # how the refusal names it
    build: Callable[[int], tuple[str, dict[str, Any]]]
    unit: str = "characters"
    step: int = 1  # the sizes these templates can reach: every one, or every other


def t(source: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return source, fields


def halves(k: int) -> dict[str, int]:
    return {"m": k // 2, "n": k - k // 2}


SIZES: dict[str, Size] = {
    "center filter": Size("|center", lambda k: t(f"{{{{ 'x'|center({k}) }}}}")),
    "center method": Size(".center()", lambda k: t(f"{{{{ 'x'.center({k}) }}}}")),
    "ljust": Size(".ljust()", lambda k: t(f"{{{{ 'x'.ljust({k}) }}}}")),
    "rjust": Size(".rjust()", lambda k: t(f"{{{{ 'x'.rjust({k}, '-') }}}}")),
    "zfill": Size(".zfill()", lambda k: t(f"{{{{ '7'.zfill({k}) }}}}")),
    "format width": Size("str.format", lambda k: t(f"{{{{ '{{:>{k}}}'.format('x') }}}}")),
    "format fields": Size(
        "str.format", lambda k: t("{{ 'a{0}{1}'.format('x' * m, 'y' * n) }}", **halves(k - 1))
    ),
    "format repr": Size("str.format", lambda k: t("{{ '{0!r}'.format(s) }}", s="x" * (k - 2))),
    "format_map": Size(
        "str.format",
        lambda k: t("{{ '{a}{b}'.format_map({'a': 'x' * m, 'b': 'y' * n}) }}", **halves(k)),
    ),
    "percent width": Size("'%'", lambda k: t(f"{{{{ '%{k}s' % 'x' }}}}")),
    "percent fields": Size(
        "'%'", lambda k: t("{{ '%s-%s' % ('x' * m, 'y' * n) }}", **halves(k - 1))
    ),
    "percent mapping": Size(
        "'%'", lambda k: t("{{ '%(a)s%(a)r' % {'a': s} }}", s="x" * ((k - 2) // 2)), step=2
    ),
    "format filter": Size("|format", lambda k: t(f"{{{{ '%{k}s'|format('x') }}}}")),
    "repeat text": Size("'*'", lambda k: t(f"{{{{ 'x' * {k} }}}}")),
    "repeat list": Size("'*'", lambda k: t(f"{{{{ ([1] * {k})|length }}}}"), "items"),
    "add texts": Size("'+'", lambda k: t("{{ 'x' * m + 'y' * n }}", **halves(k))),
    "add lists": Size("'+'", lambda k: t("{{ ([1] * m + [2] * n)|length }}", **halves(k)), "items"),
    "concatenate": Size("'~'", lambda k: t("{{ ('x' * m) ~ ('y' * n) }}", **halves(k))),
    "replace filter": Size(
        "|replace", lambda k: t("{{ ('x' * m ~ 'z' * n)|replace('x', 'yy') }}", m=k // 2, n=k % 2)
    ),
    "replace method": Size(
        ".replace()", lambda k: t("{{ ('x' * m ~ 'z' * n).replace('x', 'yy') }}", m=k // 2, n=k % 2)
    ),
    "join filter": Size("|join", lambda k: t("{{ ['x' * m, 'y']|join('-') }}", m=k - 2)),
    "join method": Size(".join()", lambda k: t("{{ '-'.join(['x' * m, 'y']) }}", m=k - 2)),
    "indent": Size(
        "|indent",
        lambda k: t(
            "{{ ('x\\n' * m ~ 'y' * n)|indent(1, true, true) }}",
            m=(k - 2) // 3,
            n=k - 1 - 3 * ((k - 2) // 3),
        ),
    ),
    "expandtabs": Size(
        ".expandtabs()", lambda k: t("{{ ('\\t' * m ~ 'x' * n).expandtabs(4) }}", m=k // 4, n=k % 4)
    ),
    "translate": Size(".translate()", lambda k: t("{{ s.translate({97: 'b'}) }}", s="a" * k)),
    "forceescape": Size(
        "|forceescape", lambda k: t("{{ ('&' * m ~ 'x' * n)|forceescape }}", m=k // 5, n=k % 5)
    ),
    "urlencode": Size(
        "|urlencode", lambda k: t("{{ (' ' * m ~ 'x' * n)|urlencode }}", m=k // 3, n=k % 3)
    ),
    "tojson": Size("|tojson", lambda k: t("{{ ('x' * m)|tojson }}", m=k - 2)),
    "string": Size("|string", lambda k: t("{{ ['x' * m]|string }}", m=k - 4)),
    "truncate": Size("|truncate", lambda k: t("{{ s|truncate(5000) }}", s="x" * k)),
    "upper": Size("|upper", lambda k: t("{{ ['x' * m]|upper }}", m=k - 4)),
    "a plugin's filter": Size("|tr_upper", lambda k: t("{{ ['x' * m]|tr_upper }}", m=k - 4)),
    "a filter applied by map": Size(
        "|title", lambda k: t("{{ [['x' * m]]|map('title')|first }}", m=k - 4)
    ),
    "print a list": Size(
        "printing the value", lambda k: t("{{ [s, s] }}", s="x" * ((k - 8) // 2)), step=2
    ),
    "batch": Size("|batch", lambda k: t(f"{{{{ ([1]|batch({k}, 0)|first)|length }}}}"), "items"),
    "slice": Size("|slice", lambda k: t(f"{{{{ [1]|slice({k})|list|length }}}}"), "items"),
    "sum of lists": Size(
        "|sum", lambda k: t("{{ [[1] * m, [2] * n]|sum(start=[])|length }}", **halves(k)), "items"
    ),
    "extend": Size(
        ".extend()",
        lambda k: t(
            "{% set l = [1] * m %}{% set _ = l.extend([2] * n) %}{{ l|length }}", **halves(k)
        ),
        "items",
    ),
    "a captured block": Size(
        "the block",
        lambda k: t("{% set b %}{{ 'x' * m }}{{ 'y' * n }}{% endset %}{{ b|length }}", **halves(k)),
    ),
    "the whole text": Size("the text", lambda k: t("{{ 'x' * m }}{{ 'y' * n }}", **halves(k))),
}
# The text, and a captured block, are refused as a whole when they get too long.
WHOLE = {"a captured block", "the whole text"}
# What these render is a count, not the text itself.
COUNTED = {name for name, size in SIZES.items() if size.unit == "items"} | {"a captured block"}


@pytest.mark.parametrize("name", list(SIZES))
def test_an_operation_may_build_up_to_the_limit(name: str) -> None:
    size = SIZES[name]
    at_limit = LIMIT - LIMIT % size.step
    source, fields = size.build(at_limit)
    text = rendered(source, **fields)
    if name in COUNTED:
        assert text == str(at_limit)
    else:
        assert len(text) == at_limit, text[:80]


@pytest.mark.parametrize("name", list(SIZES))
def test_one_more_is_refused_before_it_is_built(name: str) -> None:
    size = SIZES[name]
    over = LIMIT - LIMIT % size.step + size.step
    source, fields = size.build(over)
    message = refusal(source, **fields)
    # The whole text is measured once the template has finished: no line to name.
    assert message.startswith(f"{ROW}: template t.j2: " if name == "the whole text" else WHERE)
    if name in WHOLE:
        expected = "the text would be longer than limits.output_chars (1,000 characters)"
    else:
        thing = "a list" if size.unit == "items" else "a text"
        expected = (
            f"{size.what} would make {thing} of {over:,} {size.unit}, "
            "more than limits.output_chars (1,000)"
        )
    assert message.endswith(expected), message


# -- loops, calls and includes: counted ----------------------------------------------------------

FILL = "{% for f in range(k - used) %}{% endfor %}"

PASS_CASES: dict[str, Callable[[int], tuple[str, dict]]] = {
    "a loop over a range": lambda k: t(f"{{% for i in range({k}) %}}{{% endfor %}}"),
    "a loop over a list": lambda k: t("{% for i in items %}{% endfor %}", items=[0] * k),
    "a loop over a dict": lambda k: t("{% for i in d %}{% endfor %}", d=dict.fromkeys(range(k))),
    "a loop over a filter's items": lambda k: t(
        f"{{% for i in range({k})|map('string') %}}{{% endfor %}}"
    ),
    "a loop with a condition": lambda k: t(f"{{% for i in range({k}) if i %}}{{% endfor %}}"),
    "two nested loops": lambda k: t(
        "{% for a in range(10) %}{% for b in range(49) %}{% endfor %}{% endfor %}" + FILL,
        k=k,
        used=10 + 10 * 49,
    ),
    "a recursive loop": lambda k: t(
        "{% for n in tree recursive %}{{ loop(n.c) }}{% endfor %}",
        tree=[{"c": [{"c": []}] * (k - 1)}],
    ),
    "a loop over a list it grows": lambda k: t(
        "{% for i in items %}{% if items|length < k %}{% set _ = items.append(i) %}{% endif %}"
        "{% endfor %}",
        items=[0],
        k=k,
    ),
    "macro calls": lambda k: t(
        "{% macro m() %}{% endmacro %}{{ m() }}{{ m() }}{{ m() }}" + FILL,
        k=k,
        used=3 * CALL_PASSES,
    ),
    "caller()": lambda k: t(
        "{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}{% endcall %}" + FILL,
        k=k,
        used=2 * CALL_PASSES,
    ),
    "a block called again": lambda k: t(
        "{% block b %}{% endblock %}{{ self.b() }}" + FILL, k=k, used=CALL_PASSES
    ),
    "includes": lambda k: t(
        "{% include 'part.j2' %}{% include 'part.j2' %}" + FILL, k=k, used=2 * CALL_PASSES
    ),
    "an import with context": lambda k: t(
        "{% import 'part.j2' as p with context %}" + FILL, k=k, used=CALL_PASSES
    ),
}


@pytest.fixture
def parts(tmp_path: Path) -> Path:
    (tmp_path / "part.j2").write_text("{{ 1 }}", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("name", list(PASS_CASES))
def test_loop_passes_up_to_the_limit_render(name: str, parts: Path) -> None:
    source, fields = PASS_CASES[name](PASSES)
    assert rendered(source, folder=parts, **fields).strip("1") == ""  # part.j2 prints 1


@pytest.mark.parametrize("name", list(PASS_CASES))
def test_one_pass_more_is_refused(name: str, parts: Path) -> None:
    source, fields = PASS_CASES[name](PASSES + 1)
    with pytest.raises(RenderError) as caught:
        rendered(source, folder=parts, **fields)
    message = str(caught.value)
    assert message.startswith(WHERE), message
    assert message.endswith(
        f"the template would make more than limits.loop_iterations (500) loop passes "
        f"(a macro call or an include counts as {CALL_PASSES})"
    ), message


def test_a_text_too_long_is_refused_at_its_line() -> None:
    message = refusal("Merhaba\n{{ note }}\n!", note="x" * (LIMIT + 1))
    assert message == (
        f"{ROW}: template t.j2 line 2: printing the value would make a text of 1,001 "
        "characters, more than limits.output_chars (1,000)"
    )


def test_a_loop_printing_too_much_is_refused_inside_it() -> None:
    message = refusal("Merhaba\n{% for i in range(400) %}\n{{ i }}\n{% endfor %}\n")
    assert message == (
        f"{ROW}: template t.j2 line 2: the text would be longer than limits.output_chars "
        "(1,000 characters)"
    )


def test_a_recursive_macro_is_stopped_without_any_loop() -> None:
    source = "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
    assert rendered(source + "{{ f(3) }}") == ""  # 15 calls
    message = refusal(source + "{{ f(40) }}")
    assert "limits.loop_iterations (500)" in message


def test_values_given_to_tests_and_functions_are_measured() -> None:
    """Jinja's `lower` and `upper` tests, and a plugin's global function, turn values into text."""

    def shout(value: object) -> str:
        return str(value).upper()

    env = make_environment([], limits=LIMITS)
    env.globals["shout"] = shout
    fits, over = {"l": ["x" * (LIMIT - 4)]}, {"l": ["x" * (LIMIT - 3)]}
    for source, what in [
        ("{{ l is upper }}", "is upper"),
        ("{{ l is lower }}", "is lower"),
        ("{{ [l]|select('lower')|list|length }}", "is lower"),
        ("{{ shout(l)|length }}", "shout()"),
    ]:
        renderer = compile_text(env, source, "t.j2")
        render(renderer, fits, ROW)
        with pytest.raises(RenderError) as caught:
            render(renderer, over, ROW)
        assert str(caught.value) == (
            f"{WHERE}{what} would make a text of 1,001 characters, "
            "more than limits.output_chars (1,000)"
        )


def test_counting_and_picking_filters_take_any_size() -> None:
    """Filters that never make text of their input are not measured: a long list is fine."""
    items = [{"name": "x" * 50, "n": i} for i in range(5_000)]
    source = (
        "{{ items|length }} {{ items|map(attribute='n')|max }} {{ (items|first).n }} "
        "{{ items|selectattr('n', 'even')|list|length }} {{ (items|sort(attribute='n')|last).n }}"
    )
    assert (
        rendered(source, TemplateLimits(output_chars=100), items=items) == "5000 4999 0 2500 4999"
    )


def test_all_that_a_render_builds_is_bounded_too() -> None:
    """Each text is small enough, but a loop building them one after another adds up."""
    limits = TemplateLimits(output_chars=LIMIT, loop_iterations=10**6, built_chars=50_000)
    source = "{% for i in range(n) %}{% set x = 'x' * 900 ~ i %}{% endfor %}."
    assert rendered(source, limits, n=20) == "."
    message = refusal(source, limits, n=100)
    assert message.endswith(
        "the template would build more than limits.built_chars (50,000) characters in all"
    ), message


# -- the bombs -----------------------------------------------------------------------------------

# A list of ten lists of ten references to one 100,000-character text: 80 bytes of pointers,
# 10,000,000 characters once printed.
SHARED = "{% set s = 'x' * 100000 %}{% set l = [s] * 10 %}{% set m = [l] * 10 %}"
BOMBS = {
    "center": ("{{ 'x'|center(300000000) }}", "|center", "limits.output_chars"),
    "format width": ("{{ '{:>300000000}'.format('x') }}", "str.format", "limits.output_chars"),
    "format precision": ("{{ '{:.300000000f}'.format(1.5) }}", "str.format", "limits.output_chars"),
    "percent width": ("{{ '%0999999999d' % 1 }}", "'%'", "limits.output_chars"),
    "percent star": ("{{ '%*s' % (300000000, 'x') }}", "'%'", "limits.output_chars"),
    "replace": ("{{ ('x'*100000)|replace('x','x'*100000) }}", "|replace", "limits.output_chars"),
    "nested loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        "loop passes",
        "limits.loop_iterations",
    ),
    "nested loops printing": (
        "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
        "the text would be longer",
        "limits.output_chars",
    ),
    "repeat": ("{{ 'x' * 10**9 }}", "'*'", "limits.output_chars"),
    "repeat list": ("{{ [1] * 10**9 }}", "'*'", "limits.output_chars"),
    "power": ("{{ 10**(10**10) }}", "'**'", "would make a number of more than 4096 bits"),
    "squaring": (
        "{% set ns = namespace(n=10**1000) %}{% for i in range(30) %}"
        "{% set ns.n = ns.n * ns.n %}{% endfor %}",
        "'*'",
        "would make a number of more than 4096 bits",
    ),
    "doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "'~'",
        "limits.output_chars",
    ),
    "shared references": (
        "{% set s = 'x' * 100000 %}{% set l = [s] * 10 %}{% set m = [l] * 10 %}{{ m }}",
        "printing the value",
        "limits.output_chars",
    ),
    "tojson of shared references": (
        "{% set s = 'x' * 100000 %}{% set l = [s] * 10 %}{{ ([l] * 10)|tojson }}",
        "|tojson",
        "limits.output_chars",
    ),
    "join": ("{{ range(100000)|join('x' * 1000) }}", "|join", "limits.output_chars"),
    "join method": (
        "{{ ('x' * 1000).join(range(100000)|map('string')) }}",
        ".join()",
        "limits.output_chars",
    ),
    "indent": ("{{ 'a\\nb'|indent(300000000) }}", "|indent", "limits.output_chars"),
    "wordwrap": (
        "{{ ('a ' * 50000)|wordwrap(1, wrapstring='x' * 100000) }}",
        "|wordwrap",
        "limits.output_chars",
    ),
    "expandtabs": (
        "{{ ('\\t' * 100000).expandtabs(100000) }}",
        ".expandtabs()",
        "limits.output_chars",
    ),
    "translate": (
        "{{ ('a' * 100000).translate({97: 'b' * 100000}) }}",
        ".translate()",
        "limits.output_chars",
    ),
    "urlize": (
        "{{ ('a.b ' * 20000)|urlize(target='x' * 100000) }}",
        "|urlize",
        "limits.output_chars",
    ),
    "lipsum": ("{{ lipsum(100000, max=100000) }}", "lipsum()", "limits.output_chars"),
    "batch": ("{{ [1]|batch(10**9, 0)|list|length }}", "|batch", "limits.output_chars"),
    "slice": ("{{ [1]|slice(10**9)|list|length }}", "|slice", "limits.output_chars"),
    "sum of lists": (
        "{{ ([[1] * 100000] * 100000)|sum(start=[])|length }}",
        "|sum",
        "limits.output_chars",
    ),
    "xmlattr": (
        "{% set s = 'x' * 100000 %}{{ {'a': s, 'b': s}|xmlattr }}",
        "|xmlattr",
        "limits.output_chars",
    ),
    "extend itself": (
        "{% set l = [1] * 1000 %}{% for i in range(40) %}{% set _ = l.extend(l) %}{% endfor %}",
        ".extend()",
        "limits.output_chars",
    ),
    "json of json of json": (
        "{% set ns = namespace(s='a') %}{% for i in range(60) %}"
        "{% set ns.s = (ns.s|tojson) ~ '' %}{% endfor %}",
        "|tojson",
        "limits.output_chars",
    ),
    "a filter making text of shared references": (
        SHARED + "{{ m|upper }}",
        "|upper",
        "limits.output_chars",
    ),
    "map making text of shared references": (
        SHARED + "{{ m|map('title')|list }}",
        "|title",
        "limits.output_chars",
    ),
    "a plugin's filter making text of shared references": (
        SHARED + "{{ m|tr_upper }}",
        "|tr_upper",
        "limits.output_chars",
    ),
    "a test making text of shared references": (
        SHARED + "{{ m is lower }}",
        "is lower",
        "limits.output_chars",
    ),
    "recursive macro": (
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "loop passes",
        "limits.loop_iterations",
    ),
    "a block captured in a long loop": (
        "{% set b %}{% for i in range(100000) %}{% for j in range(10) %}{{ 'x' * 9999 ~ i }}"
        "{% endfor %}{% endfor %}{% endset %}{{ b|length }}",
        "the template would build more than",
        "limits.built_chars (10,000,000)",
    ),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_a_bomb_is_refused_naming_the_limit(name: str) -> None:
    source, what, limit = BOMBS[name]
    message = str(refusal(source, TemplateLimits()))
    assert message.startswith(WHERE), message
    assert what in message, message
    assert limit in message, message


BOMB_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from masgsm_notify.errors import RenderError
    from masgsm_notify.render import compile_text, make_environment, render

    env = make_environment()
    renderer = compile_text(env, sys.argv[1], "bomb.j2")
    started = time.process_time()
    try:
        render(renderer, {}, "row:1")
        error = ""
    except RenderError as refused:
        error = str(refused)
    print(json.dumps({"seconds": time.process_time() - started, "error": error}))
    """
)
ISSUE_BOMBS = ["center", "format width", "replace", "nested loops", "nested loops printing"]


# Runs `-m MODULE ARGS` or `-c CODE ARGS` as Python would, then writes the process's peak
# resident memory (VmHWM: the kernel's high-water mark for this program's own memory) last on
# standard error. (getrusage in the parent would not do: a child started by fork and exec
# counts the parent's peak as its own.)
MEASURED = textwrap.dedent(
    """
    import atexit, runpy, sys

    def peak():
        with open("/proc/self/status") as status:
            kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
        sys.stderr.write(f"\\npeak-kb: {kb}\\n")

    atexit.register(peak)
    how, what, *sys.argv[1:] = sys.argv[1:]
    if how == "-m":
        sys.argv[0] = what
        runpy.run_module(what, run_name="__main__", alter_sys=True)
    else:
        sys.argv[0] = "-c"
        exec(compile(what, "<child>", "exec"), {"__name__": "__main__"})
    """
)


def run_measured(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[int, str, str, float]:
    """Exit code, standard output and error, and peak memory (MB) of `python ARGS`."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURED, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    err, _, peak = result.stderr.rpartition("\npeak-kb: ")
    assert peak, result.stderr
    return result.returncode, result.stdout, err, int(peak) / 1024


@pytest.mark.parametrize("name", ISSUE_BOMBS)
def test_a_bomb_takes_under_a_second_and_100_mb(name: str) -> None:
    code, out, err, peak_mb = run_measured(["-c", BOMB_CHILD, BOMBS[name][0]])
    assert code == 0, err
    result = json.loads(out)
    assert "row:1: template bomb.j2 line 1: " in result["error"], result
    assert result["seconds"] < 1.0, result
    assert peak_mb < 100, peak_mb


# -- configured per pipeline -----------------------------------------------------------------------


def test_limits_are_read_from_the_pipeline(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        """
        name: x
        recipients: {inline: [{phone: "05321112201"}]}
        message: {inline: hi}
        limits: {output_chars: 2000, loop_iterations: 300}
        """,
    )
    pipeline = load_pipeline(path)
    assert pipeline.limits == TemplateLimits(2000, 300, 200_000)
    default = write(tmp_path / "d.yaml", path.read_text().replace("limits:", "#"))
    assert load_pipeline(default).limits == TemplateLimits()


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ("{output_chars: 0}", r"p\.yaml:4:\d+: limits: output_chars: expected a number from 1"),
        ("{loop_iterations: lots}", r"limits: loop_iterations should be a whole number"),
        ("{output_char: 5}", r"limits: unknown key 'output_char'; did you mean 'output_chars'"),
        (
            "{output_chars: 500, built_chars: 100}",
            r"p\.yaml:4:\d+: limits: built_chars \(100\) is less than output_chars \(500\)",
        ),
    ],
)
def test_wrong_limits_are_refused_naming_the_place(
    tmp_path: Path, limits: str, expected: str
) -> None:
    path = write(
        tmp_path / "p.yaml",
        f"""
        name: x
        recipients: {{inline: [{{phone: "05321112201"}}]}}
        message: {{inline: hi}}
        limits: {limits}
        """,
    )
    with pytest.raises(PipelineError, match=expected):
        load_pipeline(path)


# -- end to end: the command, and Apprise's contacts mode -----------------------------------------

CUSTOMERS = (
    "name,phone,note\n"
    "Ayşe Yılmaz,0532 111 22 01,kısa\n"
    "Mehmet Öztürk,0533 111 22 02,uzun\n"
    "Zeynep Kaya,0534 111 22 03,kısa\n"
)
SHIPPING = (
    "Sayın {{ name }}, siparişiniz yola çıktı.\n"
    "{% if note == 'uzun' %}{{ name|center(300000000) }}{% endif %}\n"
)


def shipping_pipeline(folder: Path, extra: str = "") -> Path:
    """Three customers, the second of whom makes SHIPPING build a bomb."""
    write(folder / "customers.csv", CUSTOMERS)
    write(folder / "templates" / "shipping.txt.j2", SHIPPING)
    return write(
        folder / "p.yaml",
        "name: shipping\nrecipients: {csv: customers.csv}\n"
        f"message: {{template: shipping.txt.j2}}\n{extra}\n",
    )


def test_a_bomb_in_one_row_stops_the_run_before_anything_is_sent(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = shipping_pipeline(tmp_path)
    code, _, err, peak_mb = run_measured(
        ["-m", "masgsm_notify", "run", str(pipeline)], cli_env, tmp_path
    )
    assert code == 2, err
    assert "Traceback" not in err
    assert "customers.csv:3: template " in err, err
    assert "|center would make a text of 300,000,000 characters, more than" in err, err
    assert "limits.output_chars (100,000)" in err, err
    assert peak_mb < 100, peak_mb
    assert sandbox_messages(cli_env["MASGSM_BASE_URL"]) == []


def test_the_message_names_the_row_the_template_line_and_the_limit(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = shipping_pipeline(tmp_path, "limits: {output_chars: 60}")
    result = run_cli(["run", str(pipeline)], cli_env, cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 2, result.output
    assert "customers.csv:3: template " in result.stderr, result.stderr
    assert (
        "shipping.txt.j2 line 2: |center would make a text of 300,000,000 characters, "
        "more than limits.output_chars (60)" in result.stderr
    ), result.stderr
    assert sandbox_messages(cli_env["MASGSM_BASE_URL"]) == []


def test_a_pipeline_may_allow_more_loop_passes(cli_env: dict[str, str], tmp_path: Path) -> None:
    """The same template: refused below the passes it needs, sent at them."""
    write(tmp_path / "customers.csv", CUSTOMERS)
    pipeline_text = """
        name: numbers
        recipients: {csv: customers.csv}
        message: {inline: "{% for i in range(12) %}{{ i }}{% endfor %} {{ name }}"}
        limits: {loop_iterations: LIMIT}
        report: {check: false}
        """
    refused = write(tmp_path / "refused.yaml", pipeline_text.replace("LIMIT", "11"))
    result = run_cli(["run", str(refused)], cli_env, cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert "customers.csv:2: " in result.stderr
    assert "limits.loop_iterations (11)" in result.stderr
    assert sandbox_messages(cli_env["MASGSM_BASE_URL"]) == []
    allowed = write(tmp_path / "allowed.yaml", pipeline_text.replace("LIMIT", "12"))
    result = run_cli(["run", str(allowed)], cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.output
    texts = sorted(m["text"] for m in sandbox_messages(cli_env["MASGSM_BASE_URL"]))
    assert texts == [
        "01234567891011 Ayşe Yılmaz",
        "01234567891011 Mehmet Öztürk",
        "01234567891011 Zeynep Kaya",
    ]


APPRISE_CHILD = textwrap.dedent(
    """
    import logging, sys
    import apprise, masgsm_notify.apprise_plugin  # importing it registers masgsm://
    with apprise.LogCapture(level=logging.DEBUG) as logs:
        apobj = apprise.Apprise()
        assert apobj.add(sys.argv[1])
        ok = apobj.notify(body=sys.argv[2])
    print(bool(ok))
    print(logs.getvalue())
    """
)


@pytest.mark.parametrize("name", ["center", "replace", "nested loops printing"])
def test_a_bomb_in_an_apprise_contacts_body_sends_nothing(
    sandbox: SandboxServer, tmp_path: Path, name: str
) -> None:
    write(tmp_path / "contacts.csv", CUSTOMERS)
    url = (  # a contacts file inside the working directory, as Apprise URLs may name one
        f"masgsm://{SANDBOX_USER}:{SANDBOX_PASSWORD}@MASGSMTEST/"
        f"?contacts=contacts.csv&base={quote(sandbox.base_url, safe='')}"
    )
    body = "Sayın {{ name }}, " + BOMBS[name][0]
    code, out, err, peak_mb = run_measured(["-c", APPRISE_CHILD, url, body], cwd=tmp_path)
    assert code == 0, err
    ok, _, logged = out.partition("\n")
    assert ok == "False", out
    assert "contacts.csv:2: template message line 1: " in logged, logged
    assert BOMBS[name][2] in logged, logged
    assert peak_mb < 100, peak_mb
    assert sandbox.messages() == []
