"""The password never shows: not in output, logs at debug level, log files, reprs or errors."""

from __future__ import annotations

import json
import logging
import socket
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from conftest import SANDBOX_USER, ScriptedServer, run_cli

from masgsm_notify import MasgsmClient, logs
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
    UnexpectedAnswerError,
    UsageError,
)
from masgsm_notify.sandbox import FaultPlan, SandboxConfig, SandboxServer

SECRET = "S3cr3t-Pa55~wørd"  # the account's password
WRONG = "Wr0ng-S3cr3t~Şifre"  # a wrong password, known to the test so it can look for it
MEMBER = "Uye-S3cr3t~parolası"  # a sub-member's password, given to `register` on stdin
SECRETS = (SECRET, WRONG, MEMBER)


@pytest.fixture(autouse=True)
def only_these_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget secrets that other tests' clients registered process-wide (short ones like "p"
    would scrub parts of the log lines these tests look for)."""
    monkeypatch.setattr(logs, "_SECRETS", set())


def spellings(secret: str) -> set[str]:
    """Every way the secret could be written out: as is, URL- and form-encoded, JSON-escaped,
    mis-decoded as Latin-1, and its distinctive ASCII stem (which all of these contain)."""
    encoded = {quote_plus(secret, safe=""), quote(secret, safe="")}
    encoded |= {form.replace("~", "%7E") for form in encoded}
    encoded |= {form.lower() for form in encoded}
    return {
        secret,
        *encoded,
        json.dumps(secret)[1:-1],
        secret.encode().decode("latin-1"),
        secret.split("~")[0],
    }


def leaks(text: str) -> list[str]:
    return sorted(form for secret in SECRETS for form in spellings(secret) if form in text)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_cli_command_shows_a_password(
    cli_env: dict[str, str], scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    config = SandboxConfig(password=SECRET, settle_ms=0)
    plan = FaultPlan(rates={"500": 1.0})
    with SandboxServer(config) as server, SandboxServer(config, faults=plan) as faulty:
        sent = MasgsmClient(SANDBOX_USER, SECRET, base_url=server.base_url).send(
            ["5321112233"], "x", title="MASGSMTEST"
        )
        env = {**cli_env, "MASGSM_PASSWORD": SECRET, "MASGSM_BASE_URL": server.base_url}
        wrong = {**env, "MASGSM_PASSWORD": WRONG}
        no_password = {k: v for k, v in env.items() if k != "MASGSM_PASSWORD"}
        # Answers that echo what they were sent: the request body and the password itself.
        scripted_server.default = (
            200,
            "text/html",
            lambda body: b"<pre>" + body + b" " + SECRET.encode() + b"</pre>",
        )
        echo = {**env, "MASGSM_BASE_URL": scripted_server.base_url}
        refused = {**env, "MASGSM_BASE_URL": f"http://127.0.0.1:{closed_port()}/MasApiV2"}
        failing = {**env, "MASGSM_BASE_URL": faulty.base_url}

        send = ["send", "--to", "5321112233,5322223344", "-m", "Sayın Ömer, şifreniz değişti"]
        get = [*send, "--method", "get"]
        register = ["register", "--fullname", "Ali", "--email", "a@example.com", "--phone"]
        commands = [  # (arguments, environment, standard input, expected exit code)
            (send, env, None, 0),
            (get, env, None, 0),
            (["balance", "--password", SECRET], no_password, None, 0),
            (["report", sent.message_id, "--json"], env, None, 0),
            (["titles"], env, None, 0),
            ([*register, "5325550000", "--username", "bayi-{mode}"], env, MEMBER + "\n", 0),
            ([*send, "--title", "BANNED"], env, None, 2),
            (send, wrong, None, 2),
            (get, wrong, None, 2),
            (["balance", "--password", WRONG], no_password, None, 2),
            (["titles"], wrong, None, 2),
            ([*register, "5325550001", "--username", "bayi-x"], wrong, MEMBER + "\n", 2),
            (["balance"], echo, None, 1),  # the answer echoes the request and the password
            (get, refused, None, 1),  # the error names the URL, which holds the password
            (get, failing, None, 1),
        ]
        jobs = []
        for mode in ("stderr", "file"):
            for number, (args, environment, stdin, expected) in enumerate(commands):
                log_file = tmp_path / f"{mode}-{number}.log"
                logging_options = (
                    ["-vv", "--log-file", str(log_file)] if mode == "file" else ["-vv"]
                )
                args = [arg.format(mode=mode) for arg in args]
                jobs.append(
                    (mode, log_file, [*logging_options, *args], environment, stdin, expected)
                )

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda job: run_cli(job[2], job[3], input=job[4]), jobs))

    for (mode, log_file, args, _, _, expected), result in zip(jobs, results, strict=True):
        logged = log_file.read_text(encoding="utf-8") if mode == "file" else result.stderr
        assert result.returncode == expected, (args, result.output)
        assert "DEBUG" in logged, (args, logged)  # debug logging really was on
        if mode == "file":
            assert "DEBUG" not in result.stderr
        for where, text in (("stdout", result.stdout), ("stderr", result.stderr), ("log", logged)):
            assert leaks(text) == [], (args, where, text)

    first_send, first_get = results[0], results[1]
    assert "p=***" in first_send.stderr and "api_post.php" in first_send.stderr
    assert "p=***" in first_get.stderr and "api_get.php" in first_get.stderr
    register_log = results[5].stderr
    assert "register%5Bpassword%5D=***" in register_log


def test_repr_of_client_and_prepared_send() -> None:
    client = MasgsmClient(SANDBOX_USER, SECRET, title="MASGSMTEST", base_url="http://127.0.0.1:9")
    prepared = client.prepare_personalised(["5321112233"], ["x"])

    assert b"&p=S3cr3t-Pa55%7Ew%C3%B8rd&" in prepared.body  # the body holds the password
    for text in (repr(client), str(client), repr(prepared)):
        assert leaks(text) == [], text
    assert repr(client).startswith("MasgsmClient(user='5300000000'")


def _errors(sandbox: SandboxServer, faulty: SandboxServer, echo: ScriptedServer):
    """Every kind of error the client raises, provoked with a secret in play."""
    good = MasgsmClient(SANDBOX_USER, SECRET, title="MASGSMTEST", base_url=sandbox.base_url)
    wrong = MasgsmClient(SANDBOX_USER, WRONG, title="MASGSMTEST", base_url=sandbox.base_url)
    faults = MasgsmClient(SANDBOX_USER, SECRET, title="MASGSMTEST", base_url=faulty.base_url)
    nowhere = f"http://127.0.0.1:{closed_port()}/MasApiV2"
    refused = MasgsmClient(SANDBOX_USER, SECRET, title="MASGSMTEST", base_url=nowhere)
    echoes = MasgsmClient(SANDBOX_USER, SECRET, title="MASGSMTEST", base_url=echo.base_url)
    bad_number = f"type=1&u={SANDBOX_USER}&p={quote_plus(SECRET)}&message%5B0%5D=x"
    bad_number += "&title=MASGSMTEST&numbers=1"
    good.register("bayi", MEMBER, "Ali", "a@example.com", "5325550000")
    good.send(["5321112233"], "x")  # the balance (1 credit) is spent now
    echo.default = (200, "text/html", lambda body: b"<b>" + body + SECRET.encode() + b"</b>")

    return [
        (CredentialsError, lambda: wrong.send(["5321112233"], "x")),
        (CredentialsError, lambda: wrong.send_get(["5321112233"], "x")),
        (CredentialsError, wrong.titles),
        (CredentialsError, lambda: wrong.register("b", MEMBER, "A", "a@b.co", "5325550000")),
        (TitleError, lambda: good.send(["5321112233"], "x", title="NOPE")),
        (BannedTitleError, lambda: good.send_get(["5321112233"], "x", title="BANNED")),
        (InsufficientBalanceError, lambda: good.send(["5321112233"], "x")),
        (MissingParameterError, lambda: good.report("")),
        (NumberFormatError, lambda: good.submit(PreparedSend(bad_number.encode(), 1))),
        (SendError, lambda: good.register("bayi", MEMBER, "Ali", "a@example.com", "5325550000")),
        (InvalidNumberError, lambda: good.send(["12345"], "x")),
        (UsageError, lambda: good.send(["5321112233"], "")),
        (UnexpectedAnswerError, echoes.balance),
        (UnexpectedAnswerError, lambda: echoes.register("b", MEMBER, "A", "a@b.co", "5325550000")),
        (SafeToRetryError, lambda: faults.send_get(["5321112233"], "x")),  # 503
        (OutcomeUnknownError, lambda: faults.send_get(["5321112233"], "x")),  # drop_before
        (OutcomeUnknownError, lambda: faults.send_get(["5321112233"], "x")),  # 500
        (OutcomeUnknownError, lambda: faults.send(["5321112233"], "x")),  # drop_after
        (SafeToRetryError, lambda: refused.send_get(["5321112233"], "x")),
        (SafeToRetryError, refused.balance),
    ]


def test_no_error_shows_a_password(
    scripted_server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = SandboxConfig(password=SECRET, balance=1, settle_ms=0)
    plan = FaultPlan(queue=["503", "drop_before", "500", "drop_after"])
    caplog.set_level(logging.DEBUG, logger="masgsm_notify")
    with SandboxServer(config) as sandbox, SandboxServer(config, faults=plan) as faulty:
        cases = _errors(sandbox, faulty, scripted_server)
        raised: list[MasgsmError] = []
        for expected, call in cases:
            with pytest.raises(expected) as caught:
                call()
            raised.append(caught.value)

    assert [type(error) for error in raised] == [cls for cls, _ in cases]
    for error in raised:
        shown = [
            str(error),
            repr(error),
            error.message,
            repr(error.args),
            str(error.raw),
            "".join(traceback.format_exception(error)),  # what a logger prints for it
        ]
        assert leaks("\n".join(shown)) == [], shown
    # With no scrubbing filter installed (a library user's logging), the client's own records
    # carry no secret either, including the sub-member's password in a register request.
    records = [r.getMessage() for r in caplog.records if r.name.startswith("masgsm_notify")]
    assert any("register%5Bpassword%5D=***" in message for message in records)
    assert leaks("\n".join(records)) == []
