"""The built-in file (`contrib/apprise/masgsm.py`) and the package's copy of it, and the rules
its single-file form makes it repeat: they must agree with the project's own modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.apprise_upstream import BUILTIN, BUILTIN_TESTS, REPO
from hypothesis import given
from hypothesis import strategies as st

from masgsm_notify import api, apprise_builtin, errors, wire
from masgsm_notify import text as sms_text

RUFF = Path(sys.executable).with_name("ruff")


def test_the_package_holds_the_contrib_file_byte_for_byte() -> None:
    assert Path(apprise_builtin.__file__).read_bytes() == BUILTIN.read_bytes()


def test_the_file_imports_only_the_standard_library_apprise_and_requests() -> None:
    """Absolute imports only: Apprise's relative ones fail in a plugin folder."""
    imported = set()
    for node in ast.walk(ast.parse(BUILTIN.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import on line {node.lineno}"
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    tops = {name.split(".")[0] for name in imported}
    assert tops - sys.stdlib_module_names == {"apprise", "requests"}


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_the_contrib_files_meet_apprises_style(command: list[str]) -> None:
    """contrib/apprise/ruff.toml holds Apprise's settings (79 columns, its rule sets)."""
    done = subprocess.run(
        [str(RUFF), *command, BUILTIN.name, BUILTIN_TESTS.name],
        cwd=BUILTIN.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_its_turkish_and_gsm_rules_agree_with_text_py_on_every_character() -> None:
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        ch = chr(code)
        assert apprise_builtin.needs_lang_tr(ch) is sms_text.wants_lang_tr(ch), hex(code)
        assert apprise_builtin.plain_text(ch) == sms_text.plain(ch), hex(code)
        assert apprise_builtin.ascii_text(ch) == sms_text.ascii_only(ch), hex(code)


@given(st.text(max_size=40))
def test_its_turkish_and_gsm_rules_agree_with_text_py_on_texts(text: str) -> None:
    assert apprise_builtin.needs_lang_tr(text) is sms_text.wants_lang_tr(text)
    assert apprise_builtin.plain_text(text) == sms_text.plain(text)


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=30), max_size=6))
def test_its_form_encoding_is_wire_pys_http_build_query(fields: dict[str, str]) -> None:
    assert apprise_builtin.php_form(fields) == wire.http_build_query(fields)


def test_its_constants_and_answer_codes_are_the_clients() -> None:
    assert apprise_builtin.MASGSM_HTTP_URL == api.DEFAULT_BASE_URL
    assert apprise_builtin.MASGSM_MAX_BATCH == api.MAX_BATCH
    assert apprise_builtin.MASGSM_LANGS == api.LANGS
    assert set(apprise_builtin.MASGSM_ANSWERS) == errors.ERROR_CODES | {1, 3}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"code":1,"message":"OK","id":"123"}', (1, {"code": 1, "message": "OK", "id": "123"})),
        ('{"code":"401"}', (401, {"code": "401"})),
        (" 402\n", (402, {})),
        ("3", (3, {})),
        (b'{"code": 405}', (405, {"code": 405})),
        ("<html>", (None, {})),
        ("", (None, {})),
        ("true", (None, {})),
        ('{"code": "x"}', (None, {})),
        ('{"code": 1e400}', (None, {})),
        ("9" * 30, (int("9" * 30), {})),
    ],
)
def test_answers_are_read_as_the_client_reads_them(body: str | bytes, expected: tuple) -> None:
    assert apprise_builtin.read_answer(body) == expected
    text = body.decode() if isinstance(body, bytes) else body
    try:
        code, _ = wire.answer_code(text)
    except errors.UnexpectedAnswerError:
        code = None
    assert code == expected[0]


def test_the_light_package_import_and_the_registering_one() -> None:
    """`import masgsm_notify` loads no Apprise; `import masgsm_notify.apprise_plugin` registers."""
    script = (
        "import sys, masgsm_notify\n"
        "assert not [m for m in sys.modules if m.startswith('apprise')], 'apprise loaded'\n"
        "import masgsm_notify.cli\n"
        "assert not [m for m in sys.modules if m.startswith('apprise')], 'apprise loaded'\n"
        "import apprise, masgsm_notify.apprise_plugin\n"
        "service = apprise.Apprise.instantiate('masgsm://5300000000:pw@MASGSMTEST/5321112233')\n"
        "print(type(service).__module__, type(service).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "masgsm_notify.apprise_plugin NotifyMasGSM\n"
