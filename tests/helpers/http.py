"""Hand-made HTTP servers on 127.0.0.1, for answers the sandbox never gives, and a closed port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers in one call."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Head and body go out in two writes: without this the body waits ~40 ms for an ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args) -> None:
        pass

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(
        self, status: int, data: bytes = b"", content_type: str = "text/html", **headers: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """`handler` serving on a free loopback port (yielded) until the block ends."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedServer:
    """A tiny HTTP server that records every request and answers from a script.

    `answers` is a queue of (status, content type, body); a body may be a callable that gets the
    request body and returns the answer (to echo it). When the queue is empty `default` answers.
    """

    requests: list[Recorded] = field(default_factory=list)
    answers: list[tuple[int, str, bytes | Callable[[bytes], bytes]]] = field(default_factory=list)
    default: tuple[int, str, bytes] = (200, "application/json", b'{"code":1,"id":"777"}')
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/MasApiV2"

    def answer(self, body, status: int = 200, content_type: str = "text/html") -> None:
        self.answers.append((status, content_type, body))

    @contextmanager
    def running(self) -> Iterator[ScriptedServer]:
        script = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self._answer(b"")

            def do_POST(self) -> None:
                self._answer(self.body())

            def _answer(self, body: bytes) -> None:
                script.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                status, kind, data = script.answers.pop(0) if script.answers else script.default
                self.reply(status, data(body) if callable(data) else data, kind)

        with serving(Handler) as self.port:
            yield self
