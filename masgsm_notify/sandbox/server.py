"""The sandbox's HTTP shell: the provider's URLs, inspection endpoints and injected faults.

Faults are what a client of a real provider meets and cannot otherwise test: latency, HTTP 503
before anything is processed, HTTP 500 after the send was recorded, an answer that comes after the
client stopped waiting, and a connection dropped after the request was read, either before or after
the send was recorded. Each injected fault is logged with the numbers of its request, so a test can
check a client's account of what happened against what the server really did.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .state import SandboxConfig, SandboxState

API_PREFIX = "/MasApiV2"
FAULTS = ("503", "500", "stall", "drop_before", "drop_after")
# Faults after which the provider has recorded the send: a client cannot know whether it went.
RECORDING_FAULTS = frozenset({"500", "stall", "drop_after"})
# The largest request body read: a full type-1 batch of long Turkish texts is a few MB.
MAX_BODY = 32 * 1024 * 1024


class BadRequest(Exception):
    """A request the sandbox answers with `status` and a JSON error, not a dropped connection."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _whole_number(query: dict[str, str], name: str, default: int | None) -> int | None:
    """A query parameter that must be a whole number of 0 or more."""
    if name not in query:
        return default
    text = query[name]
    if not text.isdigit() or not text.isascii():
        raise BadRequest(400, f"{name} must be a whole number of 0 or more, not {text!r}")
    return int(text)


@dataclass
class FaultPlan:
    """Which requests fail, and how: random `rates` per fault, or a `queue` for the next ones."""

    rates: dict[str, float] = field(default_factory=dict)
    queue: list[str] = field(default_factory=list)
    scope: str = "send"  # "send": only requests that send; "all": every API request
    stall_ms: int = 35_000
    seed: int | None = None

    def __post_init__(self) -> None:
        unknown = (set(self.rates) | set(self.queue)) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        if self.scope not in ("send", "all"):
            raise ValueError(f"fault scope must be 'send' or 'all', not {self.scope!r}")
        self._random = random.Random(self.seed)

    def draw(self) -> str | None:
        if self.queue:
            return self.queue.pop(0)
        roll = self._random.random()
        for fault in FAULTS:
            rate = self.rates.get(fault, 0.0)
            if roll < rate:
                return fault
            roll -= rate
        return None


def form_pairs(body: str) -> list[tuple[str, str]]:
    """`parse_qsl`, but several times faster on the bodies a bulk send posts.

    Every key and value is unescaped by one call of C's `escape_decode` on the whole body:
    percent-escapes become `\\xHH`, and the fields are kept apart by NUL characters, which no
    field holds before unescaping and none can borrow a hex digit across. A body that could
    confuse that (a raw backslash or NUL, an escaped NUL, raw non-ASCII, a malformed escape)
    takes the standard library's path.
    """
    if "\\" in body or "\x00" in body or "%00" in body:
        return parse_qsl(body, keep_blank_values=True)
    fields: list[str] = []
    for pair in body.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            fields += (key, value)
    if not fields:
        return []
    escaped = "\x00".join(fields).replace("+", " ").replace("%", "\\x")
    try:
        plain = codecs.escape_decode(escaped.encode("ascii"))[0].decode("utf-8", "replace")
    except (UnicodeEncodeError, ValueError):
        return parse_qsl(body, keep_blank_values=True)
    parts = iter(plain.split("\x00"))
    return list(zip(parts, parts, strict=True))


def parse_form(body: str) -> dict[str, Any]:
    """PHP's `parse_str`: `a[0]=x&a[1]=y&b[k]=z` becomes {'a': {'0': 'x', '1': 'y'}, 'b': {...}}."""
    fields: dict[str, Any] = {}
    for key, value in form_pairs(body):
        bracket = key.find("[")
        if bracket <= 0 or not key.endswith("]"):
            fields[key] = value
            continue
        target = fields.setdefault(key[:bracket], {})
        if not isinstance(target, dict):
            continue
        parts = key[bracket + 1 : -1].split("][")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                break
        else:
            target[parts[-1] or str(len(target))] = value
    return fields


def _is_send(path: str, fields: dict[str, Any]) -> bool:
    if path.endswith("/api_get.php"):
        return True
    if path.endswith("/api_post.php"):
        return str(fields.get("type")) in ("0", "1")
    return str(fields.get("apiNo")) in ("1", "5")


def _numbers_of(fields: dict[str, Any]) -> list[str]:
    numbers = fields.get("numbers") or fields.get("numaralar") or ""
    if isinstance(numbers, dict):
        return [str(n) for n in numbers.values()]
    return [n for n in str(numbers).split(",") if n]


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Without this each keep-alive answer waits on the peer's delayed ACK (about 40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sandbox.opened(self.connection)

    def finish(self) -> None:
        self.sandbox.closed(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet by default: the sandbox serves tests and benchmarks."""

    def do_GET(self) -> None:
        try:
            self._get()
        except BadRequest as error:
            self._reply(error.status, {"error": str(error)})

    def do_POST(self) -> None:
        try:
            body = self._body()
        except BadRequest as error:
            # The body's extent is unknown, so the connection cannot carry another request.
            self.close_connection = True
            self._reply(error.status, {"error": str(error)})
            return
        self._post(body)

    def _body(self) -> str:
        """The request body, as far as its Content-Length says (none given: empty), bounded."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise BadRequest(411, "send the body with a Content-Length, not chunked")
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isdigit() or not declared.isascii():
            raise BadRequest(400, f"Content-Length must be a whole number, not {declared!r}")
        length = int(declared)
        if length > MAX_BODY:
            raise BadRequest(413, f"the body is over {MAX_BODY:,} bytes")
        return self.rfile.read(length).decode("utf-8", "replace") if length else ""

    def _get(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_sandbox/messages":
            query = dict(parse_qsl(url.query))
            offset = _whole_number(query, "offset", 0) or 0
            self._reply(
                200, self.sandbox.state.messages(offset, _whole_number(query, "limit", None))
            )
        elif url.path == "/_sandbox/state":
            self._reply(200, {**self.sandbox.state.summary(), "faults": self.sandbox.fault_log})
        elif url.path == f"{API_PREFIX}/api_get.php":
            self._api(url.path, parse_form(url.query))
        else:
            self._reply(404, {"error": f"no such path {url.path}"})

    def _post(self, body: str) -> None:
        path = urlsplit(self.path).path
        if path == "/_sandbox/reset":
            self.sandbox.reset()
            self._reply(200, {"reset": True})
        elif path == "/_sandbox/faults":
            try:
                self.sandbox.faults = FaultPlan(**json.loads(body or "{}"))
            except (TypeError, ValueError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            self._reply(200, {"faults": True})
        elif path in (f"{API_PREFIX}/api_post.php", f"{API_PREFIX}/", API_PREFIX):
            self._api(path, parse_form(body))
        else:
            self._reply(404, {"error": f"no such path {path}"})

    @property
    def sandbox(self) -> SandboxServer:
        return self.server.sandbox

    def _api(self, path: str, fields: dict[str, Any]) -> None:
        sandbox = self.sandbox
        if sandbox.latency_ms:
            time.sleep(sandbox.latency_ms / 1000)
        if sandbox.stopping.is_set():  # stopped meanwhile: a provider that is gone does nothing
            self._drop()
            return
        plan = sandbox.faults
        fault = plan.draw() if plan and (plan.scope == "all" or _is_send(path, fields)) else None
        if fault:
            sandbox.log_fault(fault, path, fields)
        if fault == "503":
            self._reply(503, "Service Unavailable")
            return
        if fault == "drop_before":
            self._drop()
            return
        state = sandbox.state
        if path.endswith("/api_post.php"):
            answer = state.handle_v2(fields)
        elif path.endswith("/api_get.php"):
            answer = state.handle_get(fields)
        else:
            answer = state.handle_legacy(fields)
        if fault == "drop_after":
            self._drop()
        elif fault == "500":
            self._reply(500, "Internal Server Error")
        else:
            if fault == "stall" and plan:
                sandbox.stopping.wait(plan.stall_ms / 1000)
            self._reply(200, answer)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # stop() may have shut it already
            self.connection.shutdown(socket.SHUT_RDWR)

    def _reply(self, status: int, payload: Any) -> None:
        is_text = isinstance(payload, str)
        data = (payload if is_text else json.dumps(payload, ensure_ascii=False)).encode()
        kind = "text/html; charset=UTF-8" if is_text else "application/json"
        closing = "Connection: close\r\n" if self.close_connection else ""
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(data)}\r\n{closing}\r\n"
        ).encode()
        try:
            self.wfile.write(head + data)
        except OSError:
            self.close_connection = True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: SandboxServer
    server_address: tuple[str, int]  # once bound, the IPv4 socket's own (host, port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed, timed out) is part of what the sandbox is for:
        not worth a traceback on standard error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """A local MASGSM on 127.0.0.1: start it, point a client at `base_url`, inspect, stop.

    Use as a context manager in tests (`with SandboxServer() as sandbox:`), or call
    `serve_forever()` in the foreground as `masgsm-notify sandbox serve` does. `stop()` closes
    every connection, as a provider that goes down would; a server started on the same `port`
    with the stopped one's `state` is that provider coming back.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: int = 0,
        faults: FaultPlan | None = None,
        state: SandboxState | None = None,
    ):
        self.state = state or SandboxState(config)
        self.latency_ms = latency_ms
        self.faults = faults
        self.fault_log: list[dict[str, Any]] = []
        self._fault_lock = threading.Lock()
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()  # open client connections, for stop()
        self._connections_lock = threading.Lock()
        self._httpd = _HTTPServer((host, port), SandboxHandler)
        self._httpd.sandbox = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"

    def log_fault(self, fault: str, path: str, fields: dict[str, Any]) -> None:
        with self._fault_lock:
            self.fault_log.append(
                {
                    "fault": fault,
                    "path": path,
                    "numbers": _numbers_of(fields),
                    "recorded": fault in RECORDING_FAULTS,
                    "at": time.time(),
                }
            )

    def opened(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def reset(self) -> None:
        """Clear messages and fault history; restore the configured accounts and balance."""
        self.state.reset()
        with self._fault_lock:
            self.fault_log.clear()

    def messages(self) -> list[dict[str, Any]]:
        return self.state.messages()

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._connections_lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
