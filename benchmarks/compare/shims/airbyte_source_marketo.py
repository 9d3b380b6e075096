"""Runs airbyte-source-marketo unchanged except for its bulk job poll interval.

source-marketo sleeps `MarketoExportBase.poll_interval` (a class attribute, 60 s, matching
Marketo's once-a-minute status refresh) between two status calls of a job; no setting changes it.
The comparison's sandbox refreshes job status every 0.2 s, so every tap polls at the same
compressed interval: this launcher sets the attribute to COMPARE_POLL_INTERVAL seconds and then
runs the connector's own entry point (`source-marketo spec|check|discover|read ...`).
"""

import os
import sys

import source_marketo.source
from source_marketo.run import run

source_marketo.source.MarketoExportBase.poll_interval = float(
    os.environ.get("COMPARE_POLL_INTERVAL", "60"))

if __name__ == "__main__":
    sys.exit(run())
