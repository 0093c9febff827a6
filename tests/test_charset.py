"""Choosing a CSV's encoding on evidence from the whole file (masgsm_notify.charset), and the
CSV source saying which one it used."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from masgsm_notify import charset
from masgsm_notify.charset import choose_encoding, require_decodable
from masgsm_notify.contacts import contact_source
from masgsm_notify.errors import SourceError
from masgsm_notify.sources import CsvSource, SourceContext

TEXT = "ad;telefon;tutar\nAyşe Işık;0532 111 22 01;1.250,50\nÇağrı Öz;0533 111 22 02;733,57\n"
LATER = "Şükrü Ünal;0534 111 22 03;12,5\n"


@pytest.mark.parametrize(
    ("data", "encoding", "evidence"),
    [
        (TEXT.encode(), "utf-8", "valid UTF-8 throughout"),
        (b"ad;telefon\nAyse;05321112201\n", "utf-8", "valid UTF-8 throughout"),
        (b"", "utf-8", "valid UTF-8 throughout"),
        ("\ufeff" + TEXT, "utf-8-sig", "a UTF-8 byte-order mark"),
        (TEXT.encode("cp1254"), "cp1254", "not UTF-8 (byte 0xFE on line 2)"),
        # The whole file is evidence: a cp1254 letter far past the first lines still counts.
        (
            b"ad;telefon\n" + b"Ali;05321112201\n" * 50_000 + "Işık;1\n".encode("cp1254"),
            "cp1254",
            "line 50002",
        ),
        (TEXT.encode("utf-16"), "utf-16", "a UTF-16 byte-order mark"),
        (TEXT.encode("utf-16-le"), "utf-16-le", "without a byte-order mark"),
        (TEXT.encode("utf-16-be"), "utf-16-be", "without a byte-order mark"),
        (TEXT.encode("utf-32"), "utf-32", "a UTF-32 byte-order mark"),
        (b"ad;telefon\nA\x00li;05321112201\n", "utf-8", "valid UTF-8"),  # one NUL is not UTF-16
    ],
)
def test_the_encoding_is_chosen_on_evidence(
    tmp_path: Path, data: bytes | str, encoding: str, evidence: str
) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    detected = choose_encoding(path, "r.csv")
    assert detected.encoding == encoding
    assert evidence in detected.evidence


def test_a_utf8_sequence_past_the_first_chunk_is_found(tmp_path: Path, monkeypatch) -> None:
    """The mixed-file check reads chunk by chunk; a sequence across two chunks still counts."""
    monkeypatch.setattr(charset, "_CHUNK", 16)
    data = "ad;telefon\n".encode("cp1254") + "Işık;1\n".encode("cp1254") + b"xx" + "ş".encode()
    for shift in range(20):  # put the two bytes of "ş" on either side of a chunk boundary
        path = tmp_path / f"{shift}.csv"
        path.write_bytes(b"a" * shift + data)
        with pytest.raises(SourceError, match=r"line 3 holds UTF-8 text \('ş'\)"):
            choose_encoding(path, path.name)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # A UTF-8 file with one line pasted from a cp1254 program.
        (
            TEXT.encode() + LATER.encode("cp1254"),
            rf"^r\.csv:4: the file mixes encodings: byte 0xDE at offset {len(TEXT.encode())} "
            r"is not UTF-8, but line 2 holds UTF-8 text \('ş'\)\. Was a line pasted from "
            r"another program\? Save the file as UTF-8 throughout \(or, if it is "
            r"Windows-1254 throughout, set recipients\.encoding: cp1254\)\.$",
        ),
        # The same, the other way round: the invalid byte comes before the UTF-8 text.
        (
            LATER.encode("cp1254") + TEXT.encode(),
            r"^r\.csv:1: the file mixes encodings: byte 0xDE at offset 0 is not UTF-8, but "
            r"line 3 holds UTF-8 text \('ş'\)",
        ),
        (
            "\ufeffad;telefon\nAli;1\n".encode() + LATER.encode("cp1254"),
            r"^r\.csv:3: the file mixes encodings: byte 0xDE at offset 20 is not UTF-8, but the "
            r"file starts with a UTF-8 byte-order mark",
        ),
        (
            TEXT.encode()[:-5] + b"\xc5",
            r"^r\.csv:3: the file mixes encodings: a character cut short by the end of the file",
        ),
        (
            b"ad;telefon\nAli;1\nVeli\x81;2\n",
            r"^r\.csv:3: neither UTF-8 nor Windows-1254 \(cp1254\) text at offset 21: byte 0x81",
        ),
        (
            TEXT.encode("utf-16") + b"!",
            r"^r\.csv:4: not valid utf-16 text at offset \d+: a character cut short by the end "
            r"of the file, though the file starts with a UTF-16 byte-order mark",
        ),
    ],
)
def test_a_file_no_encoding_fits_names_the_line_and_offset(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError) as excinfo:
        choose_encoding(path, "r.csv")
    assert re.search(expected, str(excinfo.value)), str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_the_offset_is_the_bad_bytes_place_in_the_file(tmp_path: Path) -> None:
    data = TEXT.encode() + LATER.encode("cp1254")
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError, match=r"byte 0xDE at offset (\d+)") as excinfo:
        choose_encoding(path, "r.csv")
    offset = int(re.search(r"offset (\d+)", str(excinfo.value)).group(1))
    assert data[offset] == 0xDE and data[:offset].decode("utf-8") == TEXT


@pytest.mark.parametrize(
    ("data", "encoding", "expected"),
    [
        (TEXT.encode("cp1254"), "cp1254", None),
        (TEXT.encode("cp1254"), "latin-1", None),
        (
            TEXT.encode("cp1254"),
            "utf-8",
            r"r\.csv:2: not valid utf-8 text at offset 19: byte 0xFE \(the encoding "
            r"recipients\.encoding names\)",
        ),
        (TEXT.encode("utf-16-le"), "utf-16", r"r\.csv:1: not valid utf-16 text at offset 0"),
    ],
)
def test_a_named_encoding_is_checked_over_the_whole_file(
    tmp_path: Path, data: bytes, encoding: str, expected: str | None
) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    if expected is None:
        assert require_decodable(path, "r.csv", encoding).encoding == encoding
    else:
        with pytest.raises(SourceError, match=expected):
            require_decodable(path, "r.csv", encoding)


def csv_source(folder: Path, options: dict | None = None) -> CsvSource:
    context = SourceContext(base_dir=folder, input=None, where="p.yaml:2:3")
    return CsvSource("r.csv", options or {}, context)


@pytest.mark.parametrize(
    ("data", "options", "encoding", "evidence"),
    [
        (TEXT.encode("cp1254"), {}, "cp1254", "Windows-1254, the Turkish code page"),
        (TEXT.encode(), {}, "utf-8", "valid UTF-8 throughout"),
        (TEXT.encode("utf-16"), {}, "utf-16", "a UTF-16 byte-order mark"),
        (TEXT.encode("cp1254"), {"encoding": "iso-8859-9"}, "iso-8859-9", "recipients.encoding"),
    ],
)
def test_the_csv_source_says_which_encoding_it_read(
    tmp_path: Path, data: bytes, options: dict, encoding: str, evidence: str
) -> None:
    (tmp_path / "r.csv").write_bytes(data)
    source = csv_source(tmp_path, options)
    assert source.encoding is None  # known once reading starts
    rows = list(source.rows())
    assert source.encoding == encoding
    assert evidence in (source.encoding_evidence or "")
    assert [fields["ad"] for _, fields in rows] == ["Ayşe Işık", "Çağrı Öz"]
    assert [where for where, _ in rows] == ["r.csv:2", "r.csv:3"]


@pytest.mark.parametrize("encoding", ["klingon", "rot13", "hex"])
def test_an_encoding_that_is_not_a_text_codec_is_refused(tmp_path: Path, encoding: str) -> None:
    (tmp_path / "r.csv").write_bytes(TEXT.encode())
    with pytest.raises(SourceError, match=rf"p\.yaml:2:3: unknown encoding '{encoding}'"):
        list(csv_source(tmp_path, {"encoding": encoding}).rows())


def test_a_mixed_file_stops_before_any_row(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_bytes(TEXT.encode() + LATER.encode("cp1254"))
    rows = csv_source(tmp_path).rows()
    with pytest.raises(SourceError, match=r"^r\.csv:4: the file mixes encodings"):
        next(rows)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        (
            "r.jsonl",
            b'{"ad": "Ali"}\n{"ad": "Ay\xfee"}\n',
            r"^r\.jsonl:2: not UTF-8 text: byte 0xFE at offset 24 \(JSON files are UTF-8\)$",
        ),
        ("r.jsonl", b'\xef\xbb\xbf{"ad": "Ay\xfee"}\n', r"^r\.jsonl:1: .* at offset 13 "),
        ("r.json", b'[\n{"ad": "Ali"},\n{"ad": "Ay\xfee"}]', r"^r\.json:3: .* at offset 27 "),
        ("r.json", b'\xef\xbb\xbf[{"ad": "Ay\xfee"}]', r"^r\.json:1: .* at offset 14 "),
    ],
)
def test_json_recipients_that_are_not_utf8_name_the_line_and_offset(
    tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    (tmp_path / name).write_bytes(data)
    offset = int(re.search(r"offset (\d+)", expected).group(1))
    assert data[offset] == 0xFE  # the offset the message gives is the bad byte's
    source = contact_source(tmp_path / name)
    source.shown = name
    with pytest.raises(SourceError, match=expected):
        list(source.rows())


def test_json_lines_with_a_bom_are_read(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_bytes('\ufeff{"ad": "Ayşe"}\n\n{"ad": "Işık"}\n'.encode())
    rows = list(contact_source(tmp_path / "r.jsonl").rows())
    assert [(where.rsplit(":", 1)[1], fields) for where, fields in rows] == [
        ("1", {"ad": "Ayşe"}),
        ("3", {"ad": "Işık"}),
    ]
