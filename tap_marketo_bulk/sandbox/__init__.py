"""A local stand-in for Marketo REST + Bulk Extract that enforces the real rules.

    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig
    with Sandbox(SandboxConfig(seed=1, status_refresh_seconds=0.02)) as sb:
        sb.base_url, sb.client_id, sb.client_secret, sb.truth.leads, sb.stats, sb.faults
"""

from .changes import ChangeLog, ChangeScenario
from .config import Faults, SandboxConfig
from .sandbox import Sandbox
from .truth import GroundTruth

__all__ = ["ChangeLog", "ChangeScenario", "Faults", "GroundTruth", "Sandbox", "SandboxConfig"]
