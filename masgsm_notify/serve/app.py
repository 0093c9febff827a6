"""The HTTP face of serve, as a WSGI application: `POST /hooks/<pipeline>`, `/healthz`, `/metrics`.

Every answer is JSON (but /metrics) with a status a webhook sender acts on: 202 stored (or
already stored), 400 not JSON, 401 no or wrong token, 404 no such pipeline, 405 wrong method, 413
too large, 503 cannot store now (Alertmanager and most senders retry a 5xx and give up on a 4xx).
The token is compared in constant time and never logged; the access log names the method, path,
status and time only.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .intake import Intake, StoreUnavailable
from .keys import idempotency_key
from .metrics import CONTENT_TYPE, Metrics
from .queue import Arrival

log = logging.getLogger("masgsm_notify.serve.access")

HOOK_PATH = re.compile(r"/hooks/([a-z0-9_-]+)")
PIPELINE_NAME = re.compile(r"[a-z0-9_-]+")
StartResponse = Callable[..., Any]

_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    503: "Service Unavailable",
}


class HookApp:
    """Accepts payloads into the queue through `intake`; knows nothing of running them."""

    def __init__(
        self,
        pipelines: Iterable[str],
        intake: Intake,
        metrics: Metrics,
        *,
        token: str | None,
        max_body: int,
    ):
        self.pipelines = frozenset(pipelines)
        self.intake = intake
        self.metrics = metrics
        self._token = token.encode() if token else None
        self.max_body = max_body
        self.accepting = True  # False once a stop began: /healthz says 503, hooks answer 503
        self.in_flight = 0  # requests being answered (a stop waits for them)
        self._counting = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        started = time.perf_counter()
        with self._counting:
            self.in_flight += 1
        try:
            status, headers, body, note = self._answer(environ)
        finally:
            with self._counting:
                self.in_flight -= 1
        self.metrics.count("masgsm_http_requests_total", code=str(status))
        start_response(f"{status} {_REASONS.get(status, '')}", headers)
        log.info(
            "%s %s %d%s (%.1f ms)",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            status,
            f" {note}" if note else "",
            (time.perf_counter() - started) * 1000,
        )
        return [body]

    def _answer(self, environ: dict[str, Any]) -> tuple[int, list, bytes, str]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        if path == "/healthz":
            if method not in ("GET", "HEAD"):
                return _json(405, {"error": "use GET"}, [("Allow", "GET, HEAD")])
            healthy = self.accepting and self.intake.healthy
            state = "ok" if healthy else ("stopping" if not self.accepting else "cannot store")
            return _json(200 if healthy else 503, {"status": state})
        if path == "/metrics":
            if method not in ("GET", "HEAD"):
                return _json(405, {"error": "use GET"}, [("Allow", "GET, HEAD")])
            page = self.metrics.render().encode()
            headers = [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(page)))]
            return 200, headers, page, ""
        match = HOOK_PATH.fullmatch(path)
        if match is None:
            return _json(404, {"error": "not found; payloads go to POST /hooks/<pipeline name>"})
        if method != "POST":
            return _json(405, {"error": "use POST"}, [("Allow", "POST")])
        if not self._authorized(environ.get("HTTP_AUTHORIZATION", "")):
            return _json(
                401,
                {"error": "missing or wrong Authorization: Bearer token"},
                [("WWW-Authenticate", 'Bearer realm="masgsm-notify"')],
            )
        name = match.group(1)
        if name not in self.pipelines:
            return _json(404, {"error": f"no pipeline named {name!r} is served here"})
        return self._hook(name, environ)

    def _hook(self, name: str, environ: dict[str, Any]) -> tuple[int, list, bytes, str]:
        too_large = {"error": f"the body is larger than {self.max_body:,} bytes (--max-body)"}
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _json(400, {"error": "Content-Length is not a number"})
        if length > self.max_body:
            return _json(413, too_large)
        body = environ["wsgi.input"].read(self.max_body + 1)
        if len(body) > self.max_body:
            return _json(413, too_large)
        if not self.accepting:
            return _json(503, {"error": "stopping; send it again shortly"}, _RETRY_AFTER)
        try:
            document = json.loads(body.decode("utf-8-sig"))
        except UnicodeDecodeError:
            return _json(400, {"error": "the body is not UTF-8 text"})
        except json.JSONDecodeError as error:
            where = f"line {error.lineno} column {error.colno}"
            return _json(400, {"error": f"the body is not JSON: {where}: {error.msg}"})
        key = idempotency_key(document, body, environ.get("HTTP_IDEMPOTENCY_KEY"))
        try:
            status, payload_id = self.intake.submit(Arrival(name, key, body))
        except StoreUnavailable as error:
            return _json(503, {"error": str(error)}, _RETRY_AFTER)
        counter = (
            "masgsm_payloads_accepted_total"
            if status == "accepted"
            else "masgsm_payloads_duplicate_total"
        )
        self.metrics.count(counter, pipeline=name)
        return (*_json(202, {"status": status, "id": payload_id})[:3], f"{status} #{payload_id}")

    def _authorized(self, header: str) -> bool:
        if self._token is None:
            return True
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        # WSGI gives header bytes decoded as Latin-1: the raw bytes again, for a UTF-8 token.
        return hmac.compare_digest(given.strip().encode("latin-1", "replace"), self._token)


_RETRY_AFTER = [("Retry-After", "5")]


def _json(
    status: int, document: dict[str, Any], extra: list[tuple[str, str]] | None = None
) -> tuple[int, list, bytes, str]:
    body = json.dumps(document, ensure_ascii=False).encode() + b"\n"
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        *(extra or []),
    ]
    return status, headers, body, ""
