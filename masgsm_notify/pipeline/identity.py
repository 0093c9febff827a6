"""A run's identity: its run key, and the fingerprint of what decides who gets which text.

The fingerprint covers the recipients and their data, the message and every template it
includes, `vars`, `--input` and the account: change any of them and the texts may change, so a
derived run key changes too and a named one is not resumed with other texts. It leaves out what
only decides how texts go (`send:`), how they are checked (`report:`), who hears of it
(`notify:`), and comments: editing those resumes the run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..errors import PipelineError
from ..render import compile_text, render, template_source, template_sources
from ..service import Service
from ..state.ledger import account_key
from .spec import Pipeline

SANDBOX_ACCOUNT = "embedded sandbox"


@dataclass(frozen=True)
class RunIdentity:
    run_key: str
    fingerprint: str
    account: str | None  # who the run sends as (user, base URL, title), for its identity
    ledger_account: str | None  # the sent ledger's account; None where no ledger is kept


def account_label(service: Service) -> str:
    return f"{service.user} at {service.base_url}, title {service.title}"


def identify(
    pipeline: Pipeline,
    env: Any,
    *,
    run_key: str | None,
    input_bytes: bytes,
    source_bytes: bytes,
    service: Service | None,
    sandbox: bool,
) -> RunIdentity:
    """The run's identity. Every embedded sandbox is one account, whatever port it has, and
    keeps no ledger."""
    if sandbox:
        account, ledger = SANDBOX_ACCOUNT, None
    elif service is not None:
        account, ledger = account_label(service), account_key(service.base_url, service.user)
    else:
        account, ledger = None, None
    fingerprint = _fingerprint(pipeline, env, input_bytes, source_bytes, account)
    return RunIdentity(_run_key(pipeline, env, run_key, fingerprint), fingerprint, account, ledger)


def _fingerprint(
    pipeline: Pipeline, env: Any, input_bytes: bytes, source_bytes: bytes, account: str | None
) -> str:
    digest = hashlib.sha256(pipeline.identity.encode())
    digest.update(json.dumps(env.globals["vars"], sort_keys=True, default=str).encode())
    digest.update(input_bytes)
    digest.update(source_bytes)
    digest.update(f"\0{account}".encode())
    message = pipeline.message
    main = (
        template_source(env, message.template, message.where)
        if message.template
        else message.inline or ""
    )
    for text in template_sources(env, main):
        digest.update(text.encode())
    return digest.hexdigest()


def _run_key(pipeline: Pipeline, env: Any, chosen: str | None, fingerprint: str) -> str:
    if chosen:
        return chosen
    if pipeline.run_key:
        where = pipeline.run_key_where
        key = render(compile_text(env, pipeline.run_key, where), {}, where).strip()
        if not key:
            raise PipelineError(f"{where}: run_key rendered empty")
        return key
    return f"{pipeline.name}-{fingerprint[:12]}"
