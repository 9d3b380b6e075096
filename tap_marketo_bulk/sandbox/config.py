"""Settings of a sandbox instance and the fault switches tests flip while it runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MIB = 1024 * 1024


@dataclass
class SandboxConfig:
    """Everything that shapes one sandbox instance. Data is a pure function of these values.

    Times are UTC ISO strings (`data_start`, `data_end`); durations are seconds.
    """

    seed: int = 1
    # data volume
    leads: int = 2000
    activities: int = 8000
    programs: int = 12
    members_per_program: int = 50
    deleted_leads: int = 20
    static_lists: int = 3
    # plus an empty static list and one of this many members (at most every lead)
    large_static_list: int = 650
    campaigns: int = 30
    emails: int = 25
    segmentations: int = 3
    forms: int = 6  # each with 1 to 7 fields (form/{id}/fields.json: one call per form)
    # landing pages, email templates, snippets, files, smart lists, smart campaigns: each
    catalog_assets: int = 25
    lead_columns: int = 4  # extra custom lead fields on top of the ~30 standard ones
    data_start: str = "2023-01-01T00:00:00Z"
    data_end: str = "2024-12-31T23:59:59Z"
    # job timing: Marketo refreshes status once a minute; tests use ~0.02 s
    status_refresh_seconds: float = 60.0
    job_seconds: float = 0.0  # fixed part of every job's processing time
    records_per_second: float = 0.0  # processing speed; 0 = instant
    latency_seconds: float = 0.0  # added before answering every API call
    # limits
    max_calls_per_20s: int = 100
    max_concurrent_calls: int = 10
    max_processing_jobs: int = 2
    max_queued_jobs: int = 10  # Queued + Processing, all integrations together
    token_ttl_seconds: float = 3600.0
    daily_quota_bytes: int = 500 * MIB
    # subscription switches
    updated_at_filter_supported: bool = True  # False: leads/program-member updatedAt answer 1035
    smart_lists_supported: bool = True  # False: smartListId/smartListName answer 1035
    # False: the API user's role lacks the Read-Only Assets permission (Asset API answers 603)
    asset_permission: bool = True
    legacy_member_booleans: bool = False  # program member booleans written 0/1 (older files)
    custom_objects: bool = True  # False: the subscription has no custom objects (empty list)
    custom_object_access: bool = True  # False: no "Read-Only Custom Object" permission (603)
    custom_object_rows: int = 200  # rows of each lead-linked custom object
    # custom-object updatedAt filters also match rows this many seconds outside the range: the
    # boundary edge cases that return duplicates across adjacent windows (api-notes §6)
    custom_object_edge_slack_seconds: int = 0
    # GET /rest/v1/stats/usage.json answers the calls made to this sandbox today, live (tap-marketo
    # calls it first); off: it answers the deterministic usage log (sandbox/usage.py)
    usage_endpoint: bool = False
    # server
    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port
    workdir: str | None = None  # export files; a temp dir removed on stop() when None


@dataclass
class Faults:
    """Switches for misbehaviour, changeable while the sandbox runs.

    Counters ("next N ...") are consumed one per matching request; `take()` does that atomically.
    """

    rate_limit_burst: int = 0  # next N API calls answer 606
    queue_full: int = 0  # next N enqueues answer 1029 "Too many jobs in queue"
    foreign_queued: int = 0  # jobs of other integrations Queued in the shared queue
    foreign_processing: int = 0  # jobs of other integrations holding Processing slots
    expire_tokens_after: float | None = None  # token lifetime (s) instead of token_ttl_seconds
    drop_download: int = 0  # next N downloads stop midway and the connection is closed
    drop_download_fraction: float = 0.5  # share of the requested bytes sent before the drop
    corrupt_download: int = 0  # next N downloads have one byte flipped (sha256 differs)
    fail_jobs: int = 0  # next N jobs that start processing end Failed
    # fail every job whose (object_path, create filter) matches, e.g. one window
    fail_job_if: Callable[[str, dict], bool] | None = None
    fail_message: str = "Export failed due to internal error"
    http_502: int = 0  # next N API calls (identity excluded) answer HTTP 502 with HTML
    create_then_502: int = 0  # next N create.json create the job, then answer HTTP 502
    create_without_result: int = 0  # next N create.json answer success:true, no result, no job
    json_error_file: int = 0  # next N file.json answer a JSON error envelope
    # next N lead files leave a quote inside a quoted value unescaped wherever a character other
    # than a quote, delimiter or line end follows it: `"first"Name1"` (embulk-input-marketo's
    # lead_extract_with_quote_in_quote_field.csv, after a customer's export; api-notes section 7
    # "occasional stray quotes"); unescaped_quotes_written counts the values written so
    unescaped_quotes: int = 0
    unescaped_quotes_written: int = 0
    expired_file: int = 0  # next N file.json of Completed jobs answer 404 (file expired)
    quota_bytes: int | None = None  # overrides SandboxConfig.daily_quota_bytes
    tokens_expired_before: float = 0.0  # monotonic time; tokens issued earlier are expired
    # mid-run disappearance (disappear.py): this program / static list is deleted right after
    # the next programs.json / lists.json answer, which still lists it
    delete_program_after_listing: int | None = None
    delete_list_after_listing: int | None = None
    # (path suffix, calls, fault): fault mid-pagination, see assets_api.arm_after_call
    arm_after: list[tuple[str, int, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take(self, name: str) -> bool:
        """Consume one unit of the counter `name`; True when the fault fires for this request."""
        with self._lock:
            remaining = getattr(self, name)
            if remaining > 0:
                setattr(self, name, remaining - 1)
                return True
            return False

    def expire_all_tokens_now(self) -> None:
        """Every token issued so far answers 602 from now on; identity issues fresh ones."""
        with self._lock:
            self.tokens_expired_before = time.monotonic()

    def should_fail(self, object_path: str, create_filter: dict) -> bool:
        """Whether a job starting now ends Failed (counter first, then the predicate)."""
        if self.take("fail_jobs"):
            return True
        predicate = self.fail_job_if
        return bool(predicate and predicate(object_path, create_filter))

    def effective_quota(self, configured: int) -> int:
        return configured if self.quota_bytes is None else self.quota_bytes
