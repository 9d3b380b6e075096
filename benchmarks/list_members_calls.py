"""API calls of `list_members` for one large static list, over REST and through the bulk switch.

The README's rule ("Static list membership") pages a list over REST while it fits in
`list_members_rest_page_limit` calls and exports a larger one with one bulk leads job. This
counts, on the sandbox, the calls each way costs for one list of `members` members (describes
and the lists.json read included). Wall times are printed too, but the sandbox compresses
Marketo's once-a-minute job status refresh, so they say nothing about production durations.

    python -m benchmarks.list_members_calls [members]
"""

from __future__ import annotations

import logging
import sys
import time

from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig
from tests.e2e.harness import catalog_with, run_tap, tap_config


def run(members: int = 15_000) -> list[dict]:
    logging.disable(logging.WARNING)
    config = SandboxConfig(
        seed=13,
        leads=members,
        activities=10,
        programs=1,
        static_lists=0,
        large_static_list=members,
        status_refresh_seconds=0.02,
        max_calls_per_20s=100_000,
    )
    figures = []
    with Sandbox(config) as sb:
        for label, limit in (("REST", 100_000), ("bulk switch", 1)):
            tap = tap_config(sb, list_members_rest_page_limit=limit, max_calls_per_20s=80)
            catalog = catalog_with(tap, only=["list_members"])
            calls, jobs, started = (
                sb.client_stats()["api_calls"],
                len(sb.stats["jobs"]),
                time.time(),
            )
            result = run_tap(tap, catalog=catalog)
            if result.error is not None:
                raise SystemExit(f"{label}: {result.error}")
            figures.append(
                {
                    "way": label,
                    "records": len(result.records("list_members")),
                    "api_calls": sb.client_stats()["api_calls"] - calls,
                    "bulk_jobs": len(sb.stats["jobs"]) - jobs,
                    "wall_seconds": round(time.time() - started, 2),
                }
            )
    return figures


if __name__ == "__main__":
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else 15_000):
        print(row)
