"""The masgsm:// Apprise service through Apprise's Python API, against the sandbox over HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import apprise
import pytest
from apprise.manager_plugins import NotificationManager
from helpers.cli import checked_verify

import masgsm_notify
from masgsm_notify.apprise_plugin import NotifyMasGSM
from masgsm_notify.logs import redact
from masgsm_notify.sandbox import FaultPlan, SandboxConfig, SandboxServer

USER = "5300000000"
# URL-special characters and a Turkish letter, so quoting and redaction are both exercised.
PASSWORD = "Gizli:P@ss/w0rd+%~ş"
QUOTED = quote(PASSWORD, safe="")
TRACE = 1  # below DEBUG: Apprise's trace level, where it logs each URL it parses


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """The sandbox with a password that is easy to spot in any output."""
    with SandboxServer(SandboxConfig(settle_ms=50, password=PASSWORD)) as server:
        yield server


@pytest.fixture(autouse=True)
def contacts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Contacts files live in tmp_path, which URLs may name by its absolute path."""
    monkeypatch.setenv("MASGSM_CONTACTS_DIR", str(tmp_path))
    return tmp_path


def masgsm_url(base_url: str, rest: str = "MASGSMTEST/5321112233", password: str = QUOTED) -> str:
    joiner = "&" if "?" in rest else "?"
    return f"masgsm://{USER}:{password}@{rest}{joiner}base={quote(base_url, safe='')}"


def sent(sandbox: SandboxServer) -> list[tuple[str, str, str]]:
    return [(m["number"], m["text"], m["title"]) for m in sandbox.messages()]


def assert_no_password(text: str) -> None:
    assert PASSWORD not in text
    assert redact(text, PASSWORD) == text, "some spelling of the password is in the output"


def notify(url: str, body: str, title: str = "") -> tuple[bool, str]:
    """Add one URL to a fresh Apprise object and notify; return the result and every log line."""
    with apprise.LogCapture(level=TRACE) as logs:
        apobj = apprise.Apprise()
        assert apobj.add(url), logs.getvalue()
        ok = apobj.notify(body=body, title=title)
    output = logs.getvalue()
    assert_no_password(output)
    return ok, output


def refused(url: str) -> str:
    """Assert Apprise refuses the URL; return what it logged."""
    with apprise.LogCapture(level=TRACE) as logs:
        assert not apprise.Apprise().add(url)
    output = logs.getvalue()
    assert_no_password(output)
    return output


def write_contacts(folder: Path, kind: str, rows: list[dict[str, str]]) -> Path:
    if kind == "csv":
        path = folder / "contacts.csv"
        header = list(rows[0])
        lines = [",".join(header)] + [",".join(row[k] for k in header) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        path = folder / "contacts.jsonl"
        path.write_text(
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
        )
    return path


CUSTOMERS = [
    {"phone": "0532 111 22 33", "name": "ayşe yılmaz", "amount": "1250.5"},
    {"phone": "+90 533 444 55 66", "name": "İSMAİL ÖZTÜRK", "amount": "99"},
    {"phone": "5051234567", "name": "çağla şahin", "amount": "0"},
]
TEMPLATE = "Sayın {{ name|tr_title }}, {{ amount|money }} ödemeniz bekleniyor."


def test_import_registers_both_schemas() -> None:
    manager = NotificationManager()
    assert masgsm_notify.apprise_plugin.register()
    assert manager["masgsm"] is NotifyMasGSM
    assert manager["masgsms"] is NotifyMasGSM
    details = [
        entry
        for entry in apprise.Apprise().details()["schemas"]
        if entry["service_name"] == "MASGSM"
    ]
    assert len(details) == 1
    tokens = details[0]["details"]["tokens"]
    assert tokens["password"]["private"] is True
    assert details[0]["details"]["args"]["to"]["alias_of"] == "targets"


def test_plain_send_goes_out_in_batches_with_the_title_joined(sandbox: SandboxServer) -> None:
    url = masgsm_url(
        sandbox.base_url,
        "MASGSMTEST/0532 111 22 33/+905334445566/5051234567/05421112233/5552223344?batch=2",
    )
    apobj = apprise.Apprise()
    assert apobj.add(url)
    assert len(apobj[0]) == 3  # requests: 5 numbers in batches of 2
    with apprise.LogCapture(level=TRACE) as logs:
        assert apobj.notify(body="Disk dolu: /var %97", title="Sunucu uyarısı")
    assert_no_password(logs.getvalue())
    text = "Sunucu uyarısı\r\nDisk dolu: /var %97"
    numbers = ["5321112233", "5334445566", "5051234567", "5421112233", "5552223344"]
    assert sent(sandbox) == [(n, text, "MASGSMTEST") for n in numbers]
    assert sandbox.state.summary()["sends"] == 3
    assert "Sent MASGSM batch 3 of 3 (1 number)" in logs.getvalue()


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("tr", "Sayın Müşterimiz, ödemeniz alındı: çğıİöşü ÇĞÖŞÜ. Teşekkürler!"),
        ("auto", "Sayın Müşterimiz, ödemeniz alındı: çğıİöşü ÇĞÖŞÜ. Teşekkürler!"),
        ("plain", "Sayin Musterimiz, odemeniz alindi: cgiIosu CGOSU. Tesekkurler!"),
    ],
)
def test_turkish_text_by_lang(sandbox: SandboxServer, lang: str, expected: str) -> None:
    body = "Sayın Müşterimiz, ödemeniz alındı: çğıİöşü ÇĞÖŞÜ. Teşekkürler!"
    ok, _ = notify(masgsm_url(sandbox.base_url, f"MASGSMTEST/5321112233?lang={lang}"), body)
    assert ok
    assert sent(sandbox) == [("5321112233", expected, "MASGSMTEST")]


def test_get_method_sends_plain_ascii(sandbox: SandboxServer) -> None:
    ok, _ = notify(masgsm_url(sandbox.base_url, "SANDBOX/5321112233?method=get"), "Işık: açık kapı")
    assert ok
    assert sent(sandbox) == [("5321112233", "Isik: acik kapi", "SANDBOX")]


@pytest.mark.parametrize(("kind", "field"), [("csv", "phone"), ("jsonl", "gsm")])
def test_personalised_send_renders_each_contact(
    sandbox: SandboxServer, tmp_path: Path, kind: str, field: str
) -> None:
    rows = [{field: r["phone"], "name": r["name"], "amount": r["amount"]} for r in CUSTOMERS]
    contacts = write_contacts(tmp_path, kind, rows)
    url = masgsm_url(
        sandbox.base_url,
        f"MASGSMTEST/?contacts={quote(str(contacts), safe='')}&number={field}&batch=2",
    )
    apobj = apprise.Apprise()
    assert apobj.add(url)
    assert len(apobj[0]) == 2
    assert apobj.notify(body=TEMPLATE)
    assert sent(sandbox) == [
        ("5321112233", "Sayın Ayşe Yılmaz, 1.250,50 TL ödemeniz bekleniyor.", "MASGSMTEST"),
        ("5334445566", "Sayın İsmail Öztürk, 99,00 TL ödemeniz bekleniyor.", "MASGSMTEST"),
        ("5051234567", "Sayın Çağla Şahin, 0,00 TL ödemeniz bekleniyor.", "MASGSMTEST"),
    ]
    assert sandbox.state.summary()["sends"] == 2


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        ({"phone": "5421112233", "name": "Ali", "amount": "çok"}, "contacts.csv:3: "),
        ({"phone": "0212 555 11 22", "name": "Ali", "amount": "5"}, "contacts.csv:3: "),
        ({"phone": "", "name": "Ali", "amount": "5"}, "contacts.csv:3: no 'phone' field"),
    ],
)
def test_a_bad_contact_stops_the_whole_send(
    sandbox: SandboxServer, tmp_path: Path, bad_row: dict[str, str], expected: str
) -> None:
    contacts = write_contacts(tmp_path, "csv", [CUSTOMERS[0], bad_row, CUSTOMERS[1]])
    url = masgsm_url(sandbox.base_url, f"MASGSMTEST/?contacts={quote(str(contacts), safe='')}")
    ok, output = notify(url, TEMPLATE)
    assert not ok
    assert sent(sandbox) == []
    assert "personalised send refused, nothing was sent" in output
    assert expected in output


def test_a_template_syntax_error_sends_nothing(sandbox: SandboxServer, tmp_path: Path) -> None:
    contacts = write_contacts(tmp_path, "csv", CUSTOMERS)
    url = masgsm_url(sandbox.base_url, f"MASGSMTEST/?contacts={quote(str(contacts), safe='')}")
    ok, output = notify(url, "Sayın {{ name ")
    assert not ok
    assert sent(sandbox) == []
    assert "template syntax error" in output


def test_wrong_password_fails_readably(sandbox: SandboxServer) -> None:
    ok, output = notify(masgsm_url(sandbox.base_url, password="yanlis-parola"), "Merhaba")
    assert not ok
    assert sent(sandbox) == []
    assert (
        "MASGSM did not send batch 1 of 1 (1 number): answer 401 (wrong user code or password)."
        in output
    )
    assert "yanlis-parola" not in output


def test_partial_send_is_a_failure_that_says_how_many_went() -> None:
    config = SandboxConfig(settle_ms=50, password=PASSWORD, balance=2)
    with SandboxServer(config) as small:
        numbers = "/".join(f"53211122{i:02d}" for i in range(5))
        ok, output = notify(masgsm_url(small.base_url, f"MASGSMTEST/{numbers}"), "Merhaba")
        assert not ok
        assert [m["number"] for m in small.messages()] == ["5321112200", "5321112201"]
    assert "sent only 2 of 5 messages of batch 1 of 1 (5 numbers)" in output
    assert "answer 3" in output


def test_a_refused_batch_stops_the_later_ones() -> None:
    config = SandboxConfig(settle_ms=50, password=PASSWORD, balance=2)
    with SandboxServer(config) as small:
        numbers = "/".join(f"53211122{i:02d}" for i in range(5))
        url = masgsm_url(small.base_url, f"MASGSMTEST/{numbers}?batch=2")
        ok, output = notify(url, "Merhaba")
        assert not ok
        assert small.state.summary()["sends"] == 1
    assert "Sent MASGSM batch 1 of 3 (2 numbers)" in output
    assert (
        "did not send batch 2 of 3 (2 numbers): answer 2 (the balance is too low, nothing was "
        "sent)." in output
    )
    assert "MASGSM stopped: 1 later batch (1 number) was not sent." in output


def test_title_from_the_environment_or_the_title_argument(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASGSM_TITLE", "SANDBOX")
    assert notify(masgsm_url(sandbox.base_url, "/5321112233"), "bir")[0]
    assert notify(masgsm_url(sandbox.base_url, "/5334445566?title=MASGSMTEST"), "iki")[0]
    assert sent(sandbox) == [
        ("5321112233", "bir", "SANDBOX"),
        ("5334445566", "iki", "MASGSMTEST"),
    ]


@pytest.mark.parametrize(
    "rest",
    [
        "MASGSMTEST/5321112233/5334445566?lang=tr&batch=7",
        "MY%20FIRM/5321112233?method=get&lang=plain&rto=12.5",
        "A%26B/5321112233?base=https%3A%2F%2Fproxy.example%2FMasApiV2&retry=2",
    ],
)
def test_privacy_mode_and_round_trip(sandbox: SandboxServer, rest: str) -> None:
    apobj = apprise.Apprise()
    assert apobj.add(masgsm_url(sandbox.base_url, rest))
    service = apobj[0]
    private = service.url(privacy=True)
    assert f"{USER}:****@" in private
    assert_no_password(private)
    full = service.url()
    assert f"{USER}:{QUOTED}@" in full
    again = NotifyMasGSM(**NotifyMasGSM.parse_url(full))
    assert again.url() == full
    assert again.url_identifier == service.url_identifier
    assert (again.title, again.targets, again.lang, again.method, again.batch) == (
        service.title,
        service.targets,
        service.lang,
        service.method,
        service.batch,
    )


def test_round_trip_of_a_secure_personalised_url(tmp_path: Path) -> None:
    contacts = write_contacts(tmp_path, "jsonl", CUSTOMERS)
    url = f"masgsms://{USER}:{QUOTED}@MASGSMTEST/?contacts={quote(str(contacts))}&number=phone"
    service = apprise.Apprise.instantiate(url)
    assert service is not None
    assert service.base_url == "https://masgsm.com.tr/MasApiV2"
    assert len(service) == 1
    full = service.url()
    assert full.startswith("masgsms://") and "base=" not in full
    assert NotifyMasGSM(**NotifyMasGSM.parse_url(full)).url() == full


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        ("MASGSMTEST/12345", "'12345' is not a Turkish mobile number"),
        ("MASGSMTEST/02125551122", "There are no valid MASGSM numbers"),
        ("MASGSMTEST/5321112233?lang=xx", "The MASGSM lang (xx) is invalid"),
        ("MASGSMTEST/5321112233?method=put", "The MASGSM method (put) is invalid"),
        ("MASGSMTEST/5321112233?batch=0", "The MASGSM batch (0) must be between 1 and 990"),
        ("MASGSMTEST/5321112233?batch=5000", "The MASGSM batch (5000) must be between"),
        ("MASGSMTEST/5321112233?batch=many", "The MASGSM batch (many) is not a whole number"),
        ("MASGSMTEST/5321112233?method=get&lang=tr", "lang=tr needs method=post"),
        ("MASGSMTEST/5321112233?title=TOOLONGTITLE1", "title (sender ID) 'TOOLONGTITLE1'"),
        ("/5321112233", "No MASGSM title (sender ID)"),
        ("MASGSMTEST/?contacts=/nonexistent/c.csv", "contacts file (/nonexistent/c.csv)"),
        ("MASGSMTEST/5321112233?base=ftp%3A%2F%2Fx", "The MASGSM base URL (ftp://x) is invalid"),
    ],
)
def test_invalid_urls_are_refused_naming_the_bad_part(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, rest: str, expected: str
) -> None:
    monkeypatch.delenv("MASGSM_TITLE", raising=False)
    url = f"masgsm://{USER}:{QUOTED}@{rest}"
    assert expected in refused(url)


def test_a_url_without_a_password_is_refused() -> None:
    output = refused(f"masgsm://{USER}@MASGSMTEST/5321112233")
    assert "user code and password are both required" in output


def test_numbers_and_contacts_together_are_refused(tmp_path: Path) -> None:
    contacts = write_contacts(tmp_path, "csv", CUSTOMERS)
    output = refused(f"masgsm://{USER}:{QUOTED}@MASGSMTEST/5321112233?contacts={contacts}")
    assert "numbers or a contacts file, not both" in output


def test_invalid_numbers_are_dropped_with_a_warning(sandbox: SandboxServer) -> None:
    url = masgsm_url(sandbox.base_url, "MASGSMTEST/5321112233/0212 555 11 22/5321112233")
    with apprise.LogCapture(level=logging.WARNING) as logs:
        apobj = apprise.Apprise()
        assert apobj.add(url)
    assert apobj[0].targets == ["5321112233"]
    assert "Dropped invalid MASGSM number: '0212 555 11 22'" in logs.getvalue()


def test_client_is_built_from_the_url(sandbox: SandboxServer) -> None:
    service = apprise.Apprise.instantiate(masgsm_url(sandbox.base_url, "SANDBOX/5321112233"))
    with service.client() as masgsm:
        assert (masgsm.user, masgsm.title, masgsm.base_url) == (USER, "SANDBOX", sandbox.base_url)
        assert masgsm.balance() == 1_000_000
    assert PASSWORD not in repr(service.client())


def test_retry_resends_only_what_certainly_did_not_go() -> None:
    """503 means nothing was recorded: Apprise's retry sends that batch again, once."""
    config = SandboxConfig(settle_ms=50, password=PASSWORD)
    with SandboxServer(config, faults=FaultPlan(queue=["503"])) as flaky:
        url = masgsm_url(flaky.base_url, "MASGSMTEST/5321112233/5334445566?batch=1&retry=1&wait=0")
        ok, output = notify(url, "Merhaba")
        assert ok, output
        assert [m["number"] for m in flaky.messages()] == ["5321112233", "5334445566"]
    assert "MASGSM did not send batch 1 of 2 (1 number)" in output


def test_retry_never_resends_a_batch_whose_outcome_is_unknown() -> None:
    """500 after the send was recorded: the batch may have gone, so a retry must not repeat it."""
    config = SandboxConfig(settle_ms=50, password=PASSWORD)
    with SandboxServer(config, faults=FaultPlan(queue=["500"])) as flaky:
        url = masgsm_url(flaky.base_url, "MASGSMTEST/5321112233/5334445566?batch=1&retry=1&wait=0")
        ok, output = notify(url, "Merhaba")
        assert not ok
        assert [m["number"] for m in flaky.messages()] == ["5321112233"]
    assert "batch 1 of 2 (1 number) has an unknown outcome" in output
    assert "batch 1 of 2 (1 number) is not sent again: its outcome was unknown" in output


def test_a_split_template_is_refused(sandbox: SandboxServer, tmp_path: Path) -> None:
    contacts = write_contacts(tmp_path, "csv", CUSTOMERS)
    rest = f"MASGSMTEST/?contacts={quote(str(contacts), safe='')}&overflow=split"
    ok, output = notify(masgsm_url(sandbox.base_url, rest), "{{ name }} " + "x" * 1000)
    assert not ok
    assert sent(sandbox) == []
    assert "split by overflow=split" in output


def test_a_refused_send_lists_ten_problems_and_counts_the_rest(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    rows = [{"phone": f"0212555{i:04d}", "name": "A", "amount": "1"} for i in range(25)]
    contacts = write_contacts(tmp_path, "csv", rows)
    url = masgsm_url(sandbox.base_url, f"MASGSMTEST/?contacts={quote(str(contacts), safe='')}")
    ok, output = notify(url, TEMPLATE)
    assert not ok
    assert sent(sandbox) == []
    assert "contacts.csv:11: the 'phone' field is not a Turkish mobile number" in output
    assert "0212555" not in output  # the rows' content is never shown
    assert "contacts.csv:12:" not in output
    assert "... and 15 more contacts like these." in output


# -- personalised mode plans rows as pipelines do ----------------------------------------------


def contacts_url(sandbox: SandboxServer, contacts: Path, extra: str = "") -> str:
    return masgsm_url(
        sandbox.base_url, f"MASGSMTEST/?contacts={quote(str(contacts), safe='')}{extra}"
    )


def test_repeated_contacts_are_sent_once(sandbox: SandboxServer, tmp_path: Path) -> None:
    retyped = {**CUSTOMERS[0], "phone": "+90 532 111 2233"}  # the same number, typed otherwise
    rows = [CUSTOMERS[0], CUSTOMERS[1], CUSTOMERS[0], retyped]
    contacts = write_contacts(tmp_path, "csv", rows)
    ok, output = notify(contacts_url(sandbox, contacts), TEMPLATE)
    assert ok, output
    assert sent(sandbox) == [
        ("5321112233", "Sayın Ayşe Yılmaz, 1.250,50 TL ödemeniz bekleniyor.", "MASGSMTEST"),
        ("5334445566", "Sayın İsmail Öztürk, 99,00 TL ödemeniz bekleniyor.", "MASGSMTEST"),
    ]
    assert (
        f"MASGSM sends 2 repeated contacts of {contacts} once (same number and text): "
        "line 4 repeats line 2, line 5 repeats line 2." in output
    )


def test_two_texts_to_one_number_go_in_different_requests(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    rows = [
        {"phone": "0532 111 22 33", "name": "ayşe", "amount": "10"},
        {"phone": "5334445566", "name": "ismail", "amount": "20"},
        {"phone": "+905321112233", "name": "ayşe", "amount": "30"},
        {"phone": "5051234567", "name": "çağla", "amount": "40"},
    ]
    contacts = write_contacts(tmp_path, "csv", rows)
    ok, output = notify(contacts_url(sandbox, contacts, "&batch=10"), TEMPLATE)
    assert ok, output
    messages = sandbox.messages()
    assert [(m["number"], m["text"][6:11]) for m in messages] == [
        ("5321112233", "Ayşe,"),
        ("5334445566", "İsmai"),
        ("5051234567", "Çağla"),
        ("5321112233", "Ayşe,"),
    ]
    first, second = (m for m in messages if m["number"] == "5321112233")
    assert "10,00 TL" in first["text"] and "30,00 TL" in second["text"]
    assert first["id"] != second["id"]
    assert len({m["id"] for m in messages}) == 2
    assert "Sent MASGSM batch 1 of 2 (3 numbers)" in output
    assert "Sent MASGSM batch 2 of 2 (1 number)" in output


@pytest.mark.parametrize(("length", "segments"), [(918, 6), (919, 7)])
def test_a_text_longer_than_six_segments_is_refused_naming_the_row(
    sandbox: SandboxServer, tmp_path: Path, length: int, segments: int
) -> None:
    rows = [{"phone": "5321112233", "note": "kisa"}, {"phone": "5334445566", "note": "x" * length}]
    contacts = write_contacts(tmp_path, "csv", rows)
    ok, output = notify(contacts_url(sandbox, contacts), "{{ note }}")
    if segments <= 6:  # text.DEFAULT_MAX_SEGMENTS, the Apprise service's limit too
        assert ok, output
        assert [m["segments"] for m in sandbox.messages()] == [1, 6]
    else:
        assert not ok
        assert sent(sandbox) == []
        assert (
            "contacts.csv:3: the text needs 7 segments, more than the MASGSM limit for one "
            "text (6)." in output
        )


def test_rendered_texts_are_stripped_and_nfc_normalised(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    decomposed = "  Ays\u0327e Yi\u0307lmaz\n"  # s + combining cedilla, i + combining dot
    contacts = write_contacts(tmp_path, "jsonl", [{"phone": "5321112233", "name": decomposed}])
    ok, output = notify(contacts_url(sandbox, contacts, "&lang=tr"), "{{ name }}")
    assert ok, output
    assert sent(sandbox) == [("5321112233", "Ay\u015fe Yi\u0307lmaz", "MASGSMTEST")]
    assert "\u0327" not in sandbox.messages()[0]["text"]


def test_a_json_array_of_contacts(sandbox: SandboxServer, tmp_path: Path) -> None:
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps(CUSTOMERS, ensure_ascii=False, indent=2), encoding="utf-8")
    ok, output = notify(contacts_url(sandbox, path, "&batch=2"), TEMPLATE)
    assert ok, output
    assert [number for number, _text, _title in sent(sandbox)] == [
        "5321112233",
        "5334445566",
        "5051234567",
    ]
    assert sandbox.state.summary()["sends"] == 2


def test_a_bad_row_of_a_json_array_is_named_by_its_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.json"
    rows = [CUSTOMERS[0], {**CUSTOMERS[1], "phone": "0212 555 11 22"}]
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    ok, output = notify(contacts_url(sandbox, path), TEMPLATE)
    assert not ok
    assert sent(sandbox) == []
    assert "contacts.json:7: the 'phone' field is not a Turkish mobile number" in output


def test_json_lines_named_json_are_refused_suggesting_jsonl(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    lines = write_contacts(tmp_path, "jsonl", CUSTOMERS)
    path = lines.rename(tmp_path / "contacts.json")
    ok, output = notify(contacts_url(sandbox, path), TEMPLATE)
    assert not ok
    assert sent(sandbox) == []
    assert (
        "contacts.json:1: a .json file must hold one JSON array of objects ([{...}, {...}]); "
        "for one object a line, name the file .jsonl" in output
    )


def test_a_number_field_named_like_a_spreadsheet_header(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    rows = [{"Telefon No": r["phone"], "name": r["name"], "amount": r["amount"]} for r in CUSTOMERS]
    contacts = write_contacts(tmp_path, "csv", rows)
    service = apprise.Apprise.instantiate(contacts_url(sandbox, contacts, "&number=Telefon%20No"))
    assert service is not None and service.number == "Telefon No"
    assert NotifyMasGSM(**NotifyMasGSM.parse_url(service.url())).number == "Telefon No"
    ok, output = notify(contacts_url(sandbox, contacts, "&number=Telefon%20No"), TEMPLATE)
    assert ok, output
    assert [m["number"] for m in sandbox.messages()] == ["5321112233", "5334445566", "5051234567"]

    ok, output = notify(contacts_url(sandbox, contacts, "&number=Cep%20No"), TEMPLATE)
    assert not ok
    assert "contacts.csv:2: 'Cep No' is undefined" in output
    assert "contacts.csv:4: 'Cep No' is undefined" in output
    assert len(sandbox.messages()) == 3


def test_every_template_error_is_listed_before_anything_is_sent(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    rows = [
        CUSTOMERS[0],
        {**CUSTOMERS[1], "amount": "çok"},
        CUSTOMERS[2],
        {**CUSTOMERS[0], "phone": "5421112233", "amount": "az"},
    ]
    contacts = write_contacts(tmp_path, "csv", rows)
    ok, output = notify(contacts_url(sandbox, contacts), TEMPLATE)
    assert not ok
    assert sent(sandbox) == []
    assert "contacts.csv:3: " in output and "contacts.csv:5: " in output


def test_verify_no_reaches_the_client(sandbox: SandboxServer) -> None:
    checked = apprise.Apprise.instantiate(masgsm_url(sandbox.base_url, "SANDBOX/5321112233"))
    unchecked = apprise.Apprise.instantiate(
        masgsm_url(sandbox.base_url, "SANDBOX/5321112233?verify=no")
    )
    with checked.client() as masgsm:
        assert masgsm.session.verify == checked_verify()
        assert masgsm.timeout == checked.request_timeout
    with unchecked.client() as masgsm:
        assert masgsm.session.verify is False
        assert masgsm.balance() == 1_000_000


def test_a_turkish_excel_export_as_contacts(sandbox: SandboxServer, tmp_path: Path) -> None:
    """The contacts door reads what pipelines read: cp1254, semicolons, 1.250,50, 25.11.2026."""
    contacts = tmp_path / "musteriler.csv"
    contacts.write_bytes(
        "Cep No;Ad;Tutar;Vade\r\n"
        "0532 111 22 33;AYŞE YILMAZ;1.250,50;25.11.2026\r\n"
        "0533 444 55 66;çağrı ışık;733,57 TL;1/12/2026\r\n".encode("cp1254")
    )
    template = "Sayın {{ Ad|tr_title }}, {{ Tutar|money }} borcunuzun vadesi {{ Vade|date }}."
    ok, output = notify(contacts_url(sandbox, contacts, "&number=Cep%20No"), template)
    assert ok, output
    assert sent(sandbox) == [
        (
            "5321112233",
            "Sayın Ayşe Yılmaz, 1.250,50 TL borcunuzun vadesi 25.11.2026.",
            "MASGSMTEST",
        ),
        ("5334445566", "Sayın Çağrı Işık, 733,57 TL borcunuzun vadesi 01.12.2026.", "MASGSMTEST"),
    ]


@pytest.mark.parametrize(
    ("name", "amount", "expected"),
    [
        (
            "A\x00li",
            "5",
            "contacts.csv:3: the text holds the control character U+0000 at character 8",
        ),
        (
            "Ali",
            "",
            "contacts.csv:3: template message line 1: field 'amount': money: a value it cannot "
            "read (not shown: it is the row's)",
        ),
        (
            "Ali",
            "5 lira",
            "contacts.csv:3: template message line 1: field 'amount': money: a value it cannot "
            "read (not shown: it is the row's)",
        ),
    ],
)
def test_a_contact_with_a_control_character_or_an_unreadable_amount_stops_the_send(
    sandbox: SandboxServer, tmp_path: Path, name: str, amount: str, expected: str
) -> None:
    bad = {"phone": "5421112233", "name": name, "amount": amount}
    contacts = write_contacts(tmp_path, "csv", [CUSTOMERS[0], bad, CUSTOMERS[1]])
    ok, output = notify(contacts_url(sandbox, contacts), TEMPLATE)
    assert not ok
    assert sent(sandbox) == []
    assert expected in output
