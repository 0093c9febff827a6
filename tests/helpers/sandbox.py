"""The sandbox's account, and what it accepted, read the ways the tests need."""

from __future__ import annotations

import time
from collections import Counter

import requests

from masgsm_notify import MasgsmClient
from masgsm_notify.client import DeliveryReport
from masgsm_notify.sandbox import SandboxServer

SANDBOX_USER = "5300000000"
SANDBOX_PASSWORD = "sandbox"


def sandbox_messages(base_url: str) -> list[dict]:
    """What the sandbox accepted, read over HTTP from its inspection endpoint."""
    root = base_url.rsplit("/MasApiV2", 1)[0]
    return requests.get(f"{root}/_sandbox/messages", timeout=10).json()


def numbers_sent(server: SandboxServer) -> Counter:
    """How many times the sandbox accepted each number."""
    return Counter(m["number"] for m in server.messages())


def texts_by_number(server: SandboxServer) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for message in server.messages():
        found.setdefault(message["number"], []).append(message["text"])
    return found


def accepted(server: SandboxServer) -> Counter:
    """How many times the sandbox accepted each (number, text)."""
    return Counter((m["number"], m["text"]) for m in server.messages())


def wait_settled(client: MasgsmClient, message_id: str, timeout: float = 5.0) -> DeliveryReport:
    """Poll the type-2 report until nothing is pending (or `timeout` s passed); the last one."""
    deadline = time.monotonic() + timeout
    while True:
        report = client.report(message_id)
        if not report.pending or time.monotonic() > deadline:
            return report
        time.sleep(0.02)
