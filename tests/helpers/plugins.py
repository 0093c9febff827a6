"""An outside plugin, installed the way pip would leave it, for the tests that need one."""

from __future__ import annotations

import os
from pathlib import Path

from helpers.cli import NO_PLUGINS
from helpers.pipelines import write


def with_plugin(
    env: dict[str, str], site: Path, module: str, source: str, dist: str, version: str = "0.1"
) -> dict[str, str]:
    """`env` with `module` (its `source`) and a `*.dist-info` folder whose `entry_points.txt`
    names it in masgsm_notify's group, both in `site` on PYTHONPATH: what importlib.metadata
    (and so pluggy) finds for an installed distribution. Outside plugins are switched back on."""
    write(site / f"{module}.py", source)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    write(info / "METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    write(info / "entry_points.txt", f"[masgsm_notify]\n{dist} = {module}\n")
    path = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return {**{k: v for k, v in env.items() if k != NO_PLUGINS}, "PYTHONPATH": path}
