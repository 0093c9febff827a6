"""Bad input to `masgsm-notify run`: exit 2, nothing sent, and a message that names the place.

Each case runs in its own folder against its own sandbox, all cases side by side (each is a separate
process), once per module; the tests then read the outcomes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers.cli import CliResult, assert_no_traceback, run_cli, sandbox_env
from helpers.journal import query
from helpers.pipelines import FAST_REPORT, write
from helpers.sandbox import SANDBOX_USER

from masgsm_notify.sandbox import SandboxConfig, SandboxServer

SECRET = "Sup3r-S3cret"
ONE = 'recipients: {inline: [{phone: "05321112201", name: Ada}]}\n'
TURKISH = "name: x\nrecipients:\n  csv: r.csv\n  number: '{{ telefon }}'\n"


@dataclass
class Case:
    files: dict[str, str | bytes]  # path in the case's folder -> text (dedented) or bytes
    expect: list[str]  # regular expressions the error output must match
    args: list[str] = field(default_factory=list)
    stdin: str | None = None
    hidden: list[str] = field(default_factory=list)  # strings that must not appear anywhere


CASES: dict[str, Case] = {
    "invalid-yaml": Case(
        {"p.yaml": "name: x\nrecipients: [a, b\nmessage: {inline: hi}\n"},
        [r"p\.yaml:3:8: invalid YAML"],
    ),
    "unknown-key": Case(
        {"p.yaml": "name: x\n" + ONE + "message: {inlin: hi}\n"},
        [r"p\.yaml:3:\d+: message: unknown key 'inlin'; did you mean 'inline'\?"],
    ),
    "unknown-top-key": Case(
        {"p.yaml": "name: x\n" + ONE + "message: {inline: hi}\nrepot: {wait: 1s}\n"},
        [r"p\.yaml:4:\d+: unknown key 'repot'; did you mean 'report'\?"],
    ),
    "unknown-top-key-before-a-block": Case(
        # The key's own line, not the line below where its value starts.
        {"p.yaml": "name: x\n" + ONE + "message: {inline: hi}\nrepot:\n  wait: 1s\n"},
        [r"p\.yaml:4:1: unknown key 'repot'; did you mean 'report'\?"],
    ),
    "unknown-key-with-no-value": Case(
        {"p.yaml": "name: x\n" + ONE + "mesage:\n"},
        [r"p\.yaml:3:1: unknown key 'mesage'; did you mean 'message'\?"],
    ),
    "unknown-nested-key-before-a-block": Case(
        {"p.yaml": "name: x\n" + ONE + "message: {inline: hi}\nsend:\n  retrys:\n    - 1\n"},
        [r"p\.yaml:5:3: send: unknown key 'retrys'; did you mean 'retries'\?"],
    ),
    "wrong-type": Case(
        {"p.yaml": "name: x\n" + ONE + "message: {inline: hi}\nsend: {batch_size: many}\n"},
        [r"p\.yaml:4:20: send: batch_size should be a whole number, got 'many'"],
    ),
    "missing-key": Case(
        {"p.yaml": "name: x\n" + ONE},
        [r"p\.yaml:1:1: the key 'message' is required"],
    ),
    "missing-template": Case(
        {
            "p.yaml": "name: x\n" + ONE + "message: {template: nope.txt.j2}\n",
            "templates/other.txt.j2": "hi",
        },
        [r"p\.yaml:3:21: template 'nope\.txt\.j2' not found \(looked in .*templates"],
    ),
    "missing-template-no-folder": Case(
        {"p.yaml": "name: x\n" + ONE + "message: {template: nope.txt.j2}\n"},
        [r"p\.yaml:3:21: template 'nope\.txt\.j2' not found"],
    ),
    "template-syntax": Case(
        {
            "p.yaml": "name: x\n" + ONE + "message: {template: broken.txt.j2}\n",
            "templates/broken.txt.j2": "Merhaba {{ name }}\n\n{% if name %}\nunclosed\n",
        },
        [r"broken\.txt\.j2:\d+: template syntax error: .*'endif'"],
    ),
    "inline-syntax": Case(
        {"p.yaml": "name: x\n" + ONE + 'message:\n  inline: "Merhaba\\n{{ name "\n'},
        [r"p\.yaml:4:11 \(inline\):2: template syntax error"],
    ),
    "when-syntax": Case(
        {
            "p.yaml": "name: x\nrecipients:\n  inline: [{phone: '05321112201'}]\n"
            "  when: '{{ x == }}'\nmessage: {inline: hi}\n"
        },
        [r"p\.yaml:4:9 \(when\):1: template syntax error"],
    ),
    "undefined-in-one-row": Case(
        {
            "p.yaml": "name: x\nrecipients: {csv: people.csv}\nmessage: {template: t.txt.j2}\n",
            "people.csv": "name,phone,vip\nA,05321112201,no\nB,05321112202,no\nC,05321112203,yes\n",
            "templates/t.txt.j2": "Merhaba {{ name }}\n"
            "{% if vip == 'yes' %}{{ discount }}{% endif %}",
        },
        [r"people\.csv:4: template \S*t\.txt\.j2 line 2: 'discount' is undefined"],
    ),
    "sandbox-escape": Case(
        {"p.yaml": "name: x\n" + ONE + "message: {inline: \"{{ ''.__class__.__mro__ }}\"}\n"},
        [r"p\.yaml:2:\d+: template .*line 1: the template tried to reach Python internals"],
    ),
    "sandbox-escape-globals": Case(
        {
            "p.yaml": "name: x\n" + ONE + "message: {template: evil.txt.j2}\n",
            "templates/evil.txt.j2": "ok\n{{ cycler.__init__.__globals__.os.system('id') }}",
        },
        [r"p\.yaml:2:\d+: template \S*evil\.txt\.j2 line 2: the template tried to reach Python"],
    ),
    "bad-duration": Case(
        {"p.yaml": "name: x\n" + ONE + "message: {inline: hi}\nreport: {wait: 10 minutes}\n"},
        # The value is named once, at the end (it was repeated: "'5x' is not ..., got '5x'").
        [r"p\.yaml:4:16: report: wait: expected a duration \(like 30s, [^']*\), got '10 minutes'$"],
    ),
    "bad-fail-if": Case(
        {"p.yaml": "name: x\n" + ONE + "message: {inline: hi}\nreport: {fail_if: 'failed >'}\n"},
        [r"p\.yaml:4:\d+: report\.fail_if is not a valid expression"],
    ),
    "fail-if-unknown-name": Case(
        {"p.yaml": "name: x\n" + ONE + "message: {inline: hi}\nreport: {fail_if: 'faild > 0'}\n"},
        [r"p\.yaml:4:\d+: report\.fail_if failed: 'faild' is undefined \(names: delivered, "],
    ),
    "service-bad-scheme": Case(
        {
            "p.yaml": f'name: x\nservice: "https://{SANDBOX_USER}:{SECRET}@example.com/"\n'
            + ONE
            + "message: {inline: hi}\n"
        },
        [r"p\.yaml:2:10: service: The service must be a masgsm:// or masgsms:// URL"],
        hidden=[SECRET],
    ),
    "service-bad-base": Case(
        {
            "p.yaml": f'name: x\nservice: "masgsm://{SANDBOX_USER}:{SECRET}@MASGSMTEST/'
            '?base=ftp://nowhere"\n' + ONE + "message: {inline: hi}\n"
        },
        [r"p\.yaml:2:10: service: The MASGSM base URL \(ftp://nowhere\) is invalid"],
        hidden=[SECRET],
    ),
    "service-bad-lang-dry-run": Case(
        {
            "p.yaml": f'name: x\nservice: "masgsm://{SANDBOX_USER}:{SECRET}@MASGSMTEST/'
            '?lang=klingon&base=http://127.0.0.1:9/MasApiV2"\n' + ONE + "message: {inline: hi}\n"
        },
        [r"p\.yaml:2:10: service: The MASGSM lang \(klingon\) is invalid"],
        args=["--dry-run"],
        hidden=[SECRET],
    ),
    "bad-var": Case(
        {"p.yaml": "name: x\n" + ONE + 'message: {inline: "{{ vars.x }}"}\n'},
        [r"--var.*'novalue' is not KEY=VALUE"],
        args=["--var", "novalue"],
    ),
    "bad-input-file": Case(
        {
            "p.yaml": "name: x\nrecipients: {input: alerts}\nmessage: {inline: hi}\n",
            "bad.json": '{"alerts": [\n  {"phone": "05321112201"},\n  oops\n]}\n',
        },
        [r"--input \S*bad\.json:3:3: invalid JSON"],
        args=["--input", "bad.json"],
    ),
    "bad-input-stdin": Case(
        {"p.yaml": "name: x\nrecipients: {input: alerts}\nmessage: {inline: hi}\n"},
        [r"--input standard input:1:12: invalid JSON"],
        args=["--input", "-"],
        stdin='{"alerts": }',
    ),
    "input-path-missing": Case(
        {"p.yaml": "name: x\nrecipients: {input: alerts}\nmessage: {inline: hi}\n"},
        [r"p\.yaml:2:21: the --input JSON has no 'alerts'"],
        args=["--input", "-"],
        stdin='{"alarms": []}',
    ),
    "missing-csv": Case(
        {"p.yaml": "name: x\nrecipients: {csv: data/nope.csv}\nmessage: {inline: hi}\n"},
        [r"p\.yaml:2:19: csv file '.*data/nope\.csv' not found"],
    ),
    "csv-wrong-field-count": Case(
        {
            "p.yaml": "name: x\nrecipients: {csv: people.csv}\nmessage: {inline: hi}\n",
            "people.csv": "name,phone\nA,05321112201\nB,05321112202,extra\nC,05321112203\n",
        },
        [r"people\.csv:3: the row has 3 fields but the header has 2"],
    ),
    "jsonl-bad-line": Case(
        {
            "p.yaml": "name: x\nrecipients: {jsonl: people.jsonl}\nmessage: {inline: hi}\n",
            "people.jsonl": '{"phone": "05321112201"}\n{"phone": 05321112202}\n',
        },
        [r"people\.jsonl:2: invalid JSON"],
    ),
    # Turkish exports: amounts, dates, encodings and control characters.
    "amount-unreadable": Case(
        {
            "p.yaml": TURKISH + 'message: {inline: "{{ ad }}: {{ tutar|money }}"}\n',
            "r.csv": "ad;telefon;tutar\nAyşe;05321112201;1.250,50\nAli;05321112202;12,5x\n",
        },
        [
            r"r\.csv:3: template p\.yaml:5:\d+ \(inline\) line 1: field 'tutar': money: '12,5x' "
            r"is not a number \(write it like 1\.250,50, 1250,50, 1,250\.50 or 1250\.50"
        ],
    ),
    "amount-empty-float": Case(
        {
            "p.yaml": TURKISH + 'message: {inline: "{{ (tutar|float * 2)|money }}"}\n',
            "r.csv": "ad;telefon;tutar\nAyşe;05321112201;733,57\nAli;05321112202;\n",
        },
        [r"r\.csv:3: template .* line 1: field 'tutar': float: an empty value \(''\) where"],
    ),
    "amount-empty-when": Case(
        {
            "p.yaml": TURKISH.replace("recipients:", "recipients:\n  when: '{{ gun|int > 0 }}'")
            + "message: {inline: hi}\n",
            "r.csv": "ad;telefon;gun\nAyşe;05321112201;3\nAli;05321112202;0\nCan;05321112203;\n",
        },
        [r"r\.csv:4: template p\.yaml:3:9 \(when\) line 1: field 'gun': int: an empty value"],
    ),
    "date-unreadable": Case(
        {
            "p.yaml": TURKISH + "message: {inline: \"{{ vade|date('long') }}\"}\n",
            "r.csv": "ad;telefon;vade\nAyşe;05321112201;25.11.2026\nAli;05321112202;31.11.2026\n",
        },
        [r"r\.csv:3: template .* line 1: field 'vade': date: '31\.11\.2026' is not a real date"],
    ),
    "locale-unknown": Case(
        {"p.yaml": "name: x\nlocale: de\n" + ONE + "message: {inline: hi}\n"},
        [r"p\.yaml:2:9: locale: expected one of tr, en, got 'de'"],
    ),
    "csv-mixed-encodings": Case(
        {
            "p.yaml": TURKISH + "message: {inline: hi}\n",
            "r.csv": "ad;telefon;tutar\nAyşe;05321112201;1\n".encode()
            + "Şükrü;05321112202;2\n".encode("cp1254"),
        },
        [
            r"r\.csv:3: the file mixes encodings: byte 0xDE at offset 37 is not UTF-8, but line "
            r"2 holds UTF-8 text \('ş'\)\. Was a line pasted from another program\?"
        ],
    ),
    "csv-neither-utf8-nor-cp1254": Case(
        {
            "p.yaml": TURKISH + "message: {inline: hi}\n",
            "r.csv": b"ad;telefon;tutar\nAy\xfee;05321112201;1\nAli\x81;05321112202;2\n",
        },
        [r"r\.csv:3: neither UTF-8 nor Windows-1254 \(cp1254\) text at offset 39: byte 0x81"],
    ),
    "csv-nul-in-name": Case(
        {
            "p.yaml": TURKISH + 'message: {inline: "Sayın {{ ad }}"}\n',
            "r.csv": b"ad;telefon;tutar\nAy\x00se;05321112201;1\nAli;05321112202;2\n",
        },
        # Python 3.11's csv reads the NUL and the text refuses it; 3.10's csv refuses the line.
        [
            r"r\.csv:2: ('5321112201': the text holds the control character U\+0000 at "
            r"character 9|unreadable CSV: line contains NUL)"
        ],
    ),
    "jsonl-control-characters": Case(
        {
            "p.yaml": "name: x\nrecipients: {jsonl: r.jsonl}\n"
            + 'message: {inline: "Sayın {{ ad }}"}\n',
            "r.jsonl": '{"ad": "Ayşe", "phone": "05321112201"}\n'
            '{"ad": "A\\u0000li", "phone": "05321112202"}\n'
            '{"ad": "Can\\u001b[31m", "phone": "05321112203"}\n',
        },
        [
            r"2 invalid recipient\(s\); nothing was sent",
            r"r\.jsonl:2: '5321112202': the text holds the control character U\+0000 at "
            r"character 8",
            r"r\.jsonl:3: '5321112203': the text holds the control character U\+001B at "
            r"character 10",
        ],
    ),
}


@dataclass
class Outcome:
    result: CliResult
    sent: list[dict]
    folder: Path


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Every case run once, side by side, each against a sandbox of its own."""
    root = tmp_path_factory.mktemp("bad-input")
    servers = {name: SandboxServer(SandboxConfig(settle_ms=50)).start() for name in CASES}
    try:

        def run(name: str) -> Outcome:
            case, folder = CASES[name], root / name
            for relative, content in case.files.items():
                if isinstance(content, bytes):
                    (folder / relative).write_bytes(content)
                else:
                    write(folder / relative, content)
            env = sandbox_env(servers[name], folder)
            args = ["run", "p.yaml", "--journal", str(folder / "j.sqlite"), *case.args]
            result = run_cli(args, env, input=case.stdin, cwd=folder)
            return Outcome(result, servers[name].messages(), folder)

        with ThreadPoolExecutor(max_workers=4) as pool:
            yield dict(zip(CASES, pool.map(run, CASES), strict=True))
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_sends_nothing_and_names_the_place(
    name: str, outcomes: dict[str, Outcome]
) -> None:
    case, outcome = CASES[name], outcomes[name]
    result = outcome.result
    assert result.returncode == 2, result.output
    assert outcome.sent == []
    assert_no_traceback(result)
    assert result.stdout == "", result.stdout  # nothing planned, nothing summarised
    assert result.stderr.count("Error:") == 1, result.stderr
    for pattern in case.expect:
        assert re.search(pattern, result.stderr), (pattern, result.stderr)
    for secret in case.hidden:
        assert secret not in result.output
    journal = outcome.folder / "j.sqlite"
    if journal.exists():  # the plan, if one was started, is gone: nothing can be sent from it
        assert query(journal, "SELECT COUNT(*) FROM messages") == [(0,)]
        assert query(journal, "SELECT COUNT(*) FROM batches") == [(0,)]


def test_every_case_ran_against_a_live_sandbox(outcomes: dict[str, Outcome]) -> None:
    """A guard for the test above: the same set-up does send when the input is good."""
    folder = next(iter(outcomes.values())).folder.parent / "good"
    with SandboxServer(SandboxConfig(settle_ms=50)) as server:
        write(folder / "p.yaml", "name: x\n" + ONE + "message: {inline: hi}\n" + FAST_REPORT)
        result = run_cli(
            ["run", "p.yaml", "--journal", str(folder / "j.sqlite")],
            sandbox_env(server, folder),
            cwd=folder,
        )
        assert result.returncode == 0, result.output
        assert [m["number"] for m in server.messages()] == ["5321112201"]


def test_a_100000_column_header_is_checked_in_linear_time(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The repeated-name check once took 95 s on this header (a count per column)."""
    names = ["phone", *(f"c{i % 60_000}" for i in range(100_000))]
    write(tmp_path / "wide.csv", ",".join(names) + "\n" + ",".join(["05321112201"] * 100_001))
    write(tmp_path / "p.yaml", "name: wide\nrecipients: {csv: wide.csv}\nmessage: {inline: hi}\n")
    started = time.monotonic()
    result = run_cli(["run", "p.yaml", "--sandbox"], cli_env, cwd=tmp_path, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 2, result.output
    # Named by position (a header is the file's content), the first ten, then how many more.
    assert "wide.csv:1: columns 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 79,990 more" in result.stderr
    assert took < 15, took
