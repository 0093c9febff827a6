"""The script a developer would write instead of using masgsm-notify: the benchmark's baseline.

    python benchmarks/bare_script.py RECIPIENTS.csv TEMPLATE.j2 BASE_URL

It reads the CSV, renders each text with Jinja (the project's Turkish filters in a plain
environment, as such a script would borrow them), posts type-1 batches of 500 with requests (as
form fields, which requests encodes), then polls every batch's delivery report until nothing is
pending. No journal, no ledger, no validation, no pre-flight, no retries: nothing that makes a
re-run safe. Prints one JSON line: texts sent and seconds taken.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from itertools import islice
from pathlib import Path

import jinja2
import requests

from masgsm_notify.filters import FILTERS

USER, PASSWORD, TITLE = "5300000000", "sandbox", "MASGSMTEST"
BATCH = 500


def main(recipients: str, template: str, base_url: str) -> None:
    started = time.perf_counter()
    env = jinja2.Environment()
    env.filters.update(FILTERS)
    render = env.from_string(Path(template).read_text(encoding="utf-8")).render
    url = f"{base_url}/api_post.php"
    session = requests.Session()
    ids, sent = [], 0
    with open(recipients, encoding="utf-8", newline="") as file:
        rows = csv.DictReader(file)
        while batch := list(islice(rows, BATCH)):
            form = {"type": "1", "u": USER, "p": PASSWORD, "title": TITLE, "lang": "tr"}
            form["numbers"] = ",".join(row["phone"].lstrip("0") for row in batch)
            form.update((f"message[{i}]", render(row).strip()) for i, row in enumerate(batch))
            answer = session.post(url, data=form, timeout=30).json()
            ids.append(answer["id"])
            sent += len(batch)
    pending = list(ids)
    while pending:
        time.sleep(0.25)
        reports = (
            session.post(url, data={"type": "2", "u": USER, "p": PASSWORD, "id": i}).json()
            for i in pending
        )
        pending = [i for i, report in zip(pending, reports, strict=True) if report["Bekleyen"]]
    print(json.dumps({"sent": sent, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
