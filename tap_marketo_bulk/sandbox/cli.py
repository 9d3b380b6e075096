"""`tap-marketo-bulk-sandbox`: serve a sandbox instance until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .config import MIB, SandboxConfig
from .sandbox import Sandbox


def build_parser() -> argparse.ArgumentParser:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="tap-marketo-bulk-sandbox",
        description="Local Marketo REST + Bulk Extract stand-in on 127.0.0.1.",
    )
    add = parser.add_argument
    add("--host", default=defaults.host, help="interface to bind (default 127.0.0.1)")
    add("--port", type=int, default=8080, help="port; 0 picks a free one (default 8080)")
    add("--seed", type=int, default=defaults.seed)
    add("--leads", type=int, default=defaults.leads)
    add("--activities", type=int, default=defaults.activities)
    add("--programs", type=int, default=defaults.programs)
    add("--members-per-program", type=int, default=defaults.members_per_program)
    add("--deleted-leads", type=int, default=defaults.deleted_leads)
    add("--static-lists", type=int, default=defaults.static_lists)
    add("--lead-columns", type=int, default=defaults.lead_columns,
        help="extra custom lead fields (about 30 standard ones exist)")
    add("--data-start", default=defaults.data_start, help="first record time (instance birth)")
    add("--data-end", default=defaults.data_end, help="last record time")
    add("--status-refresh-seconds", type=float, default=60.0,
        help="job status is refreshed at most this often (Marketo: 60)")
    add("--job-seconds", type=float, default=defaults.job_seconds,
        help="fixed processing time per job")
    add("--records-per-second", type=float, default=defaults.records_per_second,
        help="processing speed; 0 = instant")
    add("--latency-seconds", type=float, default=defaults.latency_seconds,
        help="delay before answering each call")
    add("--max-calls-per-20s", type=int, default=defaults.max_calls_per_20s)
    add("--max-concurrent-calls", type=int, default=defaults.max_concurrent_calls)
    add("--token-ttl-seconds", type=float, default=defaults.token_ttl_seconds)
    add("--daily-quota-mb", type=float, default=defaults.daily_quota_bytes / MIB)
    add("--no-updated-at-filter", action="store_true",
        help="leads and program-member updatedAt filters answer 1035")
    add("--no-smart-lists", action="store_true", help="smart list filters answer 1035")
    add("--legacy-member-booleans", action="store_true",
        help="program member booleans written as 0/1")
    add("--no-custom-objects", action="store_true",
        help="a subscription without custom objects (the list is empty)")
    add("--no-custom-object-access", action="store_true",
        help="the API role lacks 'Read-Only Custom Object': custom-object calls answer 603")
    add("--custom-object-rows", type=int, default=defaults.custom_object_rows,
        help="rows of each lead-linked custom object")
    add("--usage-endpoint", action="store_true",
        help="serve GET /rest/v1/stats/usage.json (API calls made today, per API user)")
    add("--workdir", default=None, help="where export files go (default: a temp dir)")
    add("--json", action="store_true", help="print the connection details as one JSON line")
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        seed=args.seed, leads=args.leads, activities=args.activities, programs=args.programs,
        members_per_program=args.members_per_program, deleted_leads=args.deleted_leads,
        static_lists=args.static_lists, lead_columns=args.lead_columns,
        data_start=args.data_start, data_end=args.data_end,
        status_refresh_seconds=args.status_refresh_seconds, job_seconds=args.job_seconds,
        records_per_second=args.records_per_second, latency_seconds=args.latency_seconds,
        max_calls_per_20s=args.max_calls_per_20s, max_concurrent_calls=args.max_concurrent_calls,
        token_ttl_seconds=args.token_ttl_seconds,
        daily_quota_bytes=int(args.daily_quota_mb * MIB),
        updated_at_filter_supported=not args.no_updated_at_filter,
        smart_lists_supported=not args.no_smart_lists,
        legacy_member_booleans=args.legacy_member_booleans,
        custom_objects=not args.no_custom_objects,
        custom_object_access=not args.no_custom_object_access,
        custom_object_rows=args.custom_object_rows,
        usage_endpoint=args.usage_endpoint,
        host=args.host, port=args.port, workdir=args.workdir,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sandbox = Sandbox(config_from_args(args)).start()
    details = {
        "base_url": sandbox.base_url,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "other_client_id": sandbox.other_client_id,
        "other_client_secret": sandbox.other_client_secret,
    }
    if args.json:
        print(json.dumps(details), flush=True)
    else:
        for key, value in details.items():
            print(f"{key}={value}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
