"""Headless Chromium driven over its DevTools protocol, for tests of the run's page.

One websocket to the browser; the page is a target attached in flat mode, so every command and
event carries its session id. What the tests need: open a file, run JavaScript, read what the
page logged and which requests it made, switch scripts off, emulate print, take a screenshot.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium reaches out to Google's hosts on its own.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def chromium_or_skip() -> str:
    """Chromium's path; where it is missing, CI fails (it must install it) and elsewhere the test
    is skipped, saying how to get it."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    why = (
        "Chromium is not installed: `make system-deps` installs it (as root, from Debian's "
        "packages: apt-get install chromium)"
    )
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


class Page:
    """One tab, with what it logged and requested since it was opened."""

    def __init__(self, browser: Browser, session: str):
        self.browser = browser
        self.session = session
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        self._loaded = False

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            texts = [str(arg.get("value", arg.get("description", ""))) for arg in params["args"]]
            self.console_errors.append(" ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.console_errors.append(
                details.get("exception", {}).get("description") or details.get("text", "")
            )
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.console_errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Page.loadEventFired":
            self._loaded = True

    def open(self, url: str) -> None:
        self._loaded = False
        self.send("Page.navigate", url=url)
        self.browser.wait_until(lambda: self._loaded, f"{url} to load")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited); a thrown error fails."""
        answer = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            raise AssertionError(f"{expression!r} threw: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def screenshot(self, path: Path, width: int = 1200, height: int | None = None) -> Path:
        """The page as a PNG: all of it, or its first `height` pixels."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        height = height or self.evaluate("document.documentElement.scrollHeight")
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = self.send(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def print_pdf(self) -> bytes:
        return base64.b64decode(self.send("Page.printToPDF", printBackground=True)["data"])


class Browser:
    """A headless Chromium of its own (a new empty profile), ended when the block ends."""

    def __init__(self, websocket: Any):
        self.ws = websocket
        self.ids = itertools.count(1)
        self.pages: dict[str, Page] = {}

    def send(self, method: str, params: dict[str, Any], session: str | None = None) -> dict:
        message_id = next(self.ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            answer = self._receive()
            if answer.get("id") == message_id:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def wait_until(self, done: Any, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self._receive()

    def _receive(self) -> dict[str, Any]:
        message = json.loads(self.ws.recv())
        page = self.pages.get(message.get("sessionId", ""))
        if page is not None and "method" in message:
            page.on_event(message["method"], message.get("params", {}))
        return message

    def new_page(self, scripts: bool = True) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        self.pages[session] = page
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        if not scripts:
            page.send("Emulation.setScriptExecutionDisabled", value=True)
        return page

    @classmethod
    @contextmanager
    def start(cls) -> Iterator[Browser]:
        import websocket  # the test dependency websocket-client

        chromium = chromium_or_skip()
        with tempfile.TemporaryDirectory(prefix="masgsm-chromium-") as profile:
            process = subprocess.Popen(
                [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                address = _devtools_address(process)
                ws = websocket.create_connection(address, timeout=30, suppress_origin=True)
                try:
                    yield cls(ws)
                finally:
                    ws.close()
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _devtools_address(process: subprocess.Popen) -> str:
    """The browser's websocket address, from the line Chromium prints when it is ready. Its
    standard error is read to the end by a thread, so a chatty browser never blocks on it."""
    assert process.stderr is not None
    stream = process.stderr
    lines: list[str] = []
    found = threading.Event()

    def drain() -> None:
        for line in stream:
            lines.append(line)
            if _LISTENING.search(line):
                found.set()
        found.set()

    threading.Thread(target=drain, daemon=True).start()
    found.wait(60)
    for line in lines:
        match = _LISTENING.search(line)
        if match:
            return match.group(1)
    raise AssertionError("Chromium did not start:\n" + "".join(lines[-20:]))
