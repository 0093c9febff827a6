"""masgsm-notify: SMS through MASGSM as an Apprise service, declarative pipelines and a client.

Importing the package loads neither Apprise nor its plugins, so commands and programs that do
not use Apprise start fast. `import masgsm_notify.apprise_plugin` (or calling its `register()`)
makes masgsm:// and masgsms:// URLs work in every Apprise object of the process; the `apprise`
command and apprise-api get the same from the loader `masgsm-notify apprise install` writes.
"""

from .client import DEFAULT_BASE_URL, DeliveryReport, MasgsmClient, SendResult
from .errors import MasgsmError

__version__ = "0.2.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "DeliveryReport",
    "MasgsmClient",
    "MasgsmError",
    "SendResult",
    "__version__",
]
