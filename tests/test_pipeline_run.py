"""`masgsm-notify run` end to end: a real subprocess, the sandbox over HTTP on 127.0.0.1.

Every test checks what the sandbox itself recorded (and, where it matters, the journal), not only
what the command says about itself.
"""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers.cli import assert_no_traceback, env_for, offline, run_cli, summary_of
from helpers.journal import message_states, query
from helpers.pipelines import FAST_REPORT, REPO, copy_examples, run_pipeline, write
from helpers.sandbox import numbers_sent, sandbox_messages, texts_by_number

from masgsm_notify import text as sms_text
from masgsm_notify.sandbox import SandboxConfig, SandboxServer

ALERT_PAYLOAD = {
    "version": "4",
    "status": "firing",
    "receiver": "sms",
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": "db-1"},
            "annotations": {"summary": "disk %97 dolu", "phone": "0532 111 22 70"},
        },
        {
            "status": "resolved",
            "labels": {"alertname": "DiskFull", "instance": "web-3"},
            "annotations": {"summary": "disk %40", "phone": "0532 111 22 71"},
        },
        {
            "status": "firing",
            "labels": {"alertname": "HighLoad", "instance": "app-2"},
            "annotations": {"summary": "yük 12", "phone": "+90 532 111 22 72"},
        },
    ],
}


# -- sources, templates and filters ---------------------------------------------------------------


def test_csv_with_bom_when_vars_include_and_turkish_filters(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "customers.csv").write_bytes(
        "\ufeffname,phone,city,amount,due,active\n"
        "ılgaz irmak,0532 111 22 33,istanbul,1234.5,2026-11-25,evet\n"
        "Ayşe Işık,+90 533 111 22 34,izmir,99,2026-01-02,evet\n"
        "Filtre Dışı,0534 111 22 35,ankara,5,2026-03-03,hayır\n".encode()
    )
    write(
        tmp_path / "templates" / "notice.txt.j2",
        "Sayın {{ name|tr_upper }}, {{ city|tr_upper }} şubesi: {{ amount|money }}, son gün "
        "{{ due|date }} ({{ due|date('long') }}).\n"
        '{% include "_footer.txt.j2" %}\n',
    )
    write(tmp_path / "templates" / "_footer.txt.j2", "{{ vars.shop }} - {{ vars.reply_to }}\n")
    pipeline = write(
        tmp_path / "notices.yaml",
        """
        name: notices
        vars: {shop: From The Pipeline, reply_to: "4607"}
        recipients:
          csv: data/customers.csv
          number: "{{ phone }}"
          when: "{{ active == 'evet' }}"
        message:
          template: notice.txt.j2
        """
        + FAST_REPORT,
    )

    result = run_pipeline(pipeline, cli_env, "--var", "shop=ACME İzmir")

    assert result.returncode == 0, result.output
    assert texts_by_number(sandbox) == {
        "5321112233": [
            "Sayın ILGAZ İRMAK, İSTANBUL şubesi: 1.234,50 TL, son gün 25.11.2026 "
            "(25 Kasım 2026).\nACME İzmir - 4607"
        ],
        "5331112234": [
            "Sayın AYŞE IŞIK, İZMİR şubesi: 99,00 TL, son gün 02.01.2026 (2 Ocak 2026).\n"
            "ACME İzmir - 4607"
        ],
    }
    # The inspection endpoint over HTTP agrees with the in-process record.
    assert sandbox_messages(sandbox.base_url) == sandbox.messages()
    assert "1 filtered out by when:" in result.stdout
    assert "delivered 2, failed 0" in result.stdout


def test_csv_windows_1254_with_sniffed_semicolons(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    raw = "ad;telefon;şehir\nŞükrü Işık;0532 111 22 40;iğdır\nçağla öz;05321112241;Muş\n".encode(
        "cp1254"
    )
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the point: a file Turkish Excel writes, not UTF-8
    (tmp_path / "excel.csv").write_bytes(raw)
    pipeline = write(
        tmp_path / "excel.yaml",
        """
        name: excel
        recipients:
          csv: excel.csv
          number: "{{ telefon }}"
        message:
          inline: "{{ ad|tr_upper }} / {{ row['şehir']|tr_upper }}"
        """
        + FAST_REPORT,
    )

    result = run_pipeline(pipeline, cli_env)

    assert result.returncode == 0, result.output
    assert texts_by_number(sandbox) == {
        "5321112240": ["ŞÜKRÜ IŞIK / İĞDIR"],
        "5321112241": ["ÇAĞLA ÖZ / MUŞ"],
    }


def test_csv_explicit_delimiter_overrides_sniffing(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    # The header has more commas than semicolons, so sniffing alone would pick the comma.
    write(
        tmp_path / "list.csv",
        """
        "ad, soyad";telefon;"not, ek, bilgi"
        "Öztürk, Can";05321112242;"a, b"
        """,
    )
    pipeline = write(
        tmp_path / "explicit.yaml",
        """
        name: explicit
        recipients:
          csv: list.csv
          delimiter: ";"
          number: "{{ telefon }}"
        message:
          inline: "{{ row['ad, soyad'] }} ({{ row['not, ek, bilgi'] }})"
        """
        + FAST_REPORT,
    )

    result = run_pipeline(pipeline, cli_env)

    assert result.returncode == 0, result.output
    assert texts_by_number(sandbox) == {"5321112242": ["Öztürk, Can (a, b)"]}


def test_jsonl_source_and_json_output(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    write(
        tmp_path / "people.jsonl",
        '{"ad": "Gül", "tel": "05321112250", "tutar": 12.5}\n'
        "\n"
        '{"ad": "Efe", "tel": "0532 111 22 51", "tutar": 1000}\n',
    )
    pipeline = write(
        tmp_path / "people.yaml",
        """
        name: people
        recipients:
          jsonl: people.jsonl
          number: "{{ tel }}"
        message:
          inline: "{{ ad }}: {{ tutar|money }}"
        """
        + FAST_REPORT,
    )

    result = run_pipeline(pipeline, cli_env, "--json")

    assert result.returncode == 0, result.output
    summary = summary_of(result)  # the whole of stdout is one JSON document
    assert summary["outcomes"] == {
        "delivered": 2,
        "failed": 0,
        "pending": 0,
        "unknown": 0,
        "not_sent": 0,
    }
    assert summary["exit_code"] == 0 and summary["rows"] == 2
    assert summary["credits_sent"] == 2
    # Human output went to standard error.
    assert "Plan: people" in result.stderr and "Sent 2 message(s)" in result.stderr
    assert "Plan:" not in result.stdout
    assert texts_by_number(sandbox) == {
        "5321112250": ["Gül: 12,50 TL"],
        "5321112251": ["Efe: 1.000,00 TL"],
    }


def test_yaml_list_file_source(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    write(
        tmp_path / "data" / "list.yaml",
        """
        - {name: deniz, phone: "0532 111 22 60"}
        - name: barış
          phone: "05321112261"
        """,
    )
    pipeline = write(
        tmp_path / "list.yaml",
        """
        name: yaml-list
        recipients:
          yaml: data/list.yaml
        message:
          inline: "Merhaba {{ name|tr_upper }}"
        """
        + FAST_REPORT,
    )

    result = run_pipeline(pipeline, cli_env)

    assert result.returncode == 0, result.output
    assert texts_by_number(sandbox) == {
        "5321112260": ["Merhaba DENİZ"],
        "5321112261": ["Merhaba BARIŞ"],
    }


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_input_source_reads_alertmanager_alerts(
    via: str, sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    payload = json.dumps(ALERT_PAYLOAD, ensure_ascii=False)
    (tmp_path / "payload.json").write_text(payload, encoding="utf-8")
    pipeline = write(
        tmp_path / "alerts.yaml",
        """
        name: alerts
        recipients:
          input: alerts
          number: "{{ annotations.phone }}"
          when: "{{ status == 'firing' }}"
        message:
          inline: >-
            [{{ status|tr_upper }}] {{ labels.alertname }} {{ labels.instance }}:
            {{ annotations.summary }} {{ input.externalURL }}
        """
        + FAST_REPORT,
    )

    if via == "file":
        result = run_pipeline(pipeline, cli_env, "--input", str(tmp_path / "payload.json"))
    else:
        result = run_pipeline(pipeline, cli_env, "--input", "-", input=payload)

    assert result.returncode == 0, result.output
    assert texts_by_number(sandbox) == {
        "5321112270": ["[FİRİNG] DiskFull db-1: disk %97 dolu http://alertmanager.example:9093"],
        "5321112272": ["[FİRİNG] HighLoad app-2: yük 12 http://alertmanager.example:9093"],
    }
    assert "input:alerts[0]" in result.stdout  # rows are named by their place in the input


def test_duplicates_sent_once_and_one_number_two_texts_in_separate_batches(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = write(
        tmp_path / "dupes.yaml",
        """
        name: dupes
        recipients:
          inline:
            - {phone: "05321112280", code: A}
            - {phone: "0532 111 22 80", code: A}
            - {phone: "05321112280", code: B}
            - {phone: "05321112281", code: A}
        message:
          inline: "Kod {{ code }}"
        send: {batch_size: 10}
        """
        + FAST_REPORT,
    )

    result = run_pipeline(pipeline, cli_env, "--json")

    assert result.returncode == 0, result.output
    messages = sandbox.messages()
    assert sorted((m["number"], m["text"]) for m in messages) == [
        ("5321112280", "Kod A"),
        ("5321112280", "Kod B"),
        ("5321112281", "Kod A"),
    ]
    ids = {(m["number"], m["text"]): m["id"] for m in messages}
    assert ids[("5321112280", "Kod A")] != ids[("5321112280", "Kod B")]
    summary = summary_of(result)
    assert summary["merged"] == 1 and summary["messages"] == 3
    assert summary["outcomes"]["delivered"] == 4  # every row accounted for, the copy too
    assert summary["batches"] == {"sent": 2}
    copies = query(
        tmp_path / "dupes.journal.sqlite", "SELECT number, text, copies FROM messages ORDER BY id"
    )
    assert copies == [
        ("5321112280", "Kod A", 2),
        ("5321112280", "Kod B", 1),
        ("5321112281", "Kod A", 1),
    ]


# -- the dry run and invalid recipients -----------------------------------------------------------


def test_dry_run_shows_cost_and_balance_and_sends_nothing(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    texts = ["Hello there", "Merhaba Işıl", "Işık, çok uzun bir mesaj. " * 12]
    costs = [sms_text.cost(t.strip(), True) for t in texts]
    assert [c.encoding.value for c in costs] == ["gsm7", "turkish", "turkish"]
    assert costs[2].segments >= 2
    rows = "".join(f'    - {{phone: "0532111227{i}", msg: "{t}"}}\n' for i, t in enumerate(texts))
    pipeline = write(
        tmp_path / "dry.yaml",
        "name: dry\nrecipients:\n  inline:\n" + rows + 'message: {inline: "{{ msg }}"}\n',
    )

    result = run_pipeline(pipeline, cli_env, "--dry-run")

    assert result.returncode == 0, result.output
    assert sandbox.messages() == []
    out = result.stdout
    credits = sum(c.segments for c in costs)
    assert "Dry run (nothing will be sent): dry" in out
    assert "3 message(s) (1 gsm7, 2 turkish)" in out
    assert f"by segments 2 of 1, 1 of {costs[2].segments};" in out
    assert f"{credits} credit(s) in all" in out
    assert "balance 1,000,000 credit(s)" in out
    assert "registered titles: MASGSMTEST, SANDBOX" in out
    assert "      Merhaba Işıl" in out  # the preview
    assert out.rstrip().endswith("Dry run: nothing was sent.")
    assert not (tmp_path / "dry.journal.sqlite").exists()


def test_on_invalid_fail_lists_every_invalid_row_and_sends_nothing(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    write(
        tmp_path / "people.csv",
        """
        name,phone
        Ok,05321112201
        Short,123
        Letters,abc
        Ok2,05321112202
        Foreign,+1 212 555 0100
        """,
    )
    pipeline = write(
        tmp_path / "fail.yaml",
        """
        name: fail-invalid
        recipients: {csv: people.csv}
        message: {inline: "Merhaba {{ name }}"}
        send: {on_invalid: fail}
        """,
    )

    result = run_pipeline(pipeline, cli_env)

    assert result.returncode == 2, result.output
    assert sandbox.messages() == []
    assert "3 invalid recipient(s); nothing was sent" in result.stderr
    for place, value in (("people.csv:3", "123"), ("people.csv:4", "abc")):
        assert f"{place}: '{value}'" in result.stderr
    assert "people.csv:6: '+1 212 555 0100'" in result.stderr
    assert "people.csv:2" not in result.stderr and "people.csv:5" not in result.stderr
    # The plan was thrown away: nothing in the journal could be sent later by mistake.
    assert query(tmp_path / "fail.journal.sqlite", "SELECT COUNT(*) FROM messages") == [(0,)]


def test_on_invalid_skip_sends_the_rest_reports_segments_and_exports_safe_csv(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    long_text = "uzun " * 90
    with (tmp_path / "people.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["name", "phone", "extra"])
        writer.writerow(['=HYPERLINK("http://evil.example","tıkla")', "05321112290", ""])
        writer.writerow(["@SUM(1)", "05321112291", ""])
        writer.writerow(["Uzun", "05321112292", long_text])
        writer.writerow(["Kötü", "+1 212 555 0100", ""])
        writer.writerow(["Normal", "05321112293", ""])
        writer.writerow(["Uzun2", "05321112294", long_text])
    pipeline = write(
        tmp_path / "skip.yaml",
        """
        name: skip-invalid
        recipients: {csv: people.csv}
        message: {inline: "{{ name }} {{ extra }}"}
        send: {on_invalid: skip, max_segments: 2}
        report: {wait: 5s, poll_every: 100ms, export: out/results.csv}
        """,
    )

    result = run_pipeline(pipeline, cli_env)

    assert result.returncode == 0, result.output
    assert numbers_sent(sandbox) == {"5321112290": 1, "5321112291": 1, "5321112293": 1}
    out = result.stdout
    assert "skipped 3" in out
    for place in ("people.csv:4", "people.csv:7"):  # each too-long row, reported on its own
        assert f"skipped: {place}: '5321112" in out
    assert out.count("segments, more than send.max_segments (2)") == 2
    assert "skipped: people.csv:5: '+1 212 555 0100'" in out

    with (tmp_path / "out" / "results.csv").open(encoding="utf-8-sig", newline="") as file:
        exported = list(csv.DictReader(file))
    by_row = {r["row"]: r for r in exported}
    assert len(exported) == 6
    assert by_row["people.csv:2"]["text"] == '\'=HYPERLINK("http://evil.example","tıkla")'
    assert by_row["people.csv:3"]["text"] == "'@SUM(1)"
    assert by_row["people.csv:5"]["number"] == "'+1 212 555 0100"
    assert by_row["people.csv:5"]["state"] == "skipped"
    assert by_row["people.csv:6"]["state"] == "delivered"
    for record in exported:
        for cell in record.values():
            assert not cell.startswith(("=", "+", "-", "@")), record


# -- delivery reports, fail_if and `check` --------------------------------------------------------


def test_report_counts_a_failing_number_and_fail_if_sets_the_exit_code(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    write(tmp_path / "people.csv", "name,phone\nOk,05321112201\nFails,05321112299\n")
    pipelines = []
    for name, fail_if in (("strict", "failed > 0"), ("lenient", "failed > 1")):
        pipelines.append(
            write(
                tmp_path / f"{name}.yaml",
                f"""
                name: {name}
                recipients: {{csv: people.csv}}
                message: {{inline: "Merhaba {{{{ name }}}} ({name})"}}
                report: {{wait: 5s, poll_every: 100ms, fail_if: "{fail_if}"}}
                """,
            )
        )
    with ThreadPoolExecutor(2) as pool:
        strict, lenient = pool.map(lambda p: run_pipeline(p, cli_env), pipelines)

    assert strict.returncode == 3, strict.output
    assert lenient.returncode == 0, lenient.output
    for result, verdict in ((strict, "FAIL"), (lenient, "OK")):
        assert "delivered 1, failed 1, pending 0" in result.stdout
        assert "failed: 5321112299 (people.csv:3)" in result.stdout
        assert f"-> {verdict}" in result.stdout
    assert numbers_sent(sandbox) == {"5321112201": 2, "5321112299": 2}
    assert message_states(tmp_path / "strict.journal.sqlite") == {
        "5321112201": "delivered",
        "5321112299": "failed",
    }


def test_report_check_off_leaves_numbers_pending_without_failing_the_run(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = write(
        tmp_path / "nocheck.yaml",
        """
        name: nocheck
        recipients: {inline: [{phone: "05321112201"}, {phone: "05321112202"}]}
        message: {inline: Merhaba}
        report: {check: false}
        """,
    )

    result = run_pipeline(pipeline, cli_env, "--json")

    assert result.returncode == 0, result.output  # all sent; nobody asked about delivery
    summary = summary_of(result)
    assert summary["outcomes"]["pending"] == 2 and not summary["failing"]
    assert numbers_sent(sandbox) == {"5321112201": 1, "5321112202": 1}


def test_check_rechecks_a_past_run_until_delivered(cli_env: dict[str, str], tmp_path: Path) -> None:
    with SandboxServer(SandboxConfig(settle_ms=1500)) as slow:
        env = env_for(slow, cli_env)
        write(tmp_path / "people.csv", "name,phone\nA,05321112201\nB,05321112202\n")
        pipeline = write(
            tmp_path / "later.yaml",
            """
            name: later
            recipients: {csv: people.csv}
            message: {inline: "Merhaba {{ name }}"}
            report: {wait: 0, poll_every: 100ms}
            """,
        )
        journal = tmp_path / "later.journal.sqlite"
        # Run from the pipeline's folder with a relative path, check from another folder.
        args = ["run", pipeline.name, "--journal", journal.name, "--run-key", "later-1", "--json"]
        first = run_cli(args, env, cwd=tmp_path)
        assert first.returncode == 3, first.output  # numbers still pending: fail_if holds
        assert summary_of(first)["outcomes"]["pending"] == 2
        assert set(message_states(journal).values()) <= {"sent", "pending"}

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        args = ["check", "later-1", "--journal", str(journal), "--wait", "10s", "--json"]
        again = run_cli(args, env, cwd=elsewhere)

        assert again.returncode == 0, again.output
        summary = summary_of(again)
        assert summary["outcomes"]["delivered"] == 2 and summary["outcomes"]["pending"] == 0
        assert message_states(journal) == {"5321112201": "delivered", "5321112202": "delivered"}
        assert numbers_sent(slow) == {"5321112201": 1, "5321112202": 1}  # checking sends nothing


# -- notify, pre-flight checks and credentials ----------------------------------------------------


def test_notify_sends_the_summary_to_a_masgsm_url(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    write(tmp_path / "people.csv", "name,phone\nA,05321112201\nB,05321112202\n")
    target = "masgsm://5300000000:{{ env.MASGSM_PASSWORD }}@MASGSMTEST/5329998877"
    pipeline = write(
        tmp_path / "notify.yaml",
        f"""
        name: notify-test
        recipients: {{csv: people.csv}}
        message: {{inline: "Merhaba {{{{ name }}}}"}}
        {FAST_REPORT}
        notify:
          - "{target}?base={sandbox.base_url}"
        """,
    )

    result = run_pipeline(pipeline, cli_env)

    assert result.returncode == 0, result.output
    texts = texts_by_number(sandbox)
    assert texts["5321112201"] == ["Merhaba A"] and texts["5321112202"] == ["Merhaba B"]
    [report] = texts["5329998877"]
    assert "notify-test" in report
    assert "2 delivered, 0 failed, 0 pending, 0 unknown" in report


def test_insufficient_balance_is_found_before_sending(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    with SandboxServer(SandboxConfig(balance=5, settle_ms=50)) as poor:
        rows = "".join(f"05321112{i:03d}\n" for i in range(6))
        write(tmp_path / "people.csv", "phone\n" + rows)
        pipeline = write(
            tmp_path / "poor.yaml",
            "name: poor\nrecipients: {csv: people.csv}\nmessage: {inline: Merhaba}\n" + FAST_REPORT,
        )

        result = run_pipeline(pipeline, env_for(poor, cli_env))

        assert result.returncode == 1, result.output
        assert "needs 6 credits but the balance is 5" in result.stderr
        assert poor.messages() == []
        assert query(tmp_path / "poor.journal.sqlite", "SELECT COUNT(*) FROM batches") == [(0,)]


def test_unregistered_title_is_refused_before_sending(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = write(
        tmp_path / "title.yaml",
        """
        name: title
        recipients: {inline: [{phone: "05321112201"}]}
        message: {inline: Merhaba, title: NOTMINE}
        """
        + FAST_REPORT,
    )

    result = run_pipeline(pipeline, cli_env)

    assert result.returncode == 2, result.output
    assert "'NOTMINE' is not registered" in result.stderr
    assert sandbox.messages() == []
    assert query(tmp_path / "title.journal.sqlite", "SELECT COUNT(*) FROM batches") == [(0,)]


def test_wrong_password_exits_2_sends_nothing_and_hides_the_password(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pipeline = write(
        tmp_path / "creds.yaml",
        "name: creds\nrecipients: {inline: [{phone: '05321112201'}]}\n"
        "message: {inline: Merhaba}\n" + FAST_REPORT,
    )

    result = run_pipeline(pipeline, {**cli_env, "MASGSM_PASSWORD": "Wr0ng-S3cret"})

    assert result.returncode == 2, result.output
    assert "answer 401" in result.stderr
    assert "Wr0ng-S3cret" not in result.output
    assert sandbox.messages() == []
    journal_files = list(tmp_path.glob("creds.journal.sqlite*"))
    assert journal_files and all(b"Wr0ng-S3cret" not in f.read_bytes() for f in journal_files)


# -- the shipped examples -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "extra"),
    [
        ("demo.yaml", []),
        ("invoice-reminder.yaml", []),
        ("alertmanager.yaml", ["--input", "pipelines/data/alertmanager-webhook.json"]),
        ("grafana.yaml", ["--input", "pipelines/data/grafana-webhook.json"]),
    ],
)
def test_example_pipelines_run_in_the_embedded_sandbox(
    example: str, extra: list[str], cli_env: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    copy_examples(project)
    repo_files = sorted(p.name for p in (REPO / "pipelines").iterdir())
    journal = tmp_path / "example.journal.sqlite"
    args = ["run", f"pipelines/{example}", "--sandbox", "--journal", str(journal), "--json"]

    result = run_cli([*args, *extra], offline(cli_env), cwd=project)

    assert result.returncode == 0, result.output
    assert_no_traceback(result)
    summary = summary_of(result)
    outcomes = summary["outcomes"]
    assert outcomes["delivered"] > 0
    assert outcomes["pending"] == outcomes["unknown"] == outcomes["not_sent"] == 0
    if example == "demo.yaml":
        assert (outcomes["delivered"], outcomes["failed"]) == (19, 1)  # one number ends in 99
    if example == "invoice-reminder.yaml":
        assert summary["filtered"] == 2 and outcomes["delivered"] == 4
        # A sandbox try-out must not overwrite the results of a real run.
        assert not (project / "pipelines" / "results").exists()
        assert "report.export: skipped, this was a --sandbox run." in result.stderr
    if example == "alertmanager.yaml":
        texts = [p["text"] for p in summary["plan"]["preview"]]
        assert texts[0].startswith("ALARM KRİTİK DiskFull (2): db-1: /var/lib/postgresql %97")
        assert ". Düzelen: 1 - http://alertmanager.example:9093" in texts[0]  # a warning
        assert "Düzelen" not in texts[1]  # paged for criticals only
    if example == "grafana.yaml":
        texts = sorted(p["text"] for p in summary["plan"]["preview"])
        assert texts[0].startswith("ALARM Grafana (1): HighCPU api-1 (A=93.2) - http://")
    assert sorted(p.name for p in (REPO / "pipelines").iterdir()) == repo_files


def test_example_dry_run_without_credentials_still_plans(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    copy_examples(project)
    env = offline({k: v for k, v in cli_env.items() if k not in ("MASGSM_USER", "MASGSM_PASSWORD")})

    result = run_cli(["run", "pipelines/invoice-reminder.yaml", "--dry-run"], env, cwd=project)

    assert result.returncode == 0, result.output
    assert_no_traceback(result)
    assert "No MASGSM service configured: the dry run skips balance and title." in result.stdout
    assert "4 message(s) (4 turkish)" in result.stdout
    assert "Sayın İsmail Işık" in result.stdout or "Sayın Ayşe Yılmaz" in result.stdout
    assert not list(project.rglob("*.journal.sqlite"))  # a dry run leaves no journal behind
