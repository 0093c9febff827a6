"""Contacts files for the Apprise service: the JSON-array reader and `plan_contacts`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from masgsm_notify.contacts import Contact, contact_source, plan_contacts
from masgsm_notify.sources import CsvSource, JsonArraySource, JsonLinesSource, SourceError


def rows_of(path: Path) -> list[tuple[str, dict]]:
    return list(contact_source(path).rows())


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.jsonl", JsonLinesSource),
        ("a.NDJSON", JsonLinesSource),
        ("a.json", JsonArraySource),
        ("a.csv", CsvSource),
        ("a.txt", CsvSource),
    ],
)
def test_the_suffix_chooses_the_reader(tmp_path: Path, name: str, kind: type) -> None:
    (tmp_path / name).write_text("phone\n", encoding="utf-8")
    assert type(contact_source(tmp_path / name)) is kind


def test_json_array_rows_are_located_by_the_line_they_start_on(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        '\ufeff\n[ {"phone": "5321112233"},\n\n  {"phone": 5334445566,\n "name": "x"}\n]\n',
        encoding="utf-8",
    )
    assert rows_of(path) == [
        (f"{path}:2", {"phone": "5321112233"}),
        (f"{path}:4", {"phone": 5334445566, "name": "x"}),
    ]
    (tmp_path / "empty.json").write_text(" [ ] ", encoding="utf-8")
    assert rows_of(tmp_path / "empty.json") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"phone": "1"}', ":1: a .json file must hold one JSON array of objects"),
        ('[\n{"phone": "1"},\n]', ":3: invalid JSON: Expecting value"),
        ('[\n{"phone": "1"}\n{"phone": "2"}]', ":3: invalid JSON: expected ',' or ']'"),
        ('[{"phone": "1"}]\n[]', ":2: invalid JSON: text after the array"),
        ('[\n{"phone": "1"},\n"5321112233"]', ":3: a recipient must be a mapping of fields"),
        ("", ":1: a .json file must hold one JSON array"),
    ],
)
def test_a_broken_json_array_names_the_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError) as raised:
        rows_of(path)
    assert str(raised.value).startswith(f"{path}{expected}")


def test_plan_contacts_merges_repeats_and_keeps_the_first(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    rows = [
        {"tel": "0532 111 22 33", "n": "a"},
        {"tel": "5321112233", "n": "b"},
        {"tel": "+905321112233", "n": "a"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    plan = plan_contacts(path, "tel", "Hi {{ n }}", plain=False, max_segments=6)
    assert plan.problems == []
    assert plan.messages == [
        Contact(f"{path}:1", "5321112233", "Hi a"),
        Contact(f"{path}:2", "5321112233", "Hi b"),
    ]
    assert plan.merged == [(f"{path}:3", f"{path}:1")]


def test_plan_contacts_lists_every_problem_by_row(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "tel,n\n5321112233,\n,b\n0212 555 11 22,c\n5334445566,{{\n5051234567,e\n",
        encoding="utf-8",
    )
    plan = plan_contacts(
        path, "tel", "{{ n }}{{ 'x' * 200 if n == 'e' else '' }}", plain=True, max_segments=1
    )
    assert plan.problems == [  # rows by number, never their content (numbers included)
        f"{path}:2: the message rendered empty.",
        f"{path}:3: no 'tel' field (the number).",
        f"{path}:4: the 'tel' field is not a Turkish mobile number: a landline or service "
        "number (mobiles start with 5).",
        f"{path}:6: the text needs 2 segments, more than the limit (1).",
    ]
    assert plan.messages == []


def test_plan_contacts_reports_the_template_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("tel\n", encoding="utf-8")
    assert plan_contacts(path, "tel", "x", plain=False, max_segments=6).problems == [
        f"{path}: the contacts file has no contacts."
    ]
    broken = plan_contacts(path, "tel", "{% if %}", plain=False, max_segments=6)
    assert len(broken.problems) == 1 and "template syntax error" in broken.problems[0]
    missing = plan_contacts(tmp_path / "gone.csv", "tel", "x", plain=False, max_segments=6)
    assert len(missing.problems) == 1 and "gone.csv" in missing.problems[0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("c.jsonl", ":2: not UTF-8 text: byte 0xFF at offset 24"),
        ("c.json", ":2: not UTF-8 text: byte 0xFF at offset 26"),
    ],
)
def test_a_file_that_is_not_utf8_is_a_problem_not_a_crash(
    tmp_path: Path, name: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(
        b'[{"tel": "5321112233"},\n{"\xff\xfe": 1}]\n'
        if name == "c.json"
        else b'{"tel": "5321112233"}\n{"\xff": 1}\n'
    )
    plan = plan_contacts(path, "tel", "x", plain=False, max_segments=6)
    assert len(plan.problems) == 1 and plan.problems[0].startswith(f"{path}{expected}")
