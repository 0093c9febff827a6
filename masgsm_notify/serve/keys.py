"""A payload's idempotency key: what makes two deliveries the same notification.

Alertmanager retries a webhook it did not see answered, and the two members of an HA pair each
deliver the same notification. Their bodies differ in small ways (`truncatedAlerts`, the order of
keys, a receiver's `externalURL`), so for payloads of Alertmanager's shape (and Grafana's, which
copies it) the key is made from what identifies the notification: the group, its status, and
each alert's fingerprint, status, start and end. Other senders can name their own key in an
`Idempotency-Key` header; without one, the body's bytes are the key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

ALERT_FIELDS = ("fingerprint", "status", "startsAt", "endsAt")


def idempotency_key(document: Any, body: bytes, header: str | None = None) -> str:
    """A hex digest: `am:` for Alertmanager's shape, `hdr:` for a header, `body:` otherwise,
    hashed so that keys of different kinds never meet."""
    identity = alertmanager_identity(document)
    if identity is not None:
        return _digest(b"am:" + identity)
    if header and header.strip():
        return _digest(b"hdr:" + header.strip().encode("utf-8", "replace"))
    return _digest(b"body:" + body)


def alertmanager_identity(document: Any) -> bytes | None:
    """The canonical bytes of a notification of Alertmanager's shape, or None for another
    shape: a `groupKey`, and `alerts` each with a `fingerprint`."""
    if not isinstance(document, dict) or not isinstance(document.get("groupKey"), str):
        return None
    alerts = document.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        return None
    if not all(isinstance(a, dict) and isinstance(a.get("fingerprint"), str) for a in alerts):
        return None
    parts = sorted([str(alert.get(name, "")) for name in ALERT_FIELDS] for alert in alerts)
    canonical = [document["groupKey"], str(document.get("status", "")), parts]
    return json.dumps(canonical, ensure_ascii=False, separators=(",", ":")).encode()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
