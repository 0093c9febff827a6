"""masgsm-notify: SMS through MASGSM as an Apprise service, declarative pipelines and a client.

Importing the package loads nothing heavy (neither Apprise nor requests): the names below are
imported when first used, so `masgsm-notify --version` and programs that use one part start
fast. `import masgsm_notify.apprise_plugin` (or calling its `register()`) makes masgsm:// and
masgsms:// URLs work in every Apprise object of the process; the `apprise` command and
apprise-api get the same from the loader `masgsm-notify apprise install` writes.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

# Public name -> the module that defines it.
_LAZY = {
    "DEFAULT_BASE_URL": "masgsm_notify.api",
    "DeliveryReport": "masgsm_notify.client",
    "MasgsmClient": "masgsm_notify.client",
    "SendResult": "masgsm_notify.client",
    "MasgsmError": "masgsm_notify.errors",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'masgsm_notify' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
