"""masgsm-notify: SMS through MASGSM as an Apprise service, declarative pipelines and a client."""

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
