"""A faithful local MASGSM: every endpoint of the API, with state, inspection and fault injection.

Demos, tests and benchmarks run against it on 127.0.0.1, so nothing ever needs an account or the
network. Its default state is a documented contract (see `SandboxConfig`).
"""

from .server import FAULTS, FaultPlan, SandboxServer
from .state import SandboxConfig, SandboxState

__all__ = ["FAULTS", "FaultPlan", "SandboxConfig", "SandboxServer", "SandboxState"]
