"""Turkish data as it comes out of Excel and ERPs, through `masgsm-notify run` (a real
subprocess) to the sandbox over HTTP; the texts are read back from its /_sandbox/messages.

The failures (an unreadable amount or date, a garbled file, a control character) are cases of
tests/test_pipeline_errors.py: exit 2, nothing sent, the line named.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import summary_of
from helpers.pipelines import FAST_REPORT, run_pipeline, write
from helpers.sandbox import sandbox_messages

from masgsm_notify.sandbox import SandboxServer

# An overdue-invoice export as Turkish Excel saves "CSV (noktalı virgülle ayrılmış)":
# Windows-1254, semicolons, CRLF line ends, Turkish headers, amounts and dates as Türkiye
# writes them (1.250 is one thousand two hundred fifty; one amount with TL, one slash date,
# one dash date). cp1254 has no ₺, so Excel writes TL.
INVOICES = (
    "Fatura No;Müşteri Adı;Cep Telefonu;Tutar;Son Ödeme Tarihi;Gecikme (gün)\r\n"
    "FTR-2026-0101;AYŞE YILMAZ;0532 555 01 01;1.250,50;25.11.2026;15\r\n"
    "FTR-2026-0102;mehmet öztürk;0533 555 01 02;733,57;30.11.2026;0\r\n"
    "FTR-2026-0103;Çağrı Işık;+90 534 555 01 03;12.345,00 TL;01.11.2026;24\r\n"
    "FTR-2026-0104;şule ığdır;05355550104;1.250;20/11/2026;5\r\n"
    "FTR-2026-0105;İsmail Güneş;0536 555 01 05;99,9;18-11-2026;7\r\n"
)
REMINDER = (
    "Sayın {{ row['Müşteri Adı']|tr_title }}, {{ row['Fatura No'] }} numaralı "
    "{{ row.Tutar|money }} tutarındaki faturanızın son ödeme tarihi "
    "{{ row['Son Ödeme Tarihi']|date('long') }} idi ({{ row['Gecikme (gün)']|int }} gün).\n"
    "{{ vars.firma }}\n"
)


def test_a_turkish_invoice_export_sends_the_exact_texts(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    raw = INVOICES.encode("cp1254")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the point: the bytes Turkish Excel writes, not UTF-8
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "faturalar.csv").write_bytes(raw)
    write(tmp_path / "templates" / "fatura.txt.j2", REMINDER)
    pipeline = write(
        tmp_path / "fatura.yaml",
        """
        name: fatura-hatirlatma
        vars: {firma: ACME Muhasebe}
        recipients:
          csv: data/faturalar.csv
          number: "{{ row['Cep Telefonu'] }}"
          when: "{{ row['Gecikme (gün)']|int > 0 }}"
        message:
          template: fatura.txt.j2
          lang: tr
        """
        + FAST_REPORT,
    )

    result = run_pipeline(pipeline, cli_env, "--json")

    assert result.returncode == 0, result.output
    texts = {m["number"]: m["text"] for m in sandbox_messages(sandbox.base_url)}
    assert texts == {
        "5325550101": "Sayın Ayşe Yılmaz, FTR-2026-0101 numaralı 1.250,50 TL tutarındaki "
        "faturanızın son ödeme tarihi 25 Kasım 2026 idi (15 gün).\nACME Muhasebe",
        "5345550103": "Sayın Çağrı Işık, FTR-2026-0103 numaralı 12.345,00 TL tutarındaki "
        "faturanızın son ödeme tarihi 1 Kasım 2026 idi (24 gün).\nACME Muhasebe",
        "5355550104": "Sayın Şule Iğdır, FTR-2026-0104 numaralı 1.250,00 TL tutarındaki "
        "faturanızın son ödeme tarihi 20 Kasım 2026 idi (5 gün).\nACME Muhasebe",
        "5365550105": "Sayın İsmail Güneş, FTR-2026-0105 numaralı 99,90 TL tutarındaki "
        "faturanızın son ödeme tarihi 18 Kasım 2026 idi (7 gün).\nACME Muhasebe",
    }
    summary = summary_of(result)
    assert (summary["rows"], summary["filtered"]) == (5, 1)  # 0 days overdue: no text
    assert summary["outcomes"]["delivered"] == 4
    read_as = summary["plan"]["source_encoding"]
    assert read_as["encoding"] == "cp1254"
    assert read_as["evidence"].startswith("not UTF-8 (byte 0x"), read_as
    assert "Windows-1254, the Turkish code page" in read_as["evidence"]
    shown = run_pipeline(pipeline, cli_env, "--dry-run", "--run-key", "plan-only")
    assert "  recipients read as cp1254: not UTF-8 (byte 0x" in shown.output, shown.output


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("tr", ["1.250,00 TL", "1,25 TL", "1.250,50 TL", "1.250,50 TL", "733,57 TL"]),
        ("en", ["1,25 TL", "1.250,00 TL", "1.250,50 TL", "1.250,50 TL", "733,57 TL"]),
    ],
)
def test_the_locale_reads_the_ambiguous_amounts(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path, locale: str, expected: list
) -> None:
    write(
        tmp_path / "r.csv",
        "telefon,tutar\n"
        '05321112201,1.250\n05321112202,"1,250"\n05321112203,"1,250.50"\n'
        '05321112204,"1.250,50"\n05321112205,"733,57"\n',
    )
    pipeline = write(
        tmp_path / "p.yaml",
        f"""
        name: locale-{locale}
        locale: {locale}
        recipients:
          csv: r.csv
          number: "{{{{ telefon }}}}"
        message:
          inline: "{{{{ tutar|money }}}}"
        """
        + FAST_REPORT,
    )

    result = run_pipeline(pipeline, cli_env)

    assert result.returncode == 0, result.output
    sent = sorted((m["number"], m["text"]) for m in sandbox_messages(sandbox.base_url))
    assert [text for _, text in sent] == expected


def test_skipped_rows_with_control_characters_and_plain_line_breaks(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """With send.on_invalid: skip, a row whose text holds a control character is skipped and
    named; the others go, their Windows line ends and tabs made plain."""
    (tmp_path / "r.csv").write_bytes(
        b"telefon;ad;notu\r\n"
        b'05321112201;Ay\xc5\x9fe;"Kargo\r\nyolda"\r\n'
        b"05321112202;Al\x00i;-\r\n"
        b'05321112203;Can\tAk;"Teslim\redildi"\r\n'
        b"05321112204;Ece\x1b[1m;-\r\n"
    )
    pipeline = write(
        tmp_path / "p.yaml",
        """
        name: kontrol
        recipients:
          csv: r.csv
          number: "{{ telefon }}"
        message:
          inline: "{{ ad }}: {{ notu }}"
        send:
          on_invalid: skip
        """
        + FAST_REPORT,
    )

    result = run_pipeline(pipeline, cli_env, "--json")

    assert result.returncode == 0, result.output
    texts = {m["number"]: m["text"] for m in sandbox_messages(sandbox.base_url)}
    assert texts == {"5321112201": "Ayşe: Kargo\nyolda", "5321112203": "Can Ak: Teslim\nedildi"}
    summary = summary_of(result)
    assert summary["skipped"] == 2
    assert "2 skipped as invalid" in result.stderr
