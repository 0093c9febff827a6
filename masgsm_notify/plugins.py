"""The plugin manager: the built-in plugins first, then those installed under `masgsm_notify`.

Set MASGSM_NOTIFY_NO_PLUGINS=1 to load only the built-ins (tests do, so an installed third-party
plugin cannot change their outcome).
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from typing import Any

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "masgsm_notify"
DEFAULT_PLUGINS = ("masgsm_notify.sources", "masgsm_notify.filters", "masgsm_notify.consent")


@cache
def get_plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        manager.register(importlib.import_module(name), name=name)
    if not os.environ.get("MASGSM_NOTIFY_NO_PLUGINS"):
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return manager


def collect(hook_name: str) -> dict[str, Any]:
    """Call a `register_*` hook and gather what every plugin registered, by name.

    pluggy calls the most recently registered plugin first, and the built-ins are registered
    first, so keeping the first registration of a name lets an installed plugin replace a
    built-in filter or source.
    """
    found: dict[str, Any] = {}
    getattr(get_plugin_manager().hook, hook_name)(register=found.setdefault)
    return found


def describe_plugins() -> list[dict[str, Any]]:
    """Each loaded plugin with the hooks it implements, for `masgsm-notify plugins`."""
    manager = get_plugin_manager()
    dists = {id(plugin): dist for plugin, dist in manager.list_plugin_distinfo()}
    described = []
    for plugin in manager.get_plugins():
        dist = dists.get(id(plugin))
        described.append(
            {
                "name": manager.get_name(plugin),
                "hooks": sorted(caller.name for caller in manager.get_hookcallers(plugin) or []),
                "package": f"{dist.project_name} {dist.version}" if dist else "built-in",
            }
        )
    return sorted(described, key=lambda item: (item["package"] != "built-in", item["name"]))
