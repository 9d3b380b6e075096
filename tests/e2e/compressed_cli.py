"""`python -m tests.e2e.compressed_cli ARGS`: the tap's CLI with Marketo's rolling 20 s call window
compressed to 2 s, as tests/e2e/conftest.py does for in-process runs. Sandbox time runs far faster
than Marketo's, so a run past 100 calls would otherwise idle 20 s of real time on its own limit."""

from __future__ import annotations

from tap_marketo_bulk.api import client as client_module
from tap_marketo_bulk.tap import TapMarketoBulk

COMPRESSED_RATE_WINDOW_SECONDS = 2.0

if __name__ == "__main__":
    client_module.RATE_WINDOW_SECONDS = COMPRESSED_RATE_WINDOW_SECONDS
    client_module.RATE_WINDOW_SLACK_SECONDS = 0.1
    TapMarketoBulk.cli()
