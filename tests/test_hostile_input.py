"""Hostile and malformed input, property-based: each input either works, or fails with exit code
2 (a `UsageError`) and a clear one-paragraph message, never a traceback or another exception
type, and never a send.

Most properties run the pipeline in this process (`load_pipeline` + `Runner`) against one sandbox
on 127.0.0.1, with the MASGSM_* environment pointed at it, proxies pointed at a closed local port,
and name lookups of anything but the loopback refused and recorded. A few examples run the real
command in a subprocess. Also here: results CSV cells are defused, and answers a provider should
never give (an HTML page, an empty or cut-off body) are errors with the raw body attached.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, quote, urlencode

import pytest
import yaml
from click.testing import CliRunner
from helpers.cli import CliResult, assert_no_traceback, offline, run_cli
from helpers.http import QuietHandler, serving
from helpers.journal import planned_run, query
from helpers.pipelines import write
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from masgsm_notify import phone
from masgsm_notify.errors import InvalidNumberError, UsageError
from masgsm_notify.logs import redact
from masgsm_notify.pipeline import UI, Runner, RunOptions, Summary, load_pipeline
from masgsm_notify.pipeline.journal import Journal
from masgsm_notify.pipeline.records import Draft
from masgsm_notify.pipeline.results import export_csv
from masgsm_notify.sandbox import SandboxConfig, SandboxServer
from masgsm_notify.service import Service
from masgsm_notify.states import BatchState

SECRET = "Gizli~Şifre-7q"  # the second sandbox's password, distinctive enough to search for
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Signs that a template reached Python itself (module, class or builtins listings).
ESCAPE_MARKS = ("subprocess", "Popen", "<module", "builtins", "os.system", "posix", "_io.")

FEW = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SOME = settings(FEW, max_examples=150)
MANY = settings(FEW, max_examples=400)


# -- the world the properties run in --------------------------------------------------------------


@dataclass
class World:
    sandbox: SandboxServer
    secret_sandbox: SandboxServer  # its password is SECRET
    outside: list[str] = field(default_factory=list)  # hosts something tried to look up

    def sent(self) -> int:
        return len(self.sandbox.messages()) + len(self.secret_sandbox.messages())


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    config = SandboxConfig(settle_ms=0)
    with (
        SandboxServer(config) as sandbox,
        SandboxServer(SandboxConfig(settle_ms=0, password=SECRET)) as secret_sandbox,
    ):
        state = World(sandbox, secret_sandbox)
        real_getaddrinfo = socket.getaddrinfo

        def loopback_only(host, *args, **kwargs):
            if str(host) not in ("127.0.0.1", "localhost", "::1"):
                state.outside.append(str(host))
                raise socket.gaierror(socket.EAI_NONAME, "outside lookups are off in this test")
            return real_getaddrinfo(host, *args, **kwargs)

        environment = offline(
            {
                "MASGSM_USER": SANDBOX_USER,
                "MASGSM_PASSWORD": SANDBOX_PASSWORD,
                "MASGSM_TITLE": "MASGSMTEST",
                "MASGSM_BASE_URL": sandbox.base_url,
            }
        )
        with (
            mock.patch.dict(os.environ, environment),
            mock.patch.object(socket, "getaddrinfo", loopback_only),
        ):
            yield state


@dataclass
class Attempt:
    summary: Summary | None
    error: UsageError | None
    folder: Path


def attempt(world: World, pipeline_text: str, files: dict[str, bytes] | None = None) -> Attempt:
    """Run a pipeline in a fresh folder (and state directory); check the contract whatever the
    outcome."""
    before = world.sent()
    with (
        tempfile.TemporaryDirectory(prefix="hostile-") as name,
        mock.patch.dict(os.environ, {"MASGSM_STATE_DIR": str(Path(name) / "state")}),
    ):
        folder = Path(name)
        for relative, data in (files or {}).items():
            (folder / relative).write_bytes(data)
        path = folder / "p.yaml"
        path.write_text(pipeline_text, encoding="utf-8", errors="surrogatepass")
        try:
            pipeline = load_pipeline(path)
            summary = Runner(pipeline, RunOptions(journal=folder / "j.sqlite"), UI()).run()
        except UsageError as error:
            assert error.exit_code == 2
            assert_clear(str(error))
            assert world.sent() == before, "a failing input sent something"
            outcome = Attempt(None, error, folder)
            _event(f"refused: {type(error).__name__}")
        else:
            assert summary.exit_code in (0, 3), summary
            outcome = Attempt(summary, None, folder)
            _event(f"ran: exit {summary.exit_code}")
        assert world.outside == []
        return outcome


def _event(text: str) -> None:
    """Count outcomes for `--hypothesis-show-statistics` (a no-op outside a property)."""
    with contextlib.suppress(InvalidArgument):
        event(text)


def assert_clear(message: str) -> None:
    """One paragraph a person can read: not empty, no traceback, no blank line inside."""
    assert message.strip(), "an empty error message"
    assert "Traceback" not in message and 'File "' not in message, message
    assert "\n\n" not in message.strip(), message


def dump(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


# -- strategies -----------------------------------------------------------------------------------

# Keys the pipeline knows, so random documents reach deeper validation. `export` and `notify` are
# left out: a random value there would write files or notify outside this test.
KNOWN_KEYS = [
    "name",
    "description",
    "service",
    "run_key",
    "vars",
    "locale",
    "templates",
    "recipients",
    "message",
    "send",
    "report",
    "csv",
    "jsonl",
    "yaml",
    "inline",
    "input",
    "number",
    "when",
    "delimiter",
    "encoding",
    "template",
    "lang",
    "title",
    "batch_size",
    "concurrency",
    "max_segments",
    "on_invalid",
    "retries",
    "durable",
    "check",
    "wait",
    "poll_every",
    "fail_if",
]
ODD_STRINGS = [
    "",
    "0",
    "-1",
    "5000",
    "1e9",
    "10s",
    "0ms",
    "1h30m",
    "10 minutes",
    "nan",
    "skip",
    "tr",
    "plain",
    "{{ x",
    "{{ name }}",
    "{{ phone }}",
    "{% for %}",
    "{{ ''.__class__.__mro__ }}",
    "failed > 0",
    "masgsm://a:b@C/?base=http://127.0.0.1:9/MasApiV2",
    "../../../etc/passwd",
    "/",
    ".",
    "p.yaml",
    "MASGSMTEST",
    "BANNED",
    "\t",
    "=1+1",
    "yes",
    "a\x00b",
    "İıŞşĞğ",
    "😀",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**30),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(ODD_STRINGS),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=10), st.integers(-3, 3))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=10,
)

SKELETON: dict[str, Any] = {
    "name": "hostile",
    "vars": {"shop": "ACME"},
    "recipients": {
        "inline": [
            {"name": "Ayşe", "phone": "05321112201", "amount": 12.5},
            {"name": "Ömer", "phone": "0532 111 22 02", "amount": 7},
        ],
        "number": "{{ phone }}",
    },
    "message": {"inline": "Sayın {{ name }}, {{ amount|money }} borcunuz var.", "lang": "auto"},
    "send": {"batch_size": 10, "concurrency": 2, "max_segments": 3, "retries": 0},
    "report": {"wait": "2s", "poll_every": "250ms"},
}


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated_skeletons(draw: st.DrawFn) -> str:
    """The skeleton with a few values replaced, removed or added."""
    document = json.loads(json.dumps(SKELETON))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(document) if p]))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "remove" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(values)
    return dump(document)


@st.composite
def edited_text(draw: st.DrawFn) -> str:
    """The skeleton's YAML text with characters inserted or removed (broken syntax, tabs...)."""
    text = dump(SKELETON)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(list(":{}[]-&*!|>'\"#%@`\t\n ,?"))) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 5)) :]
    return text


pipeline_texts = st.one_of(
    mutated_skeletons(),
    edited_text(),
    st.dictionaries(keys, values, max_size=6).map(dump),
    st.text(max_size=200),
    st.sampled_from(
        [
            "a: &a [*a]\n",  # an alias inside itself
            "[" * 3000 + "]" * 3000,  # nested too deeply
            "name: \x00\n",
            'name: "\\ud800"\n',  # a lone surrogate
            "name: 2026-13-45\n",
            "name: " + "9" * 5000 + "\n",
            "x: &x [a, a, a, a, a, a, a, a, a, a]\n"
            + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, c in zip("xyzuvw", "yzuvwq", strict=True)
            ),  # a billion laughs
            "!!python/object/apply:os.system [echo pwned]\n",
        ]
    ),
)


# -- pipeline YAML --------------------------------------------------------------------------------


@SOME
@given(text=pipeline_texts)
def test_pipeline_yaml_works_or_fails_cleanly(world: World, text: str) -> None:
    assume("export" not in text and "notify" not in text)
    attempt(world, text)


ONE_ROW = "recipients: {inline: [{phone: '05321112201'}]}\n"
PINNED: dict[str, tuple[str, dict[str, bytes], str]] = {
    # name: (pipeline, files, the error it must give): inputs that once raised something else
    "bad-date": ("name: 2026-13-45\n", {}, r"p\.yaml:1:7: invalid YAML value: month must be"),
    "long-int": ("name: " + "9" * 5000 + "\n", {}, r"p\.yaml:1:7: invalid YAML value: Exceeds"),
    "surrogate-in-yaml": (
        'name: "\\ud800"\n',
        {},
        r"p\.yaml:1:7: invalid YAML value: .*surrogates",
    ),
    "nul-in-templates": (
        'name: x\ntemplates: ["a\\0b"]\n' + ONE_ROW + "message: {inline: hi}\n",
        {},
        r"templates: each entry should be text",
    ),
    "vars-nested-number-name": (
        "name: x\nvars: {a: [{1: b}]}\n" + ONE_ROW + "message: {inline: hi}\n",
        {},
        r"vars: names must be text, not 1",
    ),
    "long-delimiter": (
        "name: x\nrecipients: {csv: r.csv, delimiter: ';;'}\nmessage: {inline: hi}\n",
        {"r.csv": b"phone\n05321112201\n"},
        r"recipients\.delimiter must be one character",
    ),
    "utf16-named-no-bom": (
        "name: x\nrecipients: {csv: r.csv, encoding: utf-16}\nmessage: {inline: hi}\n",
        {"r.csv": "phone\n05321112201\n".encode("utf-16-le")},
        r"r\.csv:1: not valid utf-16 text at offset 0",
    ),
    "surrogate-in-template": (
        "name: x\n" + ONE_ROW + "message: {inline: '{{ \"\\ud800\" }}'}\n",
        {},
        r"a lone surrogate",
    ),
    "surrogate-in-jsonl": (
        "name: x\nrecipients: {jsonl: r.jsonl}\nmessage: {inline: 'Merhaba {{ name }}'}\n",
        {"r.jsonl": b'{"phone": "05321112201", "name": "\\ud800"}\n'},
        r"r\.jsonl:1: the text holds '\\ud800', a lone surrogate",
    ),
    "repeat-template": (
        "name: x\n" + ONE_ROW + "message: {inline: \"{{ 'x' * 10**9 }}\"}\n",
        {},
        r"line 1: '\*' would make a text of 1,000,000,000 characters, "
        r"more than limits\.output_chars \(100,000\)",
    ),
    "percent-template": (
        "name: x\n" + ONE_ROW + "message: {inline: \"{{ '%0999999999d' % 1 }}\"}\n",
        {},
        r"line 1: '%' would make a text of 999,999,999 characters, "
        r"more than limits\.output_chars \(100,000\)",
    ),
    "nested-loops": (
        "name: x\n"
        + ONE_ROW
        + "message: {inline: '"
        + "{% for i in [1] %}" * 25
        + "x"
        + "{% endfor %}" * 25
        + "'}\n",
        {},
        r"the template nests blocks or brackets too deeply",
    ),
    "deep-fail-if": (
        "name: x\n"
        + ONE_ROW
        + "message: {inline: hi}\nreport: {fail_if: '"
        + "(" * 1000
        + "1"
        + ")" * 1000
        + "'}\n",
        {},
        r"report\.fail_if is not a valid expression: the template nests",
    ),
    "power-fail-if": (
        "name: x\n" + ONE_ROW + "message: {inline: hi}\nreport: {fail_if: '10**(10**10) > 0'}\n",
        {},
        r"report\.fail_if failed: '\*\*' would make a number of more than 4096 bits",
    ),
    "source-value-false": (
        "name: x\nrecipients: {inline: false}\nmessage: {inline: hi}\n",
        {},
        r"p\.yaml:2:\d+: expected a list of recipients",
    ),
}


@pytest.mark.parametrize("name", list(PINNED))
def test_inputs_that_once_escaped_now_fail_cleanly(world: World, name: str) -> None:
    import re

    text, files, expected = PINNED[name]
    outcome = attempt(world, text, files)
    assert outcome.error is not None, name
    assert re.search(expected, str(outcome.error)), str(outcome.error)


def test_a_utf16_csv_with_its_bom_is_read(world: World) -> None:
    """Excel's "Unicode Text" export: UTF-16 with a BOM, tab-separated."""
    before = len(world.sandbox.messages())
    data = "ad\ttelefon\nŞükrü Çağlar\t0532 111 22 07\n".encode("utf-16")
    text = (
        "name: x\nrecipients: {csv: r.csv, number: '{{ telefon }}'}\n"
        "message: {inline: 'Sayın {{ ad }}'}\nreport: {wait: 2s, poll_every: 250ms}\n"
    )
    outcome = attempt(world, text, {"r.csv": data})
    assert outcome.summary is not None, outcome.error
    [message] = world.sandbox.messages()[before:]
    assert (message["number"], message["text"]) == ("5321112207", "Sayın Şükrü Çağlar")


# -- CSV recipients -------------------------------------------------------------------------------

VALID_PHONES = ["05321112201", "0532 111 22 02", "+90 533 444 55 66", "5334445599"]
cells = st.one_of(
    st.sampled_from(VALID_PHONES),
    st.text(max_size=12),
    st.text(alphabet="\x00\",;\t|\n\r\ufeff'=şğıİ ", max_size=6),
    st.integers(0, 24).map(
        lambda k: {0: "x" * 1_000_000, 1: "y" * 200_000, 2: "z" * 100_000}.get(k, "Ümit")
    ),  # huge fields now and then: past csv's limit, and under it
)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    columns = draw(
        st.lists(
            st.sampled_from(["phone", "name", "tutar"]) | st.text(max_size=6),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    lines = [columns]
    for _ in range(draw(st.integers(0, 4))):
        width = max(len(columns) + draw(st.integers(-1, 1)), 0)  # missing or extra columns
        lines.append([draw(cells) for _ in range(width)])
    if draw(st.booleans()):
        buffer = _StringWriter()
        csv.writer(buffer, delimiter=delimiter).writerows(lines)
        text = buffer.text
    else:  # written by hand, quotes and all
        text = "".join(
            delimiter.join(line) + draw(st.sampled_from(["\n", "\r\n"])) for line in lines
        )
    encoding = draw(
        st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1254", "latin-1"])
    )
    data = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe"])) + text.encode(
        encoding, errors="replace"
    )
    data += draw(st.binary(max_size=6))
    options = {}
    if draw(st.booleans()):
        options["encoding"] = draw(st.sampled_from(["utf-8", "cp1254", "latin-1", "utf-16", "x"]))
    if draw(st.booleans()):
        options["delimiter"] = draw(st.sampled_from([",", ";", "\t", "||", '"', ""]))
    return data, options


class _StringWriter:
    def __init__(self) -> None:
        self.text = ""

    def write(self, chunk: str) -> None:
        self.text += chunk


@FEW
@given(file=csv_files(), on_invalid=st.sampled_from(["fail", "skip"]))
def test_csv_recipients_work_or_fail_cleanly(
    world: World, file: tuple[bytes, dict[str, str]], on_invalid: str
) -> None:
    data, options = file
    recipients = {"csv": "r.csv", **options}
    text = dump(
        {
            "name": "csv",
            "recipients": recipients,
            "message": {"inline": "Kaydınız {{ row|length }} alanlı."},
            "send": {"on_invalid": on_invalid, "retries": 0},
            "report": {"wait": "2s", "poll_every": "250ms"},
        }
    )
    attempt(world, text, {"r.csv": data})


# -- numbers --------------------------------------------------------------------------------------

number_texts = st.one_of(
    st.text(max_size=20),
    st.text(alphabet="0123456789 +-().\t/\u00a0٠١٢", max_size=16),
    st.builds(
        lambda prefix, body: prefix + body,
        st.sampled_from(["", "0", "+90", "0090", "90", "+1", "+90 ", "(0"]),
        st.text(alphabet="0123456789 -", min_size=8, max_size=12),
    ),
)


@MANY
@given(value=number_texts)
def test_a_number_normalises_or_is_refused_with_a_reason(value: str) -> None:
    try:
        number = phone.normalize(value)
    except InvalidNumberError as error:
        assert error.exit_code == 2 and error.reason
        assert_clear(str(error))
    else:
        assert len(number) == 10 and number.isdigit() and number.isascii()
        assert number.startswith("5")
        assert phone.normalize(number) == number


@FEW
@given(raw=st.lists(number_texts | st.sampled_from(VALID_PHONES), min_size=1, max_size=6))
def test_every_number_is_sent_once_or_listed_as_skipped(world: World, raw: list[str]) -> None:
    before = {(m["number"], m["text"]) for m in world.sandbox.messages()}
    tag = f"{len(before)}-{abs(hash(tuple(raw)))}"  # every example's texts differ
    rows = [{"phone": value, "i": index} for index, value in enumerate(raw)]
    text = dump(
        {
            "name": "numbers",
            "recipients": {"inline": rows},
            "message": {"inline": f"Deneme {tag} {{{{ i }}}}"},
            "send": {"on_invalid": "skip", "retries": 0},
            "report": {"wait": "2s", "poll_every": "250ms"},
        }
    )
    outcome = attempt(world, text)
    assert outcome.summary is not None, outcome.error
    new = {(m["number"], m["text"]) for m in world.sandbox.messages()} - before
    expected = set()
    for index, value in enumerate(raw):
        try:
            expected.add((phone.normalize(value), f"Deneme {tag} {index}"))
        except InvalidNumberError:
            continue
    assert new == expected
    assert outcome.summary.counts.skipped == len(raw) - len(expected)


# -- templates ------------------------------------------------------------------------------------

BASES = [
    "name",
    "phone",
    "row",
    "vars",
    "now",
    "cycler",
    "joiner",
    "namespace",
    "lipsum",
    "range(3)",
    "range(10**9)",
    "''",
    "'ab'",
    "1",
    "10**400",
    "10**(10**10)",
    "'x' * 10**9",
    "[1] * 10**9",
    "'%0999999999d' % 1",
    "self",
    "loop",
    "none",
    "undefined_name",
]
TAILS = [
    ".__class__",
    ".__mro__",
    "[1]",
    ".__subclasses__()",
    ".__init__",
    ".__globals__",
    ".__builtins__",
    ".__dict__",
    ".mro()",
    ".format",
    ".format_map",
    "['os']",
    ".items()",
    ".upper()",
    "|list",
    "|length",
    "|string",
    "|money",
    "|date('long')",
    "|tr_upper",
    "|phone",
    "|int",
    "|attr('__class__')",
    "|map(attribute='__class__')|list",
    "|truncate_sms(20)",
    "|join(',')",
    ".__class__.__base__.__subclasses__()",
    ".gi_frame.f_globals",
]
expressions = st.builds(
    lambda base, tails: base + "".join(tails),
    st.sampled_from(BASES),
    st.lists(st.sampled_from(TAILS), max_size=3),
)
fragments = st.one_of(
    st.text(max_size=12),
    expressions.map(lambda e: "{{ " + e + " }}"),
    expressions.map(lambda e: "{% for i in " + e + " %}{{ i }}{% endfor %}"),
    expressions.map(lambda e: "{% if " + e + " %}evet{% else %}hayır{% endif %}"),
    expressions.map(lambda e: "{% set x = " + e + " %}{{ x }}"),
    st.sampled_from(
        [
            "{{",
            "}}",
            "{%",
            "%}",
            "{% for %}",
            "{% endfor %}",
            "{# yorum",
            "{% raw %}",
            "{% include 'x' %}",
            "{% extends 'base' %}",
            "{% import 'x' as y %}",
            "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
            "{{ '{0.__class__}'.format(name) }}",
            '{{ "\\ud800" }}',
            "{{ " + "(" * 500 + "1" + ")" * 500 + " }}",
            "{% if 1 %}" * 300 + "x" + "{% endif %}" * 300,
        ]
    ),
)


@SOME
@given(parts=st.lists(fragments, min_size=1, max_size=5))
def test_templates_work_or_fail_cleanly_and_never_reach_python(
    world: World, parts: list[str]
) -> None:
    template = "".join(parts)
    before = len(world.sandbox.messages())
    text = dump(
        {
            "name": "templates",
            "recipients": {"inline": [{"name": "Ayşe", "phone": "05321112201"}]},
            "message": {"inline": template},
            "send": {"max_segments": 6, "retries": 0},
            "report": {"wait": "2s", "poll_every": "250ms"},
        }
    )
    attempt(world, text)
    for message in world.sandbox.messages()[before:]:
        assert not any(mark in message["text"] for mark in ESCAPE_MARKS), message["text"]


# -- service URLs ---------------------------------------------------------------------------------

passwords = st.builds(lambda middle: f"Pw{middle}~Zq9", st.text(max_size=8))


@st.composite
def service_urls(draw: st.DrawFn, base: str | None = None) -> tuple[str, str]:
    scheme = draw(st.sampled_from(["masgsm", "masgsms", "MASGSM", "http", "", "masgsm:"]))
    user = draw(st.sampled_from([SANDBOX_USER, "", "5321112233"]) | st.text(max_size=10))
    password = draw(st.sampled_from([SECRET, SANDBOX_PASSWORD]) | passwords)
    shown_password = quote(password, safe="") if draw(st.booleans()) or base else password
    title = draw(
        st.sampled_from(["MASGSMTEST", "SANDBOX", "BANNED", "", "NOPE"]) | st.text(max_size=8)
    )
    targets = draw(
        st.lists(st.sampled_from(["05321112233", "x"]) | st.text(max_size=6), max_size=2)
    )
    params = draw(
        st.dictionaries(
            st.sampled_from(["lang", "method", "batch", "to", "foo"]) | st.text(max_size=4),
            st.sampled_from(["tr", "plain", "auto", "get", "post", "klingon", "0", ""])
            | st.text(max_size=6),
            max_size=3,
        )
    )
    if base is not None:
        params = {k: v for k, v in params.items() if k.lower() not in ("base", "to", "contacts")}
        params["base"] = base
        scheme = draw(st.sampled_from(["masgsm", "MASGSM"]))
        user, title = quote(user, safe=""), quote(title, safe="")
        targets = []
    path = "/".join(quote(t, safe="") if base else t for t in targets)
    return f"{scheme}://{user}:{shown_password}@{title}/{path}?{urlencode(params)}", password


@MANY
@given(url=service_urls())
def test_a_service_url_parses_or_is_refused_without_its_password(url: tuple[str, str]) -> None:
    text, password = url
    try:
        service = Service.from_url(text)
    except UsageError as error:
        assert error.exit_code == 2
        assert_clear(str(error))
        if password not in (SANDBOX_PASSWORD,):
            assert password not in str(error) and redact(str(error), password) == str(error)
    else:
        assert service.user and service.password
        assert password not in service.url(privacy=True)
        assert password not in repr(service)


@FEW
@given(data=st.data())
def test_a_pipeline_service_url_works_or_fails_cleanly(world: World, data: st.DataObject) -> None:
    url, password = data.draw(service_urls(base=world.secret_sandbox.base_url))
    before = len(world.secret_sandbox.messages())
    text = dump(
        {
            "name": "service",
            "service": url,
            "recipients": {"inline": [{"phone": "05321112201"}]},
            "message": {"inline": "Merhaba"},
            "send": {"retries": 0},
            "report": {"wait": "2s", "poll_every": "250ms"},
        }
    )
    outcome = attempt(world, text)
    sent = len(world.secret_sandbox.messages()) - before
    assert sent == (1 if outcome.summary else 0)
    if outcome.error is not None:
        assert password not in str(outcome.error)
    assert not _journal_holds(outcome.folder / "j.sqlite", SECRET)


def _journal_holds(journal: Path, secret: str) -> bool:
    found = []
    for path in journal.parent.glob(journal.name + "*"):
        data = path.read_bytes()
        found += [form for form in _spellings(secret) if form.encode() in data]
    return bool(found)


def _spellings(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote(secret.encode(), safe="").replace("~", "%7E")}
    return forms | {json.dumps(secret)[1:-1]}


# -- the command line, in this process ------------------------------------------------------------


@FEW
@given(
    input_bytes=st.one_of(
        st.binary(max_size=40),
        st.text(max_size=40).map(str.encode),
        st.sampled_from([b'{"alerts": [{"phone": "05321112201"}]}', b"\xef\xbb\xbf[]", b"{"]),
    ),
    variables=st.lists(st.text(max_size=8), max_size=3),
)
def test_the_run_command_exits_0_2_or_3_and_never_raises(
    world: World, input_bytes: bytes, variables: list[str]
) -> None:
    from masgsm_notify.cli import main

    before = world.sent()
    with tempfile.TemporaryDirectory(prefix="hostile-cli-") as name:
        folder = Path(name)
        write(
            folder / "p.yaml",
            """
            name: cli
            recipients: {input: alerts}
            message: {inline: "Uyarı {{ vars|length }}"}
            send: {retries: 0}
            report: {wait: 2s, poll_every: 250ms}
            """,
        )
        (folder / "in.json").write_bytes(input_bytes)
        args = ["run", str(folder / "p.yaml"), "--journal", str(folder / "j.sqlite")]
        args += ["--input", str(folder / "in.json")]
        for variable in variables:
            args += ["--var", variable]
        with mock.patch("masgsm_notify.logs.configure_logging"):
            result = CliRunner().invoke(main, args, catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 2, 3), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert world.sent() == before
        assert "Error:" in result.output
    assert world.outside == []


# -- results CSV ----------------------------------------------------------------------------------

cell_texts = st.one_of(
    st.text(max_size=15),
    st.builds(
        lambda start, rest: start + rest,
        st.sampled_from([*FORMULA_START, " =", "＝", "'", '"', "=HYPERLINK(", "-2+3"]),
        st.text(max_size=10),
    ),
)


@SOME
@given(
    messages=st.lists(st.tuples(cell_texts, cell_texts, cell_texts), min_size=1, max_size=5),
    skipped=st.lists(st.tuples(cell_texts, cell_texts, cell_texts), max_size=3),
)
def test_exported_cells_never_start_a_formula(
    messages: list[tuple[str, str, str]], skipped: list[tuple[str, str, str]]
) -> None:
    """Through `export_csv` over a real journal: row labels, texts, provider message ids and
    skipped values all come from outside, and any of them may start like a formula."""
    with tempfile.TemporaryDirectory(prefix="hostile-export-") as name:
        folder = Path(name)
        with Journal(folder / "j.sqlite") as journal:
            numbers = [f"53211122{i:02d}" for i in range(len(messages))]
            records = planned_run(
                journal,
                [(row, n, text) for n, (row, text, _) in zip(numbers, messages, strict=True)],
                skipped,
            )
            ids = [i for (i,) in journal.db.execute("SELECT id FROM messages ORDER BY id")]
            for message_id, number, (_, text, provider_id) in zip(
                ids, numbers, messages, strict=True
            ):
                batch = records.open_batch(Draft([message_id], [number], [text], [1]))
                records.close_batch(batch, BatchState.SENT, provider_id, 1)
            path = folder / "out" / "results.csv"
            written = export_csv(records, path)
        with path.open(encoding="utf-8-sig", newline="") as file:
            header, *rows = list(csv.reader(file))
    assert written == len(messages) + len(skipped) == len(rows)
    assert header == ["row", "number", "state", "message_id", "segments", "copies", "text"]
    originals = [
        [row, n, "sent", provider_id, "1", "1", text]
        for n, (row, text, provider_id) in zip(numbers, messages, strict=True)
    ] + [[row, value, "skipped", "", "0", "1", reason] for row, value, reason in skipped]
    for got, original in zip(rows, originals, strict=True):
        for cell, value in zip(got, original, strict=True):
            assert not cell.startswith(FORMULA_START), (cell, value)
            assert cell == (("'" + value) if value.startswith(FORMULA_START) else value)


def test_a_real_run_exports_defused_cells(cli_env: dict[str, str], tmp_path: Path) -> None:
    write(
        tmp_path / "people.csv",
        "name,phone\n"
        '"=HYPERLINK(""http://x"",""y"")",05321112201\n'
        "+cmd|' /C calc'!A0,05321112202\n"
        "@SUM(1+1),05321112203\n"
        "-2+3,=1+2\n",
    )
    pipeline = write(
        tmp_path / "p.yaml",
        """
        name: export
        recipients: {csv: people.csv}
        message: {inline: "{{ name }}"}
        send: {on_invalid: skip}
        report: {wait: 5s, poll_every: 250ms, export: out/results.csv}
        """,
    )
    result = run_cli(
        ["run", str(pipeline), "--journal", str(tmp_path / "j.sqlite")], offline(cli_env)
    )
    assert_no_traceback(result)
    assert result.returncode == 0, result.output
    with (tmp_path / "out" / "results.csv").open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))[1:]
    assert [row[6] for row in rows[:3]] == [
        '\'=HYPERLINK("http://x","y")',
        "'+cmd|' /C calc'!A0",
        "'@SUM(1+1)",
    ]
    assert rows[3][1:3] == ["'=1+2", "skipped"]  # the invalid number, listed as skipped
    assert all(not cell.startswith(FORMULA_START) for row in rows for cell in row)


# -- a few hostile inputs through the real command ------------------------------------------------

SUBPROCESS_CASES: dict[str, tuple[dict[str, bytes], str]] = {
    "recursive-alias": ({"p.yaml": b"name: &a [*a]\n"}, r"an alias refers to a value that"),
    "billion-laughs": (
        {
            "p.yaml": (
                "x: &x [a, a, a, a, a, a, a, a, a, a]\n"
                + "".join(
                    f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
                    for p, c in zip("xyzuvw", "yzuvwq", strict=True)
                )
            ).encode()
        },
        "aliases repeat values more than",
    ),
    "nul-in-yaml": ({"p.yaml": b"name: a\x00\n"}, "#x0000 is not allowed"),
    "huge-csv-field": (
        {
            "p.yaml": b"name: x\nrecipients: {csv: r.csv}\nmessage: {inline: '{{ name }}'}\n",
            "r.csv": b"phone,name\n05321112201," + b"x" * 1_000_000 + b"\n",
        },
        r"r\.csv:2: unreadable CSV: field larger than field limit",
    ),
    "utf16-without-bom": (
        {
            "p.yaml": b"name: x\nrecipients: {csv: r.csv, encoding: utf-16}\n"
            b"message: {inline: hi}\n",
            "r.csv": "phone\n05321112201\n".encode("utf-16-le"),
        },
        "not valid utf-16 text",
    ),
    "power-template": (
        {
            "p.yaml": b"name: x\nrecipients: {inline: [{phone: '05321112201'}]}\n"
            b"message: {inline: '{{ 10**(10**10) }}'}\n"
        },
        r"line 1: '\*\*' would make a number of more than 4096 bits",
    ),
    "escape-template": (
        {
            "p.yaml": b"name: x\nrecipients: {inline: [{phone: '05321112201'}]}\n"
            b"message: {inline: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"}\n"
        },
        "the template tried to reach Python internals",
    ),
    "deep-template": (
        {
            "p.yaml": b"name: x\nrecipients: {inline: [{phone: '05321112201'}]}\n"
            b"message: {inline: '{{ " + b"(" * 3000 + b"1" + b")" * 3000 + b" }}'}\n"
        },
        "nests blocks or brackets too deeply",
    ),
    "vars-number-names": (
        {"p.yaml": b"name: x\nvars: {1: a}\nrecipients: {inline: []}\nmessage: {inline: hi}\n"},
        "vars: names must be text",
    ),
}


def test_hostile_inputs_through_the_real_command(cli_env: dict[str, str], tmp_path: Path) -> None:
    import re

    from helpers.sandbox import sandbox_messages

    def one(name: str) -> tuple[str, CliResult]:
        files, _ = SUBPROCESS_CASES[name]
        folder = tmp_path / name
        folder.mkdir()
        for relative, data in files.items():
            (folder / relative).write_bytes(data)
        args = ["run", str(folder / "p.yaml"), "--journal", str(folder / "j.sqlite")]
        return name, run_cli(args, offline(cli_env), cwd=folder)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(pool.map(one, SUBPROCESS_CASES))
    for name, result in results.items():
        assert_no_traceback(result)
        assert result.returncode == 2, (name, result.output)
        assert result.stderr.startswith("Error: "), (name, result.stderr)
        assert_clear(result.stderr)
        assert re.search(SUBPROCESS_CASES[name][1], result.stderr), (name, result.stderr)
    assert sandbox_messages(cli_env["MASGSM_BASE_URL"]) == []


# -- malformed provider answers ------------------------------------------------------------------

MALFORMED = {
    "html": b"<html><body><h1>502 Bad Gateway</h1><p>p="
    + quote(SECRET).encode()
    + b" "
    + SECRET.encode()
    + b"</p></body></html>",
    "empty": b"",
    "truncated": b'{"code":1,"id":"12345',
}


@dataclass
class BadProvider:
    """Answers balance and titles well, and every send with `body`; counts the sends."""

    body: bytes
    sends: list[bytes] = field(default_factory=list)
    port: int = 0


@pytest.fixture
def bad_provider() -> Iterator[Callable[[bytes], BadProvider]]:
    with contextlib.ExitStack() as servers:

        def start(body: bytes) -> BadProvider:
            provider = BadProvider(body)

            class Handler(QuietHandler):
                def do_POST(self) -> None:
                    data = self.body()
                    fields = parse_qs(data.decode())
                    kind, api = fields.get("type", [""])[0], fields.get("apiNo", [""])[0]
                    if kind == "4":
                        answer = b'{"code":1,"balance":"1000"}'
                    elif api == "3":
                        answer = b'[{"baslik":"MASGSMTEST"}]'
                    else:
                        provider.sends.append(data)
                        answer = provider.body
                    self.reply(200, answer)

            provider.port = servers.enter_context(serving(Handler))
            return provider

        yield start


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_a_malformed_answer_to_a_send_is_unknown_with_the_raw_body_and_never_resent(
    kind: str, bad_provider, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The provider may have recorded a send it answered badly (a cut-off `{"code":1,...` surely
    did), so the batch is unknown, like a lost answer: never sent again by a re-run."""
    provider = bad_provider(MALFORMED[kind])
    env = offline(
        {
            **cli_env,
            "MASGSM_PASSWORD": SECRET,
            "MASGSM_BASE_URL": f"http://127.0.0.1:{provider.port}/MasApiV2",
        }
    )
    pipeline = write(
        tmp_path / "p.yaml",
        """
        name: bad-answers
        recipients: {inline: [{phone: "05321112201"}, {phone: "05321112202"}]}
        message: {inline: "Merhaba"}
        report: {wait: 1s, poll_every: 250ms}
        """,
    )
    journal = tmp_path / "j.sqlite"
    args = ["run", str(pipeline), "--journal", str(journal), "--json"]
    first = run_cli(args, env)
    again = run_cli(args, env)

    for result in (first, again):
        assert_no_traceback(result)
        assert result.returncode == 3, result.output  # unknown recipients: the default fail_if
        assert SECRET not in result.output and quote(SECRET) not in result.output
    assert json.loads(first.stdout)["outcomes"]["unknown"] == 2
    assert len(provider.sends) == 1  # the re-run did not send the unknown batch again
    [(state, error)] = query(journal, "SELECT state, error FROM batches")
    assert state == "unknown"
    shown = MALFORMED[kind].decode()
    shown = shown.replace(quote(SECRET), "***").replace(SECRET, "***")
    assert f"Raw answer: {shown!r}" in error
    assert not _journal_holds(journal, SECRET)


def test_a_malformed_answer_is_shown_to_the_user(
    bad_provider, cli_env: dict[str, str], tmp_path: Path
) -> None:
    provider = bad_provider(MALFORMED["html"])
    env = {**cli_env, "MASGSM_BASE_URL": f"http://127.0.0.1:{provider.port}/MasApiV2"}
    pipeline = write(
        tmp_path / "p.yaml",
        """
        name: bad-answers
        recipients: {inline: [{phone: "05321112201"}]}
        message: {inline: "Merhaba"}
        report: {wait: 1s, poll_every: 250ms}
        """,
    )
    result = run_cli(["run", str(pipeline), "--journal", str(tmp_path / "j.sqlite")], env)
    assert "502 Bad Gateway" in result.output, result.output


def test_the_world_fixture_refuses_outside_lookups(world: World) -> None:
    """A guard for every property above: a lookup outside the loopback is refused and noted."""
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("masgsm.com.tr", 80)
    assert world.outside == ["masgsm.com.tr"]
    world.outside.clear()
    assert os.environ["MASGSM_BASE_URL"] == world.sandbox.base_url
