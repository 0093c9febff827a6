"""The password never shows: not in output, logs at debug level, log files, reprs or errors."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, quote_plus

import apprise
import pytest
import requests
from helpers.cli import CLI, offline, run_cli, sandbox_env
from helpers.http import ScriptedServer, closed_port
from helpers.pipelines import write
from helpers.sandbox import SANDBOX_USER
from helpers.serve import start_serve
from helpers.waiting import wait_for

from masgsm_notify import MasgsmClient, logs
from masgsm_notify.apprise_plugin import register as register_masgsm
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
from masgsm_notify.pipeline.journal import Journal
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


def test_one_password_absent_from_everything_every_command_and_apprise_path_writes(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Every command at debug level with a log file, the `apprise` command with the installed
    loader, Apprise's Python API, a pipeline failing on a wrong password in its `service:` URL and
    one succeeding with `report.export`; then every byte written is searched for the passwords,
    in every spelling: outputs, log files, journals (and their WAL), the export."""
    written: dict[str, str | bytes] = {}  # what -> everything it wrote
    serve_args = ["-vv", "--log-file", str(tmp_path / "serve.log"), "sandbox", "serve"]
    serve = subprocess.Popen(
        [*CLI, *serve_args, "--password", SECRET, "--settle-ms", "0"],
        env=offline(cli_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        base = serve.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:") and base.endswith("/MasApiV2"), base
        env = offline(
            {**cli_env, "MASGSM_PASSWORD": SECRET, "MASGSM_BASE_URL": base, "PYTHONUTF8": "1"}
        )
        quoted, base_arg = quote(SECRET, safe=""), quote(base, safe="")
        url = f"masgsm://{SANDBOX_USER}:{quoted}@MASGSMTEST/05321112233?base={base_arg}"
        wrong_url = url.replace(quoted, quote(WRONG, safe=""))
        write(tmp_path / "people.csv", "name,phone\nAyşe,05321112201\nFails,05321112299\n")
        pipelines = {
            "ok": write(
                tmp_path / "ok.yaml",
                """
                name: ok
                service: >-
                  masgsm://{{ env.MASGSM_USER }}:{{
                  env.MASGSM_PASSWORD|urlencode }}@MASGSMTEST/?base={{
                  env.MASGSM_BASE_URL|urlencode }}
                recipients: {csv: people.csv}
                message: {inline: "Sayın {{ name }}, şifreniz değişti."}
                report: {wait: 5s, poll_every: 250ms, export: results.csv, fail_if: "failed > 1"}
                """,
            ),
            "wrong": write(
                tmp_path / "wrong.yaml",
                f"""
                name: wrong
                service: "{wrong_url}"
                recipients: {{csv: people.csv}}
                message: {{inline: "Merhaba {{{{ name }}}}"}}
                """,
            ),
        }
        plugins = tmp_path / "plugins"

        def cli(name: str, args: list[str], expected: int, stdin: str | None = None) -> str:
            log_file = tmp_path / f"{name}.log"
            result = run_cli(["-vv", "--log-file", str(log_file), *args], env, input=stdin)
            assert result.returncode == expected, (name, result.output)
            assert "Traceback" not in result.output, (name, result.output)
            written[f"{name} stdout"], written[f"{name} stderr"] = result.stdout, result.stderr
            written[f"{name} log"] = log_file.read_text(encoding="utf-8")
            quiet = ("plugins", "install", "uninstall", "check", "check-ok")  # no request made
            assert "DEBUG" in written[f"{name} log"] or name in quiet, name
            return result.stdout

        first = [
            ("send", ["send", "--to", "05321112233", "-m", "Şifre sıfırlandı", "--json"], 0),
            ("balance", ["balance"], 0),
            ("titles", ["titles"], 0),
            ("plugins", ["plugins"], 0),
            ("install", ["apprise", "install", "--path", str(plugins)], 0),
            ("run-ok", ["run", str(pipelines["ok"]), "--journal", str(tmp_path / "ok.sqlite")], 0),
            (
                "run-wrong",
                ["run", str(pipelines["wrong"]), "--journal", str(tmp_path / "w.sqlite")],
                2,
            ),
        ]
        with ThreadPoolExecutor(max_workers=4) as pool:
            outputs = dict(
                zip([j[0] for j in first], pool.map(lambda j: cli(*j), first), strict=True)
            )
            register = ["register", "--username", "bayi", "--fullname", "Ali", "--email"]
            register += ["a@example.com", "--phone", "5325550000"]
            later = [
                ("report", ["report", json.loads(outputs["send"])["message_id"]], 0, None),
                ("register", register, 0, MEMBER + "\n"),
                ("check", ["check", "ok-run", "--journal", str(tmp_path / "ok.sqlite")], 2, None),
            ]
            list(pool.map(lambda j: cli(*j), later))
        [(run_key,)] = Journal(tmp_path / "ok.sqlite").db.execute("SELECT run_key FROM runs")
        cli("check-ok", ["check", run_key, "--journal", str(tmp_path / "ok.sqlite")], 0)

        apprise_command = str(Path(sys.executable).with_name("apprise"))
        for name, target, expected in (("apprise", url, 0), ("apprise-wrong", wrong_url, 1)):
            done = subprocess.run(
                [apprise_command, "-P", str(plugins), "-vvvv", "-b", "Disk dolu", target],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == expected, (name, done.stdout, done.stderr)
            written[f"{name} stdout"], written[f"{name} stderr"] = done.stdout, done.stderr
        cli("uninstall", ["apprise", "uninstall", "--path", str(plugins)], 0)

        captured = io.StringIO()
        handler = logging.StreamHandler(captured)
        handler.setLevel(logging.DEBUG)
        root = logging.getLogger()
        saved = root.level, logging.getLogger("apprise").level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        logging.getLogger("apprise").setLevel(logging.DEBUG)
        try:
            register_masgsm()  # what `import masgsm_notify.apprise_plugin` does in a program
            for target, expected in ((url, True), (wrong_url, False)):
                notifier = apprise.Apprise()
                assert notifier.add(target)
                assert bool(notifier.notify(title="Yedek", body="Gece yedeği bitti.")) is expected
                written[f"python api {expected}"] = "\n".join(
                    [str(notifier), repr(notifier), *(s.url(privacy=True) for s in notifier)]
                )
        finally:
            root.removeHandler(handler)
            root.setLevel(saved[0])
            logging.getLogger("apprise").setLevel(saved[1])
        written["python api log"] = captured.getvalue()
        assert "DEBUG" in written["python api log"] or "masgsm" in written["python api log"]
    finally:
        serve.send_signal(signal.SIGINT)
        out, err = serve.communicate(timeout=30)
        written["serve stdout"], written["serve stderr"] = out, err

    for path in tmp_path.rglob("*"):  # journals and their WAL, the export, every log file
        if path.is_file() and path.suffix not in (".yaml", ".py", ".pyc"):
            written[str(path.relative_to(tmp_path))] = path.read_bytes()
    assert any(name.startswith("ok.sqlite") for name in written)
    assert "results.csv" in written and b"5321112201" in written["results.csv"]
    assert "MASGSMTEST" in written["run-ok stdout"] and "Ayşe" in written["run-ok stdout"]
    assert "401" in written["run-wrong stderr"]
    for name in ("send log", "run-ok log", "register log", "python api log"):
        assert "p=***" in written[name], name  # request bodies were logged, password removed
    assert "Sent MASGSM batch 1 of 1" in written["apprise stdout"] + written["apprise stderr"]
    for where, data in written.items():
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        raw = data if isinstance(data, bytes) else data.encode()
        found = leaks(text) + [
            form for s in SECRETS for form in spellings(s) if form.encode("utf-8") in raw
        ]
        assert found == [], (where, found, text[:3000])


def test_a_password_echoed_json_escaped_is_redacted(
    scripted_server: ScriptedServer, cli_env: dict[str, str]
) -> None:
    """An answer that repeats the password as JSON writes it escaped (`w\\u00f6rd`, `\\/`)."""
    password = "p/w\u00f6rd~1"
    echoed = json.dumps(password)[1:-1].replace("/", "\\/")
    assert echoed == "p\\/w\\u00f6rd~1"
    body = ('{"code": 7, "message": "unexpected", "pass": "' + echoed + '"}').encode()
    scripted_server.default = (200, "application/json", body)
    env = {**cli_env, "MASGSM_PASSWORD": password, "MASGSM_BASE_URL": scripted_server.base_url}
    result = run_cli(["-vv", "balance"], env)
    assert result.returncode == 1, result.output
    assert '"pass": "***"' in result.stderr  # the raw answer is shown, with the password out
    assert echoed not in result.output and "w\\u00f6rd" not in result.output
    assert password not in result.output


def test_a_password_over_plain_http_to_another_host_is_warned_about_once(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The provider's documented base URL is plain http. Here `masgsm.example` is reached
    through the sandbox acting as the HTTP proxy, so nothing leaves the machine."""
    proxy = sandbox.base_url.removesuffix("/MasApiV2")
    remote = {
        **cli_env,
        "MASGSM_BASE_URL": "http://masgsm.example/MasApiV2",
        **{name: proxy for name in ("http_proxy", "HTTP_PROXY")},
        **{name: "" for name in ("no_proxy", "NO_PROXY")},
    }
    write(
        tmp_path / "p.yaml",
        """
        name: remote
        recipients: {inline: [{phone: '05321112201'}, {phone: '05321112202'}]}
        message: {inline: Merhaba}
        send: {batch_size: 1}
        report: {wait: 5s, poll_every: 100ms}
        """,
    )
    run = run_cli(["run", "p.yaml", "--journal", "j.sqlite"], remote, cwd=tmp_path)
    quiet = run_cli(["-q", "balance"], remote)
    local = run_cli(["balance"], cli_env)
    secure_env = {**remote, "MASGSM_BASE_URL": "https://masgsm.example/MasApiV2"}
    secure = run_cli(["balance"], offline(secure_env))

    assert run.returncode == 0, run.output
    assert len(sandbox.messages()) == 2  # balance, titles, two sends, reports: many requests
    assert run.stderr.count("over plain http") == 1, run.stderr
    assert (
        "The MASGSM password goes to masgsm.example over plain http, readable on the way. Use "
        "https: a masgsms:// URL, or the base URL https://masgsm.example/MasApiV2"
    ) in run.stderr
    assert quiet.returncode == 0 and quiet.stderr == ""  # -q: errors only
    assert local.returncode == 0 and "plain http" not in local.stderr  # this machine
    assert secure.returncode == 1 and "plain http" not in secure.stderr  # https: no warning


SERVE_TOKEN = "Serve-T0ken~gizli"  # serve's bearer token


def test_serve_never_shows_its_token_or_the_password(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    """serve at debug level, with a token file and a password, answering the right token, a
    wrong one that contains the right one, and none; nothing it prints, logs or stores shows
    either secret."""
    logs._SECRETS.add(SERVE_TOKEN)  # what `leaks` looks for; serve registers its own copy
    config = SandboxConfig(password=SECRET, settle_ms=0)
    with SandboxServer(config) as server:
        env = offline({**sandbox_env(server, tmp_path), "MASGSM_PASSWORD": SECRET})
        token_file = tmp_path / "token"
        token_file.write_text(SERVE_TOKEN + "\n")
        token_file.chmod(0o600)
        pipeline = write(
            tmp_path / "p.yaml",
            """
            name: p
            recipients: {inline: [{}], number: "{{ input.to }}"}
            message: {inline: "{{ input.text }}"}
            report: {wait: 2s, poll_every: 100ms}
            """,
        )
        log_file = tmp_path / "serve.log"
        serve = start_serve(
            ["-vv", str(pipeline), "--token-file", str(token_file)],
            {**env, "MASGSM_LOG_FILE": str(log_file)},
            tmp_path,
        )
        try:
            body = {"to": "5321112233", "text": "Şifre sıfırlandı"}
            assert serve.post("p", body, token=SERVE_TOKEN + "x").status_code == 401
            assert serve.post("p", body, token="x" + SERVE_TOKEN).status_code == 401
            assert serve.post("p", body).status_code == 401
            assert serve.post("p", body, token=SERVE_TOKEN).status_code == 202
            wait_for(lambda: server.messages(), what="the text")
            wait_for(lambda: "concluded" in log_file.read_text(), what="the conclusion")
            metrics = requests.get(f"{serve.url}/metrics", timeout=10).text
        finally:
            assert serve.stop() == 0
    logged = log_file.read_text(encoding="utf-8")
    assert "DEBUG" in logged and "POST /hooks/p 401" in logged
    found = {"output": serve.output(), "log": logged, "metrics": metrics}
    found.update(
        {
            p.name: p.read_bytes().decode("latin-1")
            for p in (tmp_path / "state").rglob("*")
            if p.is_file()
        }
    )
    for where, text in found.items():
        assert SERVE_TOKEN not in text and SERVE_TOKEN.split("~")[0] not in text, where
        assert leaks(text) == [], where
