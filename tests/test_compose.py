"""Composing rows (masgsm_notify.compose): control characters, line breaks and tabs, and errors
that name the row, the field and the value a filter could not read."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from masgsm_notify import text as sms_text
from masgsm_notify.compose import Composer
from masgsm_notify.errors import RenderError
from masgsm_notify.render import compile_text, load_template, make_environment

ENV = make_environment()


def composer(template: str, env=ENV, plain: bool = False) -> Composer:
    number_of = compile_text(env, "{{ phone }}", "p.yaml:3:11 (number)")
    return Composer(number_of, template_of(template, env), plain=plain)


def template_of(source: str, env=ENV):
    return compile_text(env, source, "p.yaml:5:11 (inline)")


def row(**fields: str) -> tuple[str, dict[str, str]]:
    return "r.csv:3", {"phone": "05321112201", **fields}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("Ayşe", "Sayın Ayşe, borcunuz yok."),
        ("Ayşe\r\nYılmaz", "Sayın Ayşe\nYılmaz, borcunuz yok."),  # Windows line ends
        ("Ayşe\rYılmaz", "Sayın Ayşe\nYılmaz, borcunuz yok."),  # old Mac line ends
        ("Ayşe\n\rYılmaz", "Sayın Ayşe\n\nYılmaz, borcunuz yok."),
        ("Ayşe\tYılmaz", "Sayın Ayşe Yılmaz, borcunuz yok."),
        ("Ayşe\u00a0Yılmaz", "Sayın Ayşe\u00a0Yılmaz, borcunuz yok."),  # not a control character
    ],
)
def test_line_breaks_become_newlines_and_tabs_spaces(name: str, text: str) -> None:
    done = composer("Sayın {{ name }}, borcunuz yok.")([row(name=name)])
    assert done.invalid == []
    assert [m[2] for m in done.messages] == [text]


def test_the_text_is_trimmed_after_tabs_and_line_breaks_are_made_plain() -> None:
    done = composer("\t{{ name }}\r\n")([row(name="Ayşe")])
    assert [m[2] for m in done.messages] == ["Ayşe"]


@pytest.mark.parametrize(
    ("name", "code", "place"),
    [
        ("Ay\x00şe", "U+0000", "at character 9"),
        ("\x00Ayşe", "U+0000", "at character 7"),
        ("Ayşe\x01", "U+0001", "at character 11"),
        ("Ay\x07şe", "U+0007", "at character 9"),  # bell
        ("Ay\x0bşe", "U+000B", "at character 9"),  # vertical tab
        ("Ay\x0cşe", "U+000C", "at character 9"),  # form feed
        ("Ay\x1bşe", "U+001B", "at character 9"),  # escape: GSM's own escape code
        ("Ay\x1fşe", "U+001F", "at character 9"),
        ("Ay\x7fşe", "U+007F", "at character 9"),  # delete
        ("Ay\x80şe", "U+0080", "at character 9"),  # C1, as a cp1252 byte read as Latin-1
        ("Ay\x85şe", "U+0085", "at character 9"),  # next line, which strip() would eat
        ("Ay\x9fşe", "U+009F", "at character 9"),
    ],
)
def test_control_characters_refuse_the_row(name: str, code: str, place: str) -> None:
    done = composer("Sayın {{ name }}, borcunuz yok.")([row(name=name), row(name="Ali")])
    assert done.invalid == [
        (
            "r.csv:3",
            "5321112201",
            f"the text holds the control character {code} {place}; the data has a stray byte "
            "there (a damaged export?)",
        )
    ]
    assert [m[2] for m in done.messages] == ["Sayın Ali, borcunuz yok."]  # the others go on


@pytest.mark.parametrize("name", ["Ali\x00", "Ali\x0c", "Ay\x00şe", "Ali\x1b 😀"])
@pytest.mark.parametrize("plain", [False, True])
def test_every_encoding_and_lang_refuses_control_characters(name: str, plain: bool) -> None:
    """GSM 7-bit, Turkish, UCS-2 and plain texts alike; plain() would have written a "?"."""
    done = composer("{{ name }} bey", plain=plain)([row(name=name)])
    assert done.messages == []
    assert "the text holds the control character" in done.invalid[0][2]


def test_the_alphabets_hold_no_control_character_but_line_feed_return_and_form_feed() -> None:
    """What lets the composer skip the scan for texts that cost as GSM 7-bit or Turkish."""
    alphabets = sms_text.GSM7 | sms_text.TURKISH
    controls = {ch for ch in alphabets if unicodedata.category(ch) == "Cc"}
    assert controls == {"\n", "\r", "\f"}


def test_a_control_character_at_the_start_is_named_so() -> None:
    done = composer("{{ name }}")([row(name="\x00Ayşe")])
    assert done.invalid[0][2].startswith(
        "the text holds the control character U+0000 at character 1;"
    )


def test_a_control_character_in_the_template_itself_is_refused_too() -> None:
    done = composer("Sayın {{ name }}\x1b")([row(name="Ayşe")])
    assert "U+001B at character 11;" in done.invalid[0][2]


# --- Errors that name the field ------------------------------------------------------------------


def render_error(template: str, env=ENV, **fields: object) -> str:
    """The error the row's template failed with (the Composer keeps it and goes on)."""
    done = composer(template, env)([row(**fields)])
    assert len(done.errors) == 1 and isinstance(done.errors[0], RenderError), done
    return str(done.errors[0])


FORMS = "write it like 1.250,50, 1250,50, 1,250.50 or 1250.50, optionally with ₺ or TL"


@pytest.mark.parametrize(
    ("template", "fields", "expected"),
    [
        (
            "{{ ad }}: {{ tutar|money }}",
            {"ad": "Ayşe", "tutar": "12,5x"},
            f"field 'tutar': money: '12,5x' is not a number ({FORMS})",
        ),
        (
            "{{ ad }}: {{ tutar|money }}",
            {"ad": "Ayşe", "tutar": ""},
            "field 'tutar': money: an empty value ('') where a number is needed",
        ),
        (  # two empty cells: the one passed to the filter is named
            "{{ ad }}{{ note }}: {{ tutar|money }}",
            {"ad": "Ayşe", "note": "", "tutar": ""},
            "field 'tutar': money: an empty value",
        ),
        (
            "{{ ad }}{{ note }}: {{ row['Tutar (TL)']|money }}",
            {"ad": "Ayşe", "note": "", "Tutar (TL)": ""},
            "field 'Tutar (TL)': money: an empty value",
        ),
        (  # two empty cells, both passed to money on the line: both are named
            "{{ a|money }} {{ b|money }}",
            {"a": "", "b": ""},
            "one of the fields 'a', 'b': money: an empty value",
        ),
        (
            "{% if gun|int > 0 %}{{ gun }} gün{% endif %}",
            {"gun": "on beş"},
            "field 'gun': int: 'on beş' is not a number",
        ),
        (
            "{{ (tutar|float * 1.2)|money }}",
            {"tutar": "1.250,5x"},
            "field 'tutar': float: '1.250,5x' is not a number",
        ),
        (
            "{{ vade|date('long') }}",
            {"vade": "31.11.2026"},
            "field 'vade': date: '31.11.2026' is not a real date or time",
        ),
        (  # a value the template made itself is held by no field
            "{{ (tutar ~ 'x')|money }}",
            {"tutar": "12"},
            "money: '12x' is not a number",
        ),
    ],
)
def test_an_unreadable_value_names_row_template_line_field_and_value(
    template: str, fields: dict[str, str], expected: str
) -> None:
    message = render_error(template, **fields)
    assert message.startswith(f"r.csv:3: template p.yaml:5:11 (inline) line 1: {expected}")


def test_a_computed_value_names_no_field() -> None:
    assert "field" not in render_error("{{ (tutar ~ 'x')|money }}", tutar="12")


def test_the_failing_line_of_a_template_file_narrows_the_field(tmp_path: Path) -> None:
    (tmp_path / "t.txt.j2").write_text(
        "Sayın {{ ad }}{{ note }},\n{{ no }} numaralı fatura:\n{{ tutar|money }}\n",
        encoding="utf-8",
    )
    env = make_environment([tmp_path])
    done = Composer(compile_text(env, "{{ phone }}", "n"), load_template(env, "t.txt.j2"))
    errors = done([row(ad="Ayşe", no="F-1", note="", tutar="")]).errors
    assert [str(error) for error in errors] == [
        f"r.csv:3: template {tmp_path / 't.txt.j2'} line 3: field 'tutar': money: an empty "
        "value ('') where a number is needed"
    ]


def test_the_when_and_number_templates_name_the_field_too() -> None:
    env = make_environment()
    done = Composer(
        compile_text(env, "{{ phone }}", "p.yaml:3:11 (number)"),
        compile_text(env, "hi", "p.yaml:5:11 (inline)"),
        when=compile_text(env, "{{ gecikme|int > 0 }}", "p.yaml:4:9 (when)"),
    )
    errors = done([row(gecikme="")]).errors
    assert [str(error) for error in errors] == [
        "r.csv:3: template p.yaml:4:9 (when) line 1: field 'gecikme': int: an empty value ('') "
        "where a number is needed"
    ]
