"""The real `MasgsmClient` against the sandbox MASGSM, over real HTTP on 127.0.0.1.

Every V2 type, the GET method, the older apiNo API, every answer code (as JSON and as a bare
number), answers no provider should give, transport faults, and the exact bytes on the wire.
"""

from __future__ import annotations

import logging
import socket
import time
from urllib.parse import quote, quote_plus

import pytest
import requests
from helpers.http import ScriptedServer
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER, sandbox_messages, wait_settled

from masgsm_notify import MasgsmClient
from masgsm_notify.client import PreparedSend
from masgsm_notify.errors import (
    BannedTitleError,
    CredentialsError,
    InsufficientBalanceError,
    InvalidNumberError,
    MasgsmError,
    MissingParameterError,
    NumberFormatError,
    OutcomeUnknownError,
    SafeToRetryError,
    SendError,
    TitleError,
    TransportError,
    UnexpectedAnswerError,
    UsageError,
)
from masgsm_notify.sandbox import FaultPlan, SandboxConfig, SandboxServer

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def make_client(server, password: str = SANDBOX_PASSWORD, **kwargs) -> MasgsmClient:
    kwargs.setdefault("title", "MASGSMTEST")
    return MasgsmClient(SANDBOX_USER, password, base_url=server.base_url, **kwargs)


def post_raw(server, body: str | bytes, path: str = "api_post.php") -> requests.Response:
    """Post a hand-made body to the server, bypassing every check of the client."""
    data = body.encode() if isinstance(body, str) else body
    return requests.post(f"{server.base_url}/{path}", data=data, headers=FORM, timeout=10)


def auth(password: str = SANDBOX_PASSWORD) -> str:
    return f"u={SANDBOX_USER}&p={quote_plus(password)}"


def assert_human(error: MasgsmError, code: int, *words: str) -> None:
    """The message is a sentence a person can act on, names the answer code, no raw JSON."""
    assert error.code == code
    assert error.message[0].isupper() and error.message.rstrip().endswith((".", ")"))
    assert f"answer {code}" in error.message
    assert "{" not in error.message and "Traceback" not in str(error)
    for word in words:
        assert word.lower() in error.message.lower(), (word, error.message)
    assert error.raw is not None and str(code) in error.raw
    assert str(error).startswith(error.message)


# -- V2 type 0 --------------------------------------------------------------------------------


def test_type0_one_number(sandbox: SandboxServer, client: MasgsmClient) -> None:
    result = client.send(["5321111111"], "Merhaba, toplantı yarın.")

    assert (result.code, result.partial) == (1, False)
    assert result.message_id and result.message_id.isdigit()
    assert sandbox.messages() == [
        {
            "id": result.message_id,
            "number": "5321111111",
            "text": "Merhaba, toplantı yarın.",
            "title": "MASGSMTEST",
            "segments": 1,
        }
    ]


def test_type0_many_numbers_in_any_common_form(
    sandbox: SandboxServer, client: MasgsmClient
) -> None:
    result = client.send(
        ["+90 532 111 11 11", "0532-222-22-22", "905323333333", "(532) 444 44 44"],
        "Plain text",
        title="SANDBOX",
    )

    recorded = sandbox.messages()
    assert [m["number"] for m in recorded] == [
        "5321111111",
        "5322222222",
        "5323333333",
        "5324444444",
    ]
    assert {(m["id"], m["text"], m["title"]) for m in recorded} == {
        (result.message_id, "Plain text", "SANDBOX")
    }


def test_type0_lang_keeps_or_transliterates_turkish(
    sandbox: SandboxServer, client: MasgsmClient
) -> None:
    text = "Çağrı: ödemeniz İzmir şubesinde alındı."
    client.send(["5321111111"], text)  # auto: the text needs lang=tr, so the client asks for it
    client.send(["5322222222"], text, lang="plain")

    assert [m["text"] for m in sandbox.messages()] == [
        text,
        "Cagri: odemeniz Izmir subesinde alindi.",
    ]


# -- V2 type 1 --------------------------------------------------------------------------------


def test_type1_text_i_reaches_number_i(sandbox: SandboxServer, client: MasgsmClient) -> None:
    numbers = ["5321111111", "5322222222", "5323333333"]
    texts = ["Sayın Ayşe, borcunuz 10 TL.", "Sayın Ömer, borcunuz 20 TL.", "Dear Jane: 30 TL."]

    result = client.send_personalised(numbers, texts)

    over_http = sandbox_messages(sandbox.base_url)
    assert over_http == sandbox.messages()
    assert [(m["number"], m["text"]) for m in over_http] == list(zip(numbers, texts, strict=True))
    assert {m["id"] for m in over_http} == {result.message_id}


def test_type1_prepare_then_submit(sandbox: SandboxServer, client: MasgsmClient) -> None:
    prepared = client.prepare_personalised(["5321111111", "5322222222"], ["A", "B"])

    assert prepared.count == 2
    assert sandbox.messages() == []  # preparing sends nothing
    client.submit(prepared)
    assert [(m["number"], m["text"]) for m in sandbox.messages()] == [
        ("5321111111", "A"),
        ("5322222222", "B"),
    ]


def test_type1_numbers_and_texts_must_pair_up(sandbox: SandboxServer, client) -> None:
    with pytest.raises(UsageError, match="2 numbers but 1 messages"):
        client.send_personalised(["5321111111", "5322222222"], ["only one"])
    with pytest.raises(UsageError, match="empty"):
        client.send_personalised(["5321111111"], [""])
    assert sandbox.messages() == []


# -- V2 type 2 --------------------------------------------------------------------------------


def test_type2_report_moves_from_pending_to_delivered_and_failed() -> None:
    settle = 0.4
    with SandboxServer(SandboxConfig(settle_ms=int(settle * 1000))) as server:
        client = make_client(server)
        started = time.monotonic()
        result = client.send(["5321111111", "5321111199", "5322222222"], "Rapor testi")

        first = client.report(result.message_id)
        assert (first.delivered, first.failed) == ([], [])
        assert first.pending == ["5321111111", "5321111199", "5322222222"]

        final = wait_settled(client, result.message_id)
        assert time.monotonic() - started >= settle
        assert final.pending == []
        assert final.delivered == ["5321111111", "5322222222"]
        assert final.failed == ["5321111199"]  # numbers ending in 99 fail
        assert '"Iletilen"' in final.raw


def test_type2_report_of_an_unknown_id_is_empty(client: MasgsmClient) -> None:
    report = client.report("424242")
    assert (report.delivered, report.failed, report.pending) == ([], [], [])


# -- V2 type 3 --------------------------------------------------------------------------------


def test_type3_register_then_the_sub_member_logs_in(sandbox: SandboxServer, client) -> None:
    assert client.register("bayi-ali", "Alt-Parola1", "Ali Veli", "ali@example.com", "5325550000")

    with MasgsmClient("bayi-ali", "Alt-Parola1", base_url=sandbox.base_url) as member:
        assert member.balance() == 0

    with pytest.raises(SendError) as refused:  # answer 0: the user name is taken
        client.register("bayi-ali", "Baska-Parola", "Ali Veli", "ali@example.com", "5325550000")
    assert_human(refused.value, 0, "bayi-ali", "register", "taken")


def test_type3_sub_member_cannot_log_in_with_another_password(sandbox: SandboxServer, client):
    client.register("bayi-can", "Dogru-Parola", "Can", "can@example.com", "5325550001")
    wrong = MasgsmClient("bayi-can", "Yanlis-Parola", base_url=sandbox.base_url)
    with pytest.raises(CredentialsError):
        wrong.balance()


# -- V2 type 4 --------------------------------------------------------------------------------


def test_type4_balance_is_debited_by_segments_times_numbers(sandbox, client) -> None:
    assert client.balance() == 1_000_000

    client.send(["5321111111", "5322222222", "5323333333"], "a" * 161)  # GSM 7-bit: 2 segments
    assert client.balance() == 1_000_000 - 2 * 3

    client.send(["5321111111", "5322222222"], "ğ" * 78)  # Turkish shift: 156 septets, 2 segments
    assert client.balance() == 1_000_000 - 6 - 2 * 2

    client.send(["5321111111"], "ğ" * 78, lang="plain")  # "g" * 78: one segment
    assert client.balance() == 1_000_000 - 10 - 1

    assert [m["segments"] for m in sandbox.messages()] == [2, 2, 2, 2, 2, 1]
    assert client.legacy_balance() == client.balance()


# -- V2 GET -----------------------------------------------------------------------------------


def test_get_method_sends_ascii_and_puts_the_password_in_the_url(
    sandbox: SandboxServer, client: MasgsmClient, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[requests.PreparedRequest] = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request))

    with caplog.at_level(logging.WARNING, logger="masgsm_notify"):
        result = client.send_get(["5321111111", "0532 222 22 22"], "Sayın Ömer, şifre değişti")

    assert result.code == 1 and result.message_id
    assert [(m["number"], m["text"]) for m in sandbox.messages()] == [
        ("5321111111", "Sayin Omer, sifre degisti"),
        ("5322222222", "Sayin Omer, sifre degisti"),
    ]
    (request,) = seen
    assert request.method == "GET" and request.body is None
    assert "/MasApiV2/api_get.php?" in request.url
    assert f"u={SANDBOX_USER}&p={SANDBOX_PASSWORD}&" in request.url
    assert "lang" not in request.url
    assert any("password" in r.getMessage() and "URL" in r.getMessage() for r in caplog.records)


def test_get_method_errors_map_like_post(sandbox: SandboxServer) -> None:
    with pytest.raises(BannedTitleError):
        make_client(sandbox).send_get(["5321111111"], "x", title="BANNED")
    with pytest.raises(CredentialsError):
        make_client(sandbox, password="wrong").send_get(["5321111111"], "x")
    assert sandbox.messages() == []


# -- the older apiNo API ----------------------------------------------------------------------


def test_legacy_send_balance_titles_and_report(sandbox: SandboxServer, client) -> None:
    message_id = client.legacy_send(["5321111111", "5321111199"], "Eski API")  # apiNo 1

    assert message_id.isdigit()
    assert [(m["id"], m["number"], m["text"]) for m in sandbox.messages()] == [
        (message_id, "5321111111", "Eski API"),
        (message_id, "5321111199", "Eski API"),
    ]
    assert client.legacy_balance() == 1_000_000 - 2  # apiNo 2
    assert client.titles() == ["MASGSMTEST", "SANDBOX"]  # apiNo 3

    wait_settled(client, message_id)
    entries = client.legacy_report(message_id)  # apiNo 4
    assert {(e.number, e.state) for e in entries} == {
        ("5321111111", "Iletildi"),
        ("5321111199", "Hatali"),
    }
    assert all(e.date for e in entries)


def test_legacy_report_pending_then_settled(sandbox: SandboxServer, client) -> None:
    message_id = client.legacy_send(["5321111111"], "x")
    sandbox.state.config.settle_ms = 60_000  # hold it in Bekleyen, to see the pending state
    assert [e.state for e in client.legacy_report(message_id)] == ["Bekliyor"]
    sandbox.state.config.settle_ms = 0
    assert [e.state for e in client.legacy_report(message_id)] == ["Iletildi"]


def test_legacy_send_personalised(sandbox: SandboxServer, client) -> None:
    message_id = client.legacy_send_personalised(  # apiNo 5
        ["5321111111", "5322222222"], ["Birinci metin", "Ikinci metin"]
    )
    assert message_id.isdigit()
    assert [(m["id"], m["number"], m["text"]) for m in sandbox.messages()] == [
        (message_id, "5321111111", "Birinci metin"),
        (message_id, "5322222222", "Ikinci metin"),
    ]


def test_legacy_errors_are_the_answer_codes(sandbox: SandboxServer, client) -> None:
    wrong = make_client(sandbox, password="wrong")
    # The older API answers errors as a bare code; each call must raise the code's class.
    for call in (
        wrong.titles,
        wrong.legacy_balance,
        lambda: wrong.legacy_report("100001"),
        lambda: wrong.legacy_send(["5321111111"], "x"),
        lambda: wrong.legacy_send_personalised(["5321111111"], ["x"]),
    ):
        with pytest.raises(CredentialsError) as caught:
            call()
        assert caught.value.raw == "401"
    with pytest.raises(BannedTitleError):
        client.legacy_send(["5321111111"], "x", title="BANNED")
    with pytest.raises(TitleError):
        client.legacy_send_personalised(["5321111111"], ["x"], title="NOPE")
    with pytest.raises(UsageError, match="numeric message id"):
        client.legacy_report("abc")
    assert sandbox.messages() == []


# -- every answer code ------------------------------------------------------------------------


def test_code_0_sending_error(sandbox: SandboxServer, client: MasgsmClient) -> None:
    client.register("bayi-x", "Parola-X", "X", "x@example.com", "5325550002")
    with pytest.raises(SendError) as duplicate:
        client.register("bayi-x", "Parola-X", "X", "x@example.com", "5325550002")
    assert duplicate.value.exit_code == 1
    assert_human(duplicate.value, 0, "register")

    member = MasgsmClient("bayi-x", "Parola-X", base_url=sandbox.base_url)
    with pytest.raises(SendError):  # a sub-member is not a reseller
        member.register("bayi-y", "Parola-Y", "Y", "y@example.com", "5325550003")


def test_code_2_insufficient_balance() -> None:
    with SandboxServer(SandboxConfig(balance=0, settle_ms=50)) as server:
        with pytest.raises(InsufficientBalanceError) as caught:
            make_client(server).send(["5321111111"], "x")
        assert_human(caught.value, 2, "balance", "nothing was sent")
        assert "Yetersiz Bakiye" in caught.value.raw
        assert server.messages() == []


def test_code_3_partial_send_records_exactly_the_affordable_numbers() -> None:
    numbers = ["5321111111", "5322222222", "5323333333"]
    with SandboxServer(SandboxConfig(balance=5, settle_ms=0)) as server:
        client = make_client(server)
        result = client.send(numbers, "b" * 200)  # 2 segments each: 5 credits pay for 2 numbers

        assert (result.code, result.partial) == (3, True)
        assert result.message_id
        assert [m["number"] for m in server.messages()] == numbers[:2]
        assert client.balance() == 1
        assert wait_settled(client, result.message_id).delivered == numbers[:2]


def test_code_400_missing_parameter(sandbox: SandboxServer, client: MasgsmClient) -> None:
    fields = "message=x&title={}&numbers=5321111111"
    empty_title = post_raw(sandbox, f"type=0&{auth()}&" + fields.format(""))
    assert empty_title.json()["code"] == 400
    no_password = post_raw(sandbox, f"type=0&u={SANDBOX_USER}&" + fields.format("MASGSMTEST"))
    assert no_password.json()["code"] == 400
    uneven = post_raw(
        sandbox,
        f"type=1&{auth()}&message%5B0%5D=a&title=MASGSMTEST&numbers=5321111111%2C5322222222",
    )
    assert uneven.json() == {"code": 400, "message": "Eksik Parametre"}
    assert sandbox.messages() == []

    with pytest.raises(MissingParameterError) as caught:  # the client's side of answer 400
        client.report("")
    assert_human(caught.value, 400, "missing")
    assert caught.value.exit_code == 2


def test_code_401_wrong_password(sandbox: SandboxServer) -> None:
    wrong = make_client(sandbox, password="wrong")
    for call in (
        lambda: wrong.send(["5321111111"], "x"),
        lambda: wrong.send_personalised(["5321111111"], ["x"]),
        wrong.balance,
        lambda: wrong.report("100001"),
        lambda: wrong.register("uye", "Uye-Parola", "F", "e@x.com", "5321111111"),
    ):
        with pytest.raises(CredentialsError) as caught:
            call()
        assert_human(caught.value, 401, "password", "MASGSM_PASSWORD")
        assert caught.value.exit_code == 2
    assert sandbox.messages() == []


def test_code_402_wrong_title(sandbox: SandboxServer, client: MasgsmClient) -> None:
    with pytest.raises(TitleError) as caught:
        client.send(["5321111111"], "x", title="NOPE")
    assert not isinstance(caught.value, BannedTitleError)
    assert_human(caught.value, 402, "title", "titles")
    assert sandbox.messages() == []


def test_code_403_banned_title(sandbox: SandboxServer, client: MasgsmClient) -> None:
    with pytest.raises(BannedTitleError) as caught:
        client.send_personalised(["5321111111"], ["x"], title="BANNED")
    assert isinstance(caught.value, TitleError)
    assert_human(caught.value, 403, "banned")
    assert sandbox.messages() == []


def test_code_405_bad_number_format(sandbox: SandboxServer, client: MasgsmClient) -> None:
    answer = post_raw(
        sandbox, f"type=0&{auth()}&message=x&title=MASGSMTEST&numbers=5321111111%2C05322222222"
    )
    assert answer.json()["code"] == 405

    # A hand-made body posted through the client: the client's side of answer 405.
    body = f"type=1&{auth()}&message%5B0%5D=x&title=MASGSMTEST&numbers=532111"
    with pytest.raises(NumberFormatError) as caught:
        client.submit(PreparedSend(body.encode(), 1))
    assert_human(caught.value, 405, "5xxxxxxxxx")
    assert sandbox.messages() == []


def test_client_refuses_bad_numbers_before_sending(
    sandbox: SandboxServer, client: MasgsmClient
) -> None:
    requests_sent: list[object] = []
    client.session.hooks["response"].append(lambda r, *a, **k: requests_sent.append(r))
    for bad in ("05321111111x", "2121111111", "+44 7700 900123", "532111"):
        with pytest.raises(InvalidNumberError) as caught:
            client.send(["5321111111", bad], "x")
        assert bad.strip() in caught.value.message
        assert caught.value.exit_code == 2
    with pytest.raises(InvalidNumberError):
        client.send_get([" 12 "], "x")
    with pytest.raises(InvalidNumberError):
        client.legacy_send(["0"], "x")
    assert requests_sent == []
    assert sandbox.messages() == []


def test_bare_codes_raise_the_same_classes() -> None:
    config = SandboxConfig(balance=0, bare_codes=True, settle_ms=0)
    with SandboxServer(config) as server:
        client = make_client(server)
        bad_number = f"type=1&{auth()}&message%5B0%5D=x&title=MASGSMTEST&numbers=1"
        client.register("bayi-z", "Parola-Z", "Z", "z@example.com", "5325550004")
        cases = [
            (
                SendError,
                0,
                lambda: client.register("bayi-z", "Parola-Z2", "Z", "z@x.com", "5325550004"),
            ),
            (InsufficientBalanceError, 2, lambda: client.send(["5321111111"], "x")),
            (MissingParameterError, 400, lambda: client.report("")),
            (CredentialsError, 401, make_client(server, password="wrong").balance),
            (TitleError, 402, lambda: client.send(["5321111111"], "x", title="NOPE")),
            (BannedTitleError, 403, lambda: client.send(["5321111111"], "x", title="BANNED")),
            (NumberFormatError, 405, lambda: client.submit(PreparedSend(bad_number.encode(), 1))),
        ]
        for cls, code, call in cases:
            with pytest.raises(cls) as caught:
                call()
            assert type(caught.value) is cls
            assert (caught.value.code, caught.value.raw) == (code, str(code))
        assert client.balance() == 0  # success answers stay JSON
        assert server.messages() == []


# -- answers no provider should give ----------------------------------------------------------

PAROLA = "Pa55~wørd"


@pytest.mark.parametrize(
    ("answer", "content_type", "shown"),
    [
        (
            b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        ),
        (b"", "text/html", ""),
        (b'{"code":1,"message":"Ba\xc5\x9far', "application/json", '{"code":1,"message":"Başar'),
        (
            # Echoes the password as typed and as encoded, with no charset declared: requests
            # would read it as ISO-8859-1 unless the client insists on UTF-8.
            f"<p>Hatali giris: p={PAROLA} ({quote_plus(PAROLA)})</p>".encode(),
            "text/html",
            "<p>Hatali giris: p=*** (***)</p>",
        ),
        (
            f'{{"error":"bad login {quote(PAROLA, safe="")}"}}'.encode(),
            "application/json",
            '{"error":"bad login ***"}',
        ),
    ],
    ids=["html-error-page", "empty", "truncated-json", "echoes-password", "json-without-code"],
)
def test_malformed_answers_raise_with_the_raw_body_redacted(
    scripted_server: ScriptedServer, answer: bytes, content_type: str, shown: str
) -> None:
    client = MasgsmClient(
        "5320000000", PAROLA, title="MASGSMTEST", base_url=scripted_server.base_url
    )
    calls = (
        lambda: client.send(["5321111111"], "x"),
        client.balance,
        lambda: client.report("1"),
        client.titles,
    )
    for call in calls:
        scripted_server.answer(answer, content_type=content_type)
        with pytest.raises(UnexpectedAnswerError) as caught:
            call()
        error = caught.value
        assert error.raw == shown
        assert error.exit_code == 1
        assert error.message in str(error)
        for text in (str(error), repr(error), error.raw):
            assert "Pa55" not in text and "w%C3%B8rd" not in text
    assert len(scripted_server.requests) == len(calls)


def test_http_error_status_is_a_clear_error(scripted_server: ScriptedServer) -> None:
    client = make_client(scripted_server)
    scripted_server.answer(b"<h1>Not Found</h1>", status=404)
    with pytest.raises(UsageError, match=r"HTTP 404 .*base URL") as caught:
        client.balance()
    assert caught.value.raw == "<h1>Not Found</h1>"


def test_code_as_string_and_unknown_code(scripted_server: ScriptedServer) -> None:
    client = make_client(scripted_server)
    scripted_server.answer(b'{"code":"1","id":"55"}', content_type="application/json")
    assert client.send(["5321111111"], "x").message_id == "55"
    scripted_server.answer(b'{"code":"401"}', content_type="application/json")
    with pytest.raises(CredentialsError):
        client.send(["5321111111"], "x")
    scripted_server.answer(b"999")
    with pytest.raises(UnexpectedAnswerError, match="unknown code 999"):
        client.send(["5321111111"], "x")


# -- transport faults -------------------------------------------------------------------------


def test_fault_503_is_safe_to_retry_and_nothing_is_recorded() -> None:
    with SandboxServer(SandboxConfig(settle_ms=0), faults=FaultPlan(queue=["503"])) as server:
        client = make_client(server)
        assert client.balance() == 1_000_000  # faults hit sends only: the 503 is still queued
        with pytest.raises(SafeToRetryError) as caught:
            client.send(["5321111111"], "x")
        assert caught.value.ambiguous is False
        assert "503" in str(caught.value) and "not processed" in str(caught.value)
        assert server.messages() == []
        assert [(f["fault"], f["recorded"]) for f in server.fault_log] == [("503", False)]
        assert client.send(["5321111111"], "again").code == 1  # the retry goes through


@pytest.mark.parametrize(("fault", "recorded"), [("drop_before", 0), ("drop_after", 1), ("500", 1)])
def test_faults_after_the_request_left_are_outcome_unknown(fault: str, recorded: int) -> None:
    with SandboxServer(SandboxConfig(settle_ms=0), faults=FaultPlan(queue=[fault])) as server:
        client = make_client(server)
        with pytest.raises(OutcomeUnknownError) as caught:
            client.send(["5321111111"], "x")
        assert isinstance(caught.value, TransportError) and caught.value.ambiguous is True
        assert "may or may not" in str(caught.value)
        assert len(server.messages()) == recorded  # drop_after and 500: it did go out
        assert [f["fault"] for f in server.fault_log] == [fault]
        client.send(["5322222222"], "y")  # the same session carries on
        assert len(server.messages()) == recorded + 1


def test_fault_stall_past_the_read_timeout_is_outcome_unknown() -> None:
    plan = FaultPlan(queue=["stall"], stall_ms=5_000)
    with SandboxServer(SandboxConfig(settle_ms=0), faults=plan) as server:
        client = make_client(server, timeout=(2.0, 0.3))
        started = time.monotonic()
        with pytest.raises(OutcomeUnknownError, match="ReadTimeout"):
            client.send(["5321111111"], "x")
        assert 0.3 <= time.monotonic() - started < 2.0
        assert len(server.messages()) == 1


def test_connection_refused_is_safe_to_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = MasgsmClient(
        SANDBOX_USER, SANDBOX_PASSWORD, title="T", base_url=f"http://127.0.0.1:{port}/MasApiV2"
    )
    with pytest.raises(SafeToRetryError, match="nothing was sent") as caught:
        client.send(["5321111111"], "x")
    assert caught.value.ambiguous is False


def test_faults_hit_the_get_method_and_the_older_api_too() -> None:
    plan = FaultPlan(queue=["503", "drop_after"])
    with SandboxServer(SandboxConfig(settle_ms=0), faults=plan) as server:
        client = make_client(server)
        with pytest.raises(SafeToRetryError):
            client.send_get(["5321111111"], "x")
        with pytest.raises(OutcomeUnknownError):
            client.legacy_send(["5321111111"], "x")
        assert [f["path"] for f in server.fault_log] == ["/MasApiV2/api_get.php", "/MasApiV2/"]
        assert len(server.messages()) == 1


def test_latency_option_delays_every_answer() -> None:
    with SandboxServer(SandboxConfig(), latency_ms=150) as server:
        client = make_client(server)
        started = time.monotonic()
        assert client.balance() == 1_000_000
        assert time.monotonic() - started >= 0.15


def test_keep_alive_requests_are_fast(sandbox: SandboxServer, client: MasgsmClient) -> None:
    """50 sequential requests on one connection: well under 50 x 40 ms (the delayed-ACK stall)."""
    client.balance()
    started = time.perf_counter()
    for _ in range(50):
        client.balance()
    elapsed = time.perf_counter() - started
    assert elapsed < 50 * 0.040 / 4, f"50 keep-alive requests took {elapsed:.3f} s"
    pools = client.session.get_adapter(sandbox.base_url).poolmanager.pools
    assert [pools[key].num_connections for key in list(pools.keys())] == [
        1
    ]  # one kept-alive socket


# -- the bytes on the wire --------------------------------------------------------------------

DOCUMENTED_TYPE1 = (
    b"type=1&u=5320000000&p=PAROLA&message%5B0%5D=MESAJ+1&message%5B1%5D=Say%C4%B1n+%C3%96mer"
    b"&title=MASGSMTEST&numbers=5321111111%2C5322222222"
)


def test_type1_wire_bytes_are_phps(scripted_server: ScriptedServer) -> None:
    """The documented bytes, then `&lang=tr`.

    The documented body is PHP's encoding of the sample's fields, which carry no `lang`. "Sayın"
    has ı, which the provider would turn into i without `lang=tr`, so the client (lang "auto")
    appends exactly `&lang=tr`, as the document's own Turkish example does, after the other
    fields. Everything before it is byte-for-byte the documented body.
    """
    client = MasgsmClient(
        "5320000000", "PAROLA", title="MASGSMTEST", base_url=scripted_server.base_url
    )
    numbers, texts = ["5321111111", "5322222222"], ["MESAJ 1", "Sayın Ömer"]

    client.send_personalised(numbers, texts)
    client.send_personalised(numbers, texts, lang="tr")

    expected = DOCUMENTED_TYPE1 + b"&lang=tr"
    assert [r.body for r in scripted_server.requests] == [expected, expected]
    assert client.prepare_personalised(numbers, texts).body == expected
    (request, _) = scripted_server.requests
    assert (request.method, request.path) == ("POST", "/MasApiV2/api_post.php")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Content-Length"] == str(len(expected))


def test_other_bodies_on_the_wire(scripted_server: ScriptedServer) -> None:
    client = MasgsmClient(
        "5320000000", "PA ROLA~", title="MASGSMTEST", base_url=scripted_server.base_url
    )
    auth_bytes = b"u=5320000000&p=PA+ROLA%7E"
    client.send(["5321111111", "5322222222"], "MESAJINIZ")
    client.register("kullanici", "parola 1", "Ad Soyad", "a@b.com", "5321111111")
    scripted_server.answer(b'{"code":1,"message":"Hesap Bakiyesi","balance":"000042"}')
    assert client.balance() == 42
    scripted_server.answer(b'["MASGSMTEST"]')
    assert client.titles() == ["MASGSMTEST"]

    send, register, balance, titles = (r.body for r in scripted_server.requests)
    assert send == (
        b"type=0&" + auth_bytes + b"&message=MESAJINIZ&title=MASGSMTEST"
        b"&numbers=5321111111%2C5322222222"
    )
    assert b"register%5Busername%5D=" in register
    assert register == (
        b"type=3&" + auth_bytes + b"&register%5Busername%5D=kullanici"
        b"&register%5Bpassword%5D=parola+1&register%5Bfullname%5D=Ad+Soyad"
        b"&register%5Bemail%5D=a%40b.com&register%5Bphone%5D=5321111111"
    )
    assert balance == b"type=4&" + auth_bytes
    assert titles == b"apiNo=3&user=5320000000&pass=PA+ROLA%7E"
    assert scripted_server.requests[3].path == "/MasApiV2/"


def _curl_post(sandbox: SandboxServer, body: bytes) -> bytes:
    """POST as PHP's curl does, on a raw socket; return the answer's body.

    curl sends `Expect: 100-continue` for bodies over 1024 bytes and waits for the go-ahead.
    """
    port = int(sandbox.base_url.split(":")[2].split("/")[0])
    expect_100 = len(body) > 1024
    head = (
        f"POST /MasApiV2/api_post.php HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + ("Expect: 100-continue\r\n" if expect_100 else "")
        + "\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(head)
        if expect_100:
            assert conn.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn.sendall(body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += conn.recv(65536)
        headers, _, rest = answer.partition(b"\r\n\r\n")
        length = int(headers.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += conn.recv(65536)
    assert headers.startswith(b"HTTP/1.1 200 ")
    return rest


def test_sandbox_accepts_the_php_sample_clients_request(sandbox: SandboxServer) -> None:
    """Bytes as PHP's `http_build_query` and curl's CURLOPT_POSTFIELDS put them on the wire."""
    body = (
        b"type=1&u=5300000000&p=sandbox&message%5B0%5D=MESAJ+1&message%5B1%5D=Say%C4%B1n+%C3%96mer"
        b"&title=MASGSMTEST&numbers=5321111111%2C5322222222&lang=tr"
    )
    answer = _curl_post(sandbox, body)
    assert b'"code": 1' in answer
    assert [(m["number"], m["text"]) for m in sandbox.messages()] == [
        ("5321111111", "MESAJ 1"),
        ("5322222222", "Sayın Ömer"),
    ]

    long_body = (
        b"type=0&u=5300000000&p=sandbox&message="
        + b"Uzun+mesaj+" * 100
        + b"&title=MASGSMTEST&numbers=5323333333"
    )
    assert len(long_body) > 1024
    answer = _curl_post(sandbox, long_body)  # over 1024 bytes: curl expects 100-continue
    assert b'"code": 1' in answer
    assert sandbox.messages()[-1]["text"] == "Uzun mesaj " * 100


def test_sandbox_accepts_the_documented_get_url(sandbox: SandboxServer) -> None:
    url = (
        f"{sandbox.base_url}/api_get.php?u=5300000000&p=sandbox&title=MASGSMTEST"
        "&message=MESAJ&numbers=5321111111,5322222222"
    )
    assert requests.get(url, timeout=10).json()["code"] == 1
    assert [(m["number"], m["text"]) for m in sandbox.messages()] == [
        ("5321111111", "MESAJ"),
        ("5322222222", "MESAJ"),
    ]


def test_sandbox_reset_endpoint_restores_the_configured_state(
    sandbox: SandboxServer, client: MasgsmClient
) -> None:
    client.send(["5321111111", "5322222222"], "x")
    client.register("bayi-r", "Parola-R", "R", "r@example.com", "5325550005")
    assert client.balance() == 1_000_000 - 2

    root = sandbox.base_url.rsplit("/MasApiV2", 1)[0]
    assert requests.post(f"{root}/_sandbox/reset", timeout=10).json() == {"reset": True}

    assert sandbox_messages(sandbox.base_url) == []
    assert client.balance() == 1_000_000
    with pytest.raises(CredentialsError):  # sub-members are gone too
        MasgsmClient("bayi-r", "Parola-R", base_url=sandbox.base_url).balance()


def test_the_sandbox_reads_any_form_body_as_the_standard_library_does() -> None:
    """The sandbox's fast form reader must agree with `parse_qsl` on every body: escapes,
    `+`, escaped and raw NULs, raw backslashes, broken escapes, invalid UTF-8, raw non-ASCII,
    keys without `=`, empty fields."""
    import random
    from urllib.parse import parse_qsl

    from masgsm_notify.sandbox.server import form_pairs
    from masgsm_notify.wire import php_urlencode

    rng = random.Random(11)
    pieces = ["a", "Z", "0", " ", "+", "~", "&", "=", "ş", "İ", "€", "😀", "%"]
    junk = ["%", "%4", "%zz", "%00", "%C4", "%c4%9f", "%FF", "\\", "\x00", "ğ", "+", "="]

    def field() -> str:
        picks = (rng.choice(["\\", "\x00"] if rng.random() < 0.02 else pieces) for _ in range(6))
        text = "".join(picks)[: rng.randint(0, 6)]
        encoded = rng.choice([php_urlencode, quote_plus, lambda t: quote(t, safe="")])(text)
        if rng.random() < 0.3:
            at = rng.randint(0, len(encoded))
            encoded = encoded[:at] + rng.choice(junk) + encoded[at:]
        return encoded

    for _ in range(3000):
        pairs = []
        for _ in range(rng.randint(0, 5)):
            pairs.append(field() if rng.random() < 0.1 else f"{field()}={field()}")
        body = "&".join(pairs) + rng.choice(["", "&", "&&"])
        assert form_pairs(body) == parse_qsl(body, keep_blank_values=True), body


def test_texts_escaped_beforehand_make_the_same_body(scripted_server: ScriptedServer) -> None:
    """A pipeline escapes its texts while planning: given them (None where not known), the
    client writes the body it would have written itself; with lang plain, where the client
    makes the texts plain first, what was escaped before is not used."""
    from masgsm_notify.wire import php_urlencode

    client = MasgsmClient("5320000000", "PAROLA", title="MASGSMTEST", base_url="http://x.test")
    numbers = ["5321111111", "5322222222", "5323333333", "5324444444"]
    texts = ["MESAJ 1", "Sayın Ömer, 4.141,02 TL ~ %", "€ ve 😀 & = +", "Çağrı\nİyi günler"]
    escaped = [php_urlencode(text) for text in texts]
    some = [escaped[0], None, escaped[2], None]

    for lang in ("auto", "tr"):
        plain = client.prepare_personalised(numbers, texts, lang=lang).body
        assert client.prepare_personalised(numbers, texts, lang=lang, escaped=escaped).body == plain
        assert client.prepare_personalised(numbers, texts, lang=lang, escaped=some).body == plain
    made_plain = client.prepare_personalised(numbers, texts, lang="plain").body
    assert (
        made_plain
        == client.prepare_personalised(numbers, texts, lang="plain", escaped=escaped).body
    )
    assert b"%C3%96" not in made_plain  # the plain texts, not the escaped Turkish ones
