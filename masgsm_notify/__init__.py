"""masgsm-notify: SMS through MASGSM as an Apprise service, declarative pipelines and a client."""

from . import apprise_plugin
from .client import DEFAULT_BASE_URL, DeliveryReport, MasgsmClient, SendResult
from .errors import MasgsmError

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "DeliveryReport",
    "MasgsmClient",
    "MasgsmError",
    "SendResult",
    "__version__",
]

# Importing the package makes masgsm:// and masgsms:// URLs work in every Apprise object of the
# process (the `apprise` command gets the same through `masgsm-notify apprise install`). This is
# the import's only side effect.
apprise_plugin.register()
