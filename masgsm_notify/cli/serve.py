"""`serve` and `queue`: pipelines as a durable webhook receiver, and its queue."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import click

from ..errors import UsageError
from ..pipeline import parse_duration
from ..serve.queue import PayloadState, existing_queue, queue_path, served
from ..serve.server import Server, ServeSettings, read_token
from .common import json_option

DEFAULT_MAX_BODY = 1024 * 1024


def _duration(option: str, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=option) from None


journal_option = click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="One journal file for every pipeline served (SQLite); the queue is kept beside it "
    "(NAME.queue.sqlite). Default: journals/<pipeline name>.sqlite and queue.sqlite in the "
    "state directory (MASGSM_STATE_DIR).",
)


@click.command()
@click.argument(
    "pipeline_files",
    metavar="PIPELINE.yaml...",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on; 0 picks a free one (the first line of output says which).",
)
@journal_option
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A file whose first line is the token senders give as Authorization: Bearer TOKEN.  "
    "[env var: MASGSM_SERVE_TOKEN]",
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1024),
    default=DEFAULT_MAX_BODY,
    show_default=True,
    metavar="BYTES",
    help="The largest payload accepted; larger ones are answered 413.",
)
@click.option(
    "--dedupe-window",
    default="10m",
    show_default=True,
    metavar="DURATION",
    help="A payload whose idempotency key was accepted this recently is answered 202 "
    "duplicate and not run again; 0 turns it off.",
)
@click.option(
    "--retry-for",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="How long a payload is retried after runtime errors (MASGSM unreachable, balance out) "
    "before it fails.",
)
@click.option(
    "--fsync",
    is_flag=True,
    help="Flush each commit of accepted payloads to disk before answering 202 (power-loss "
    "durability; payloads arriving together share one flush).",
)
def serve(
    pipeline_files: tuple[Path, ...],
    host: str,
    port: int,
    journal: Path | None,
    token_file: Path | None,
    max_body: int,
    dedupe_window: str,
    retry_for: str,
    fsync: bool,
) -> None:
    """Receive webhooks (Alertmanager, Grafana, any JSON) and run pipelines on them.

    POST /hooks/NAME with a JSON body runs pipeline NAME with the body as its input. The
    answer, 202, comes once the payload is stored: from then on it is sent even if serve is
    killed, once serve runs again. Each pipeline's payloads run in order; reports are read in
    the background. The first line of output is the base URL. Stops on SIGTERM or Ctrl-C,
    finishing the payload being sent.

    \b
    Examples:
      masgsm-notify serve pipelines/alertmanager.yaml
      MASGSM_SERVE_TOKEN=... masgsm-notify serve pipelines/*.yaml --host 0.0.0.0 --port 9095
      curl -X POST --data @alert.json http://127.0.0.1:8080/hooks/alertmanager
    """
    settings = ServeSettings(
        files=list(pipeline_files),
        host=host,
        port=port,
        journal=journal,
        token=read_token(token_file),
        max_body=max_body,
        dedupe_window=_duration("--dedupe-window", dedupe_window),
        fsync=fsync,
        retry_for=_duration("--retry-for", retry_for),
    )
    server = Server(settings, lambda text: click.echo(text, err=True))
    signals: list[int] = []

    def on_signal(number: int, frame: FrameType | None) -> None:
        signals.append(number)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        url = server.start()
        click.echo(url)
        sys.stdout.flush()
        while not signals:
            time.sleep(0.2)
        click.echo(f"Stopping ({signal.Signals(signals[0]).name}): no new payloads.", err=True)
        finished = server.stop(patience=lambda: len(signals) < 2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not finished:
        click.echo("Stopped at once: the payload being sent resumes at the next start.", err=True)
        sys.exit(128 + signals[-1])
    click.echo("Stopped.", err=True)


@click.group()
def queue() -> None:
    """serve's payloads: list them, retry a failed one.

    \b
    Examples:
      masgsm-notify queue list
      masgsm-notify queue list --state failed --json
      masgsm-notify queue retry 42
    """


@queue.command("list")
@journal_option
@click.option(
    "--state",
    type=click.Choice([str(s) for s in PayloadState]),
    help="Only payloads in this state.",
)
@click.option("--pipeline", metavar="NAME", help="Only payloads of this pipeline.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="How many payloads, newest first.",
)
@json_option
def list_payloads(
    journal: Path | None, state: str | None, pipeline: str | None, limit: int, as_json: bool
) -> None:
    """List serve's payloads, newest first: waiting, running, done (with their outcome) and
    failed (with the error).

    \b
    Examples:
      masgsm-notify queue list
      masgsm-notify queue list --state failed --json
    """
    path = queue_path(journal)
    store = existing_queue(path)
    if store is None:
        if as_json:
            click.echo("[]")
        else:
            click.echo(f"No queue at {path}: serve has not run with this state directory.")
        return
    with store:
        rows = store.listing(state, pipeline, limit)
    if as_json:
        click.echo(json.dumps([row.to_dict() for row in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(f"No payloads in {path}.")
        return
    for row in rows:
        click.echo(_describe(row.to_dict()))


def _describe(row: dict) -> str:
    received = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["received_at"]))
    head = f"#{row['id']}  {row['pipeline']}  {row['state']}  {received}  run key {row['run_key']}"
    details = []
    if row["attempts"] > 1:
        details.append(f"{row['attempts']} attempts")
    if row["state"] == PayloadState.DONE:
        details.append(f"{row['texts']} text(s) sent")
        outcome = row["outcome"]
        if outcome:
            counts = ", ".join(f"{k} {v}" for k, v in outcome["outcomes"].items() if v)
            verdict = "FAIL" if outcome["failing"] else "OK"
            details.append(f"{counts or 'no recipients'}; fail_if {verdict}")
        else:
            details.append("reports still being read")
    if row["state"] == PayloadState.WAITING and row["not_before"] > time.time():
        at = time.strftime("%H:%M:%S", time.localtime(row["not_before"]))
        details.append(f"next try at {at}")
    if row["error"] and row["state"] != PayloadState.DONE:
        details.append(row["error"])
    return head + "".join(f"\n    {line}" for line in details)


@queue.command("retry")
@click.argument("payload_id", metavar="ID", type=click.IntRange(min=1))
@journal_option
def retry(payload_id: int, journal: Path | None) -> None:
    """Run a failed payload again. Its run resumes under the same run key: texts it already
    sent do not go again.

    \b
    Examples:
      masgsm-notify queue retry 42
    """
    path = queue_path(journal)
    running = served(path)
    store = existing_queue(path)
    if store is None:
        raise UsageError(f"No queue at {path}: serve has not run with this state directory.")
    with store:
        found = store.retry(payload_id)
        where = (
            f"serve at {store.server()} runs it next" if running else "it runs when serve starts"
        )
    click.echo(
        f"Payload {payload_id} ({found.pipeline}, run key {found.run_key}) waits again; {where}."
    )


COMMANDS = (serve, queue)
