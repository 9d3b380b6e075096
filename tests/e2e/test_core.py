"""singer-sdk's standard tap tests against a sandbox on 127.0.0.1.

`get_tap_test_class` builds the tap (and its streams) while pytest collects this module, so the
sandbox must already be serving at import time; it stops when the interpreter exits.
"""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig
from tap_marketo_bulk.tap import TapMarketoBulk
from tests.e2e.harness import tap_config

_SANDBOX = Sandbox(
    SandboxConfig(
        seed=11, leads=200, activities=600, programs=3, members_per_program=10,
        status_refresh_seconds=0.02, max_calls_per_20s=100_000,
        data_start="2024-01-01T00:00:00Z", data_end="2024-04-30T23:59:59Z",
    )
).start()
atexit.register(_SANDBOX.stop)

TestTapMarketoBulk = get_tap_test_class(
    TapMarketoBulk,
    config=tap_config(_SANDBOX),
    suite_config=SuiteConfig(max_records_limit=None),
)
