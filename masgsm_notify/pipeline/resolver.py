"""Which MASGSM a run talks to: the pipeline's `service:` (a URL, or a mapping of settings), the
settings `config.resolve` finds, or a sandbox.

The service URL is a template (`masgsm://{{ env.MASGSM_USER }}:{{ env.MASGSM_PASSWORD }}@ACME`),
so reading it needs the secrets. Some questions do not: which title and language it names, for a
sandbox run or a dry run on a machine without the credentials. Those read it with stand-ins.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import MasgsmError, UsageError
from ..render import RenderError, compile_text, render
from ..service import Service, credentials_missing
from .spec import Pipeline

SANDBOX_TITLE = "MASGSMTEST"


class ServiceResolver:
    """Resolves the service of one pipeline, in the environment `env` renders templates in."""

    def __init__(self, pipeline: Pipeline, env: Any):
        self.pipeline = pipeline
        self.env = env

    def configured(self) -> Service:
        """The real service: the URL with the real environment, else the settings; title
        required."""
        spec = self.pipeline
        if isinstance(spec.service, str) and spec.service:
            try:
                service = Service.from_url(self._url(spec.service, os.environ))
            except RenderError:
                raise
            except UsageError as error:
                raise UsageError(f"{spec.service_where}: service: {error}") from None
        else:
            service = Service.from_settings(spec.service or None, where=spec.service_where)
        if spec.message.title:
            service = dataclasses.replace(service, title=spec.message.title)
        if not service.title:
            raise UsageError(
                f"{spec.path}: no title (sender ID): put it in service: (title: ACME, or "
                "masgsm://USER:PASS@TITLE), message.title, MASGSM_TITLE, or the config file."
            )
        return service

    def without_secrets(self) -> Service | None:
        """The service URL read with stand-ins for the environment: its title, language, base.

        None when there is no URL, or it cannot be read even so. A mapping is read the same way.
        """
        if isinstance(self.pipeline.service, dict):
            try:
                return Service.from_settings(self.pipeline.service, stand_ins=True)
            except MasgsmError:
                return None
        if not self.pipeline.service:
            return None
        try:
            return Service.from_url(
                self._url(
                    self.pipeline.service,
                    collections.defaultdict(lambda: "stand-in", os.environ),
                )
            )
        except MasgsmError:
            return None

    def credentials_missing(self) -> bool:
        """True when the service fails only for want of credentials in the environment.

        A dry run may go on without them; a service URL that is wrong in itself stays an error.
        """
        if not isinstance(self.pipeline.service, str) or not self.pipeline.service:
            return credentials_missing(self.pipeline.service or None)
        try:
            self._url(self.pipeline.service, os.environ)
        except RenderError:  # a variable the URL needs is not set
            return self.without_secrets() is not None
        return False

    def lang(self, service: Service | None) -> str:
        """The language texts are planned and sent in: the message's, else the service's."""
        chosen = self.pipeline.message.lang
        if chosen == "auto":
            source = service or self.without_secrets()
            return source.lang if source else "auto"
        return chosen

    @contextlib.contextmanager
    def sandbox(self) -> Iterator[Service]:
        """An embedded sandbox MASGSM with the pipeline's title registered, and its service.

        The sandbox (an HTTP server) is imported here: only `--sandbox` runs load it.
        """
        from ..sandbox import SandboxConfig, SandboxServer

        named = self.without_secrets()
        title = self.pipeline.message.title or (named.title if named else None) or SANDBOX_TITLE
        config = SandboxConfig()
        config.titles = tuple(dict.fromkeys((*config.titles, title)))
        with SandboxServer(config) as server:
            yield Service(config.user, config.password, title, server.base_url, self.lang(named))

    def _url(self, url: str, environment: Mapping[str, str]) -> str:
        spec = self.pipeline
        renderer = compile_text(self.env, url, f"{spec.service_where} (service)")
        return render(renderer, {"env": environment}, spec.service_where)
