"""The `masgsm-notify` command in real subprocesses, against the sandbox over 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import parse_qs

import click
import pytest
import requests
from helpers.cli import CLI, NO_PLUGINS, CliResult, run_cli
from helpers.http import ScriptedServer
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER, sandbox_messages, wait_settled

from masgsm_notify import MasgsmClient, __version__
from masgsm_notify import text as sms_text
from masgsm_notify.cli import main
from masgsm_notify.errors import SafeToRetryError
from masgsm_notify.sandbox import FaultPlan, SandboxConfig, SandboxServer


def run_many(jobs: list[tuple[list[str], dict[str, str], str | None]]) -> list[CliResult]:
    """Run independent CLI invocations side by side (each is a separate process anyway)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda job: run_cli(job[0], job[1], input=job[2]), jobs))


def squash(text: str) -> str:
    return " ".join(text.split())


LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")


def assert_one_paragraph_error(result: CliResult, *words: str) -> None:
    """A failure a person can read: one paragraph on stderr, nothing on stdout, no traceback.

    Log lines (the GET method's warning) may come before it.
    """
    lines = [line for line in result.stderr.splitlines() if not LOG_LINE.match(line)]
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    message = lines[0]
    for word in words:
        assert word.lower() in message.lower(), (word, message)


# -- version and help -------------------------------------------------------------------------


def test_version(cli_env: dict[str, str]) -> None:
    result = run_cli(["--version"], cli_env)
    assert result.returncode == 0
    assert result.stdout.strip() == f"masgsm-notify, version {__version__}"


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    yield path, group
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_help_of_every_command_shows_every_option(cli_env: dict[str, str]) -> None:
    commands = list(_commands(main))
    names = {" ".join(path) for path, _ in commands}
    assert {"", "send", "balance", "report", "titles", "register", "sandbox serve"} <= names

    results = run_many([([*path, "--help"], cli_env, None) for path, _ in commands])
    for (path, command), result in zip(commands, results, strict=True):
        shown = squash(result.stdout)
        assert result.returncode == 0, (path, result.stderr)
        assert shown.startswith(" ".join(("Usage: masgsm-notify", *path, "[OPTIONS]")))
        assert squash(command.help or "").split(".")[0] in shown, path
        assert re.search(r"\n\s*Examples:\n\s+masgsm-notify ", result.stdout), path
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            assert param.help and param.help.strip(), f"{path} {param.opts} has no help text"
            for opt in param.opts:
                assert opt in shown, (path, opt)
            assert squash(param.help)[:40] in shown, (path, param.opts)


# -- send -------------------------------------------------------------------------------------


def test_send_numbers_in_any_form_with_turkish_text(sandbox: SandboxServer, cli_env) -> None:
    text = "Sayın Ömer, ödemeniz alındı; teşekkürler."
    result = run_cli(
        ["send", "--to", "+90 532 111 22 33", "--to", "0532-222-3344, 905323334455", "-m", text],
        cli_env,
    )

    assert result.returncode == 0, result.stderr
    recorded = sandbox.messages()
    assert [(m["number"], m["text"]) for m in recorded] == [
        ("5321112233", text),
        ("5322223344", text),
        ("5323334455", text),
    ]
    assert f"message id {recorded[0]['id']}" in result.stdout
    assert "3 number(s), turkish, 1 segment(s) each, 3 credit(s)" in result.stdout


def test_send_json_output_parses(sandbox: SandboxServer, cli_env: dict[str, str]) -> None:
    result = run_cli(
        ["send", "--to", "5321112233,5322223344", "-m", "a" * 161, "--title", "SANDBOX", "--json"],
        cli_env,
    )

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    recorded = sandbox_messages(sandbox.base_url)
    assert data == {
        "numbers": ["5321112233", "5322223344"],
        "text": "a" * 161,
        "encoding": "gsm7",
        "segments": 2,
        "credits": 4,
        "message_id": recorded[0]["id"],
        "code": 1,
        "partial": False,
    }
    assert {m["title"] for m in recorded} == {"SANDBOX"}


def test_send_dry_run_sends_nothing(sandbox: SandboxServer, cli_env: dict[str, str]) -> None:
    human, as_json = run_many(
        [
            (["send", "--to", "5321112233", "-m", "Merhaba dünya", "--dry-run"], cli_env, None),
            (
                ["send", "--to", "5321112233,5322223344", "-m", "ş" * 80, "--dry-run", "--json"],
                cli_env,
                None,
            ),
        ]
    )

    assert human.returncode == 0 and as_json.returncode == 0
    assert human.stdout.startswith("Dry run, nothing sent: 1 number(s)")
    assert json.loads(as_json.stdout) == {
        "dry_run": True,
        "numbers": ["5321112233", "5322223344"],
        "text": "ş" * 80,
        "encoding": "turkish",
        "segments": 2,
        "credits": 4,
    }
    assert sandbox.messages() == []
    assert sandbox.state.summary()["balances"] == {SANDBOX_USER: 1_000_000}


def test_send_refuses_a_text_over_max_segments(sandbox: SandboxServer, cli_env) -> None:
    """A 2,000-character text once went out as many segments without a word."""
    text = "Sayın müşterimiz, " + "kampanya ayrıntıları " * 95
    needs = sms_text.cost(text).segments
    assert needs > 6
    refused, dry, allowed = run_many(
        [
            (["send", "--to", "5321112233", "-m", text], cli_env, None),
            (["send", "--to", "5321112233", "-m", text, "-n"], cli_env, None),
            (["send", "--to", "5321112233", "-m", text, "--max-segments", "20"], cli_env, None),
        ]
    )
    for result in (refused, dry):  # a dry run refuses as the real send would
        assert result.returncode == 2, result.output
        assert_one_paragraph_error(
            result, f"needs {needs} segments ({len(text):,} characters", "--max-segments 6"
        )
    assert allowed.returncode == 0, allowed.output
    assert f"{needs} segment(s) each" in allowed.stdout
    assert [m["segments"] for m in sandbox.messages()] == [needs]


def test_send_method_get(sandbox: SandboxServer, cli_env: dict[str, str]) -> None:
    result = run_cli(
        ["send", "--to", "5321112233", "-m", "Şifreniz değişti", "--method", "get"], cli_env
    )

    assert result.returncode == 0, result.stderr
    assert [(m["number"], m["text"]) for m in sandbox.messages()] == [
        ("5321112233", "Sifreniz degisti")
    ]
    assert "Sent: message id" in result.stdout
    assert "password in the request URL" in result.stderr  # the warning
    assert SANDBOX_PASSWORD not in result.output


def test_send_message_from_stdin_and_lang_plain(sandbox: SandboxServer, cli_env) -> None:
    from_stdin, plain = run_many(
        [
            (["send", "--to", "5321112233", "-m", "-"], cli_env, "Çok satırlı\nmesaj\n"),
            (["send", "--to", "5322223344", "-m", "Güle güle", "--lang", "plain"], cli_env, None),
        ]
    )

    assert from_stdin.returncode == 0 and plain.returncode == 0
    assert sorted((m["number"], m["text"]) for m in sandbox.messages()) == [
        ("5321112233", "Çok satırlı\nmesaj"),
        ("5322223344", "Gule gule"),
    ]


# -- balance, report, titles, register --------------------------------------------------------


def test_balance_and_titles(client: MasgsmClient, cli_env: dict[str, str]) -> None:
    client.send(["5321112233", "5322223344"], "x")
    jobs = [(["balance"], cli_env, None), (["balance", "--json"], cli_env, None)]
    balance, as_json, titles = run_many([*jobs, (["titles"], cli_env, None)])

    assert (balance.returncode, balance.stdout) == (0, "Balance: 999,998 credits\n")
    assert json.loads(as_json.stdout) == {"balance": 999_998}
    assert (titles.returncode, titles.stdout) == (0, "MASGSMTEST\nSANDBOX\n")


def test_report_after_settle(client: MasgsmClient, cli_env: dict[str, str]) -> None:
    message_id = client.send(["5321112233", "5321112299"], "Rapor").message_id
    wait_settled(client, message_id)

    human, as_json = run_many(
        [(["report", message_id], cli_env, None), (["report", message_id, "--json"], cli_env, None)]
    )

    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines() == [
        f"Message {message_id}: 1 delivered, 1 failed, 0 pending",
        "  delivered 5321112233",
        "  failed    5321112299",
    ]
    assert json.loads(as_json.stdout) == {
        "message_id": message_id,
        "delivered": ["5321112233"],
        "failed": ["5321112299"],
        "pending": [],
    }


def test_report_refuses_a_non_numeric_id_and_says_when_an_id_has_no_numbers(
    scripted_server: ScriptedServer, cli_env: dict[str, str]
) -> None:
    """Both once printed "0 delivered, 0 failed, 0 pending" and exited 0."""
    scripted_server.default = (
        200,
        "application/json",
        b'{"Iletilen":[],"Hatali":[],"Bekleyen":[]}',
    )
    env = {**cli_env, "MASGSM_BASE_URL": scripted_server.base_url}
    jobs = [["report", "abc"], ["report", "999999"], ["report", "999999", "--json"]]
    bad, unknown, unknown_json = run_many([(args, env, None) for args in jobs])
    assert bad.returncode == 2
    assert_one_paragraph_error(bad, "'abc' is not a message id", "nothing was requested")
    assert unknown.returncode == 1 and unknown_json.returncode == 1
    assert_one_paragraph_error(unknown, "message 999999 lists no numbers")
    assert unknown_json.stdout == ""
    assert [parse_qs(r.body.decode())["id"] for r in scripted_server.requests] == [["999999"]] * 2


REGISTER = ["register", "--fullname", "Ali Veli", "--email", "ali@example.com", "--phone"]


def test_register_reads_the_password_from_stdin(sandbox: SandboxServer, cli_env) -> None:
    first = run_cli([*REGISTER, "5325550000", "--username", "bayi-ali"], cli_env, "Alt-Parola1\n")

    assert (first.returncode, first.stdout) == (0, "Registered sub-member bayi-ali.\n")
    assert "Alt-Parola1" not in first.output
    with MasgsmClient("bayi-ali", "Alt-Parola1", base_url=sandbox.base_url) as member:
        assert member.balance() == 0  # the new sub-member can log in

    again, empty = run_many(
        [
            ([*REGISTER, "5325550000", "--username", "bayi-ali"], cli_env, "Baska\n"),
            ([*REGISTER, "5325550000", "--username", "bayi-bos"], cli_env, "\n"),
        ]
    )
    assert again.returncode == 1
    assert_one_paragraph_error(again, "bayi-ali", "answer 0", "taken")
    assert empty.returncode == 2
    assert_one_paragraph_error(empty, "password is empty", "nothing was registered")
    assert set(sandbox.state.summary()["balances"]) == {SANDBOX_USER, "bayi-ali"}


def test_register_checks_the_phone_and_the_email_before_calling_the_api(
    sandbox: SandboxServer, cli_env: dict[str, str]
) -> None:
    def register(phone: str, email: str) -> list[str]:
        return ["register", "--username", "bayi", "--fullname", "Ali", "--email", email, phone]

    landline, foreign, bad_email, spaced, good = run_many(
        [
            (register("--phone=0212 555 11 22", "ali@example.com"), cli_env, "Parola1\n"),
            (register("--phone=+44 7700 900123", "ali@example.com"), cli_env, "Parola1\n"),
            (register("--phone=05325550000", "bad"), cli_env, "Parola1\n"),
            (register("--phone=05325550000", "ali veli@example.com"), cli_env, "Parola1\n"),
            (register("--phone=+90 532 555 00 00", " ali@example.com "), cli_env, "Parola1\n"),
        ]
    )
    for result in (landline, foreign, bad_email, spaced):
        assert result.returncode == 2, result.output
    assert_one_paragraph_error(landline, "--phone '0212 555 11 22'", "landline", "nothing was")
    assert_one_paragraph_error(foreign, "--phone", "foreign number")
    assert_one_paragraph_error(bad_email, "--email 'bad' does not look like an e-mail address")
    assert_one_paragraph_error(spaced, "--email 'ali veli@example.com'")
    assert good.returncode == 0, good.output
    profiles = sandbox.state.summary()
    assert set(profiles["balances"]) == {SANDBOX_USER, "bayi"}  # only the good one reached it
    member = sandbox.state.accounts["bayi"]
    assert (member.profile["phone"], member.profile["email"]) == ("5325550000", "ali@example.com")


# -- sandbox serve ----------------------------------------------------------------------------


@contextmanager
def serve(env: dict[str, str], *options: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`masgsm-notify sandbox serve OPTIONS` as a real process; yields it and its first line."""
    process = subprocess.Popen(
        [*CLI, "sandbox", "serve", *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "sandbox serve printed nothing"
        yield process, process.stdout.readline().rstrip("\n")
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_sandbox_serve_prints_its_url_and_serves(cli_env: dict[str, str]) -> None:
    options = ("--port", "0", "--balance", "5", "--fail-suffix", "11", "--settle-ms", "0")
    with serve(cli_env, *options) as (process, url):
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/MasApiV2", url)
        assert match, url
        client = MasgsmClient(SANDBOX_USER, SANDBOX_PASSWORD, title="MASGSMTEST", base_url=url)
        assert client.balance() == 5
        result = client.send(["5321111111", "5322222299", "5323333333"], "x")
        report = client.report(result.message_id)
        assert report.failed == ["5321111111"]  # --fail-suffix replaces the default 99
        assert report.delivered == ["5322222299", "5323333333"]
        assert len(sandbox_messages(url)) == 3

        cli = run_cli(["balance"], {**cli_env, "MASGSM_BASE_URL": url})
        assert cli.stdout == "Balance: 2 credits\n"
        assert process.poll() is None  # still serving

    assert process.returncode is not None
    with pytest.raises(SafeToRetryError):  # stopped: nothing listens on the port any more
        client.balance()


def test_sandbox_serve_fault_injection(cli_env: dict[str, str]) -> None:
    with serve(cli_env, "--fault", "503=1") as (_, url):
        client = MasgsmClient(SANDBOX_USER, SANDBOX_PASSWORD, title="MASGSMTEST", base_url=url)
        assert client.balance() == 1_000_000  # faults hit sends only by default
        with pytest.raises(SafeToRetryError):
            client.send(["5321111111"], "x")
        cli = run_cli(
            ["send", "--to", "5321111111", "-m", "x"], {**cli_env, "MASGSM_BASE_URL": url}
        )
        assert cli.returncode == 1
        assert_one_paragraph_error(cli, "503", "not processed")
        assert sandbox_messages(url) == []
        state = requests.get(url.replace("/MasApiV2", "/_sandbox/state"), timeout=10).json()
        assert [f["fault"] for f in state["faults"]] == ["503", "503"]


def _raw_request(url: str, head: str, body: bytes = b"") -> tuple[str, bytes]:
    """Send one hand-made request to the sandbox of `url`; the status line and the rest."""
    port = int(re.search(r":(\d+)/", url).group(1))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    return status.decode(), rest


def test_sandbox_serve_answers_bad_requests_with_400_and_keeps_serving(
    cli_env: dict[str, str],
) -> None:
    """A bad offset once dropped the connection with a traceback; a negative Content-Length
    once held a thread waiting for a body that never ends."""
    with serve(cli_env) as (process, url):
        root = url.removesuffix("/MasApiV2")
        for query in ("offset=abc", "offset=-1", "limit=x", "offset=1e3"):
            answer = requests.get(f"{root}/_sandbox/messages?{query}", timeout=10)
            assert answer.status_code == 400, query
            assert "whole number" in answer.json()["error"], query
        post = "POST /MasApiV2/api_post.php HTTP/1.1\r\nHost: x\r\n"
        cases = {
            "Content-Length: -5\r\n": "400",
            "Content-Length: abc\r\n": "400",
            f"Content-Length: {10**12}\r\n": "413",
            "Transfer-Encoding: chunked\r\n": "411",
        }
        for header, status in cases.items():
            started = time.monotonic()
            line, rest = _raw_request(url, post + header)
            assert line.split()[1] == status, (header, line)
            assert b"Connection: close" in rest and b'"error"' in rest, rest
            assert time.monotonic() - started < 5, header  # answered, not left waiting
        # No Content-Length: an empty body, which the API answers as missing parameters.
        line, rest = _raw_request(url, post)
        assert line.split()[1] == "200" and b'"code": 400' in rest, rest
        assert requests.get(f"{root}/_sandbox/messages?offset=0&limit=5", timeout=10).json() == []
        assert process.poll() is None
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert "Traceback" not in errors


def test_sandbox_serve_rejects_a_bad_fault(cli_env: dict[str, str]) -> None:
    result = run_cli(["sandbox", "serve", "--fault", "boom=1"], cli_env)
    assert result.returncode == 2
    assert "--fault" in result.stderr and "Traceback" not in result.stderr


# -- errors -----------------------------------------------------------------------------------


def test_invalid_number_exits_2_naming_it(sandbox: SandboxServer, cli_env) -> None:
    result = run_cli(["send", "--to", "5321112233,12345", "--to", "2121234567", "-m", "x"], cli_env)

    assert result.returncode == 2
    assert_one_paragraph_error(result, "'12345'", "'2121234567'", "nothing was sent")
    assert sandbox_messages(sandbox.base_url) == []


def test_wrong_password_exits_2_with_one_readable_paragraph(sandbox: SandboxServer, cli_env):
    env = {**cli_env, "MASGSM_PASSWORD": "wrong"}
    commands = [  # (test_secrets runs every command with a wrong password)
        ["send", "--to", "5321112233", "-m", "x"],
        ["send", "--to", "5321112233", "-m", "x", "--method", "get"],  # warns first
        ["titles"],  # the older API answers a bare 401
    ]
    results = run_many([(args, env, "pw\n") for args in commands])
    for args, result in zip(commands, results, strict=True):
        assert result.returncode == 2, (args, result.output)
        assert_one_paragraph_error(result, "password", "answer 401", "MASGSM_PASSWORD")
    assert sandbox.messages() == []


def test_title_errors_exit_2(sandbox: SandboxServer, cli_env: dict[str, str]) -> None:
    banned, unknown = run_many(
        [
            (["send", "--to", "5321112233", "-m", "x", "--title", "BANNED"], cli_env, None),
            (["send", "--to", "5321112233", "-m", "x", "--title", "NOPE"], cli_env, None),
        ]
    )
    assert banned.returncode == 2 and unknown.returncode == 2
    assert_one_paragraph_error(banned, "banned", "answer 403")
    assert_one_paragraph_error(unknown, "title", "answer 402")
    assert sandbox.messages() == []


def test_missing_settings_exit_2(sandbox: SandboxServer, cli_env: dict[str, str]) -> None:
    no_user = {k: v for k, v in cli_env.items() if k != "MASGSM_USER"}
    no_password = {k: v for k, v in cli_env.items() if k != "MASGSM_PASSWORD"}
    no_title = {k: v for k, v in cli_env.items() if k != "MASGSM_TITLE"}
    results = run_many(
        [
            (["balance"], no_user, None),
            (["send", "--to", "5321112233", "-m", "x"], no_password, None),
            (["send", "--to", "5321112233", "-m", "x"], no_title, None),
            (["send", "-m", "x"], cli_env, None),
        ]
    )
    assert [r.returncode for r in results] == [2, 2, 2, 2]
    for result, unset in zip(results[:2], ("user", "password"), strict=False):
        assert_one_paragraph_error(
            result, "credentials are missing", f"MASGSM_{unset.upper()} is not set", "config.toml"
        )
        assert result.stderr.rstrip().endswith(f"Or pass --{unset}.")
    assert_one_paragraph_error(results[2], "no title", "MASGSM_TITLE")
    assert "Missing option '--to'" in results[3].stderr
    assert all("Traceback" not in r.output for r in results)
    assert sandbox.messages() == []


def test_partial_send_exits_3(cli_env: dict[str, str]) -> None:
    numbers = ["5321112233", "5322223344", "5323334455"]
    with SandboxServer(SandboxConfig(balance=3, settle_ms=50)) as server:
        env = {**cli_env, "MASGSM_BASE_URL": server.base_url}
        to = ["send", "--to", ",".join(numbers)]

        as_json = run_cli([*to, "-m", "a" * 161, "--json"], env)  # 3 credits: 1 of 3 texts
        assert as_json.returncode == 3, as_json.output
        data = json.loads(as_json.stdout)
        assert (data["partial"], data["code"], data["segments"]) == (True, 3, 2)
        assert [m["number"] for m in sandbox_messages(server.base_url)] == numbers[:1]

        human = run_cli([*to, "-m", "x"], env)  # 1 credit left: 1 of 3 texts
        message_id = sandbox_messages(server.base_url)[-1]["id"]
        assert human.returncode == 3
        assert human.stdout.startswith("Partial send: the balance ran out (answer 3).")
        assert f"masgsm-notify report {message_id}" in human.stdout

        empty = run_cli([*to, "-m", "x"], env)  # nothing left
        assert empty.returncode == 1
        assert_one_paragraph_error(empty, "balance", "answer 2")
        assert [m["number"] for m in sandbox_messages(server.base_url)] == numbers[:1] * 2


def test_outcome_unknown_exits_1(cli_env: dict[str, str]) -> None:
    with SandboxServer(SandboxConfig(), faults=FaultPlan(queue=["drop_after"])) as server:
        env = {**cli_env, "MASGSM_BASE_URL": server.base_url}
        result = run_cli(["send", "--to", "5321112233", "-m", "x"], env)
        recorded = server.messages()
    assert result.returncode == 1
    assert_one_paragraph_error(result, "may or may not")
    assert len(recorded) == 1


# -- output options ---------------------------------------------------------------------------


def test_verbosity_options_after_the_command_and_n_for_dry_run(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path
) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "name: q\nrecipients: {inline: [{phone: '05321112201'}]}\n"
        "message: {inline: Merhaba}\nreport: {wait: 2s, poll_every: 100ms}\n"
    )
    run = ["run", str(pipeline), "--sandbox"]
    quiet, loud, split, dry, send_dry = run_many(
        [
            ([*run, "-q"], cli_env, None),
            ([*run, "-vv"], cli_env, None),
            (["-v", *run, "-v"], cli_env, None),  # counts add up: debug
            (["run", str(pipeline), "-n"], cli_env, None),
            (["send", "--to", "5321112233", "-m", "x", "-n"], cli_env, None),
        ]
    )
    for result in (quiet, loud, split, dry, send_dry):
        assert result.returncode == 0, result.output
    # -q: the delivery report only; no notes, no plan, no log lines.
    assert quiet.stdout.startswith("Delivery report for q"), quiet.stdout
    assert quiet.stderr == ""
    for result in (loud, split):
        assert "Sandbox MASGSM at" in result.stdout and "Planned 1 row(s)" in result.stdout
        assert re.search(r" DEBUG masgsm_notify\.client: POST ", result.stderr), result.stderr
    # -n is --dry-run, for run and for send.
    assert "\nDry run (nothing will be sent): q" in dry.stdout and "Dry run: nothing" in dry.stdout
    assert send_dry.stdout.startswith("Dry run, nothing sent: 1 number(s)")
    assert [m["text"] for m in sandbox.messages()] == []


def test_shell_completion_as_the_readme_shows_it(cli_env: dict[str, str]) -> None:
    script = run_cli([], {**cli_env, "_MASGSM_NOTIFY_COMPLETE": "bash_source"})
    assert script.returncode == 0
    assert "_masgsm_notify_completion()" in script.stdout
    assert "complete -o nosort -F _masgsm_notify_completion masgsm-notify" in script.stdout

    def complete(words: str) -> list[str]:
        env = {
            **cli_env,
            "_MASGSM_NOTIFY_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        result = run_cli([], env)
        assert result.returncode == 0, result.output
        return result.stdout.split()

    assert complete("masgsm-notify ru") == ["plain,run", "plain,runs"]
    assert complete("masgsm-notify --acc") == ["plain,--account"]
    assert complete("masgsm-notify run p.yaml --dr") == ["plain,--dry-run"]


def test_the_command_table_lists_each_command_with_its_own_help_line() -> None:
    """`--help` lists commands from a table, so that it imports none of them: the table's
    lines must be the commands' own."""
    import importlib

    from masgsm_notify.cli import COMMANDS

    for name, (module, line) in COMMANDS.items():
        defined = importlib.import_module(f"masgsm_notify.cli.{module}").COMMANDS
        command = next(c for c in defined if c.name == name)
        assert command.get_short_help_str(limit=10_000) == line, name
    every = {
        c.name
        for module in {m for m, _ in COMMANDS.values()}
        for c in importlib.import_module(f"masgsm_notify.cli.{module}").COMMANDS
    }
    assert every == set(COMMANDS)


def _modules_loaded(code: str, chosen: str) -> str:
    """The modules a fresh interpreter has loaded after `code`, those for which the expression
    `chosen` (of `m`, a module's name) holds, as a printed sorted list."""
    probe = f"import sys\n{code}print(sorted(m for m in sys.modules if {chosen}))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_version_and_help_load_no_heavy_library() -> None:
    heavy = ("requests", "jinja2", "apprise", "yaml", "sqlite3", "phonenumbers", "waitress")
    code = (
        "from masgsm_notify.cli import main\n"
        "for args in (['--version'], ['--help']):\n"
        "    try:\n"
        "        main(args, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
    )
    assert _modules_loaded(code, f"m.split('.')[0] in {heavy!r}") == "[]"


def test_the_run_command_loads_no_module_only_some_runs_need() -> None:
    """A run's start-up pays for what every run uses: the embedded sandbox (an HTTP server)
    is loaded by `--sandbox`, `multiprocessing` by plans large enough to spread over cores,
    `difflib` by a mistyped key."""
    optional = ("masgsm_notify.sandbox", "multiprocessing", "difflib", "http.server")
    code = "import masgsm_notify.cli.pipeline\n"
    assert _modules_loaded(code, f"m.startswith({optional!r})") == "[]"


def test_the_command_frees_nothing_one_by_one_at_exit() -> None:
    """The objects alive at the end of a command are frozen for the interpreter's exit, so it
    does not walk and free them one by one (the system takes the memory back whole); the
    handler registered first runs last, and finds them frozen."""
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count(), file=sys.stderr))\n"
        "from masgsm_notify.cli import main\n"
        "main(['--version'], prog_name='masgsm-notify')\n"
    )
    env = {**os.environ, NO_PLUGINS: "1"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("masgsm-notify, version"), done.stdout
    frozen = int(done.stderr.split("frozen ")[1].split()[0])
    assert frozen > 5_000, done.stderr
