"""Sandbox: a local Marketo instance (REST + Bulk Extract) on 127.0.0.1 for tests/benchmarks."""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from .auth import TokenStore
from .bulk_api import BulkEndpoints
from .changes import ChangeLog, ChangeScenario, apply_changes
from .clock import SandboxClock
from .config import Faults, SandboxConfig
from .dataset import Dataset
from .jobs import JobQueue
from .rest_api import RestEndpoints
from .server import ApiPipeline, SandboxHTTPServer, make_server
from .stats import StatsRecorder
from .timeutil import parse_utc
from .truth import GroundTruth


def _credentials(seed: int, label: str) -> tuple[str, str]:
    rng = random.Random(f"{seed}:{label}")
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"{rng.getrandbits(128):032x}"


class Sandbox:
    """One Marketo instance. Data is generated in the constructor (deterministic per config);
    `start()` serves it on 127.0.0.1 from a background thread.

    Two API users exist: (client_id, client_secret) and (other_client_id, other_client_secret);
    each sees only the jobs it created.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.faults = Faults()
        self.clock = SandboxClock()  # the instance's "now" (quota day, Date header, day 2)
        self._data = Dataset(self.config)
        self.truth = GroundTruth(self._data)
        self.client_id, self.client_secret = _credentials(self.config.seed, "main")
        self.other_client_id, self.other_client_secret = _credentials(self.config.seed, "other")
        self._stats = StatsRecorder()
        self._tokens = TokenStore(
            {self.client_id: self.client_secret, self.other_client_id: self.other_client_secret},
            self.config, self.faults,
        )
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._queue: JobQueue | None = None
        self._own_workdir: Path | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        if self.config.workdir:
            workdir = Path(self.config.workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = self._own_workdir = Path(tempfile.mkdtemp(prefix="marketo-sandbox-"))
        self._queue = JobQueue(self._data, self.config, self.faults, self._stats, workdir,
                               self.clock)
        pipeline = ApiPipeline(
            self.config, self.faults, self._tokens, self._stats, RestEndpoints(self._data),
            BulkEndpoints(self._data, self.config, self.faults, self._queue, self._stats),
            self.clock,
        )
        self._server = make_server(self.config.host, self.config.port, pipeline, self._stats)
        self._queue.start()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="marketo-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._queue is not None:
            self._queue.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own_workdir is not None:
            shutil.rmtree(self._own_workdir, ignore_errors=True)
            self._own_workdir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The instance root, like https://284-RPR-133.mktorest.com (no trailing slash)."""
        return f"http://{self.config.host}:{self.port}"

    # ------------------------------------------------------------------ observation
    @property
    def stats(self) -> dict[str, Any]:
        """A consistent snapshot; see README of the sandbox package for the keys."""
        jobs = self._queue.jobs_public() if self._queue else []
        snapshot = self._stats.snapshot(jobs)
        snapshot["quota_bytes_today"] = self._queue.quota_used_today() if self._queue else 0
        return snapshot

    def client_stats(self, client_id: str | None = None) -> dict[str, Any]:
        """Stats of one client (default: the main client), with zeros if it made no call."""
        clients = self.stats["clients"]
        empty = StatsRecorder().snapshot([])
        empty.pop("clients")
        return clients.get(client_id or self.client_id, empty)

    def reset_stats(self) -> None:
        """Forget counters (not jobs), e.g. between a first and an incremental run."""
        self._stats.reset()

    def advance_clock(self, seconds: float) -> None:
        """Move the instance's "now" forward (e.g. a day: a new export quota day)."""
        self.clock.advance(seconds)

    def expire_all_tokens_now(self) -> None:
        self.faults.expire_all_tokens_now()

    # ------------------------------------------------------------------ changes
    def apply_day2_changes(self, scenario: ChangeScenario | None = None, *,
                           between: tuple[str, str] | None = None) -> ChangeLog:
        """Deletions, merges and removals (changes.py) timed in `between` (ISO start, end), by
        default from after the existing data and the last export job up to the clock's now
        (advance_clock first to make it a later day); `truth` follows."""
        if between is not None:
            earliest, latest = parse_utc(between[0]), parse_utc(between[1])
        else:
            jobs = self._queue.jobs_public() if self._queue else []
            last_create = max((int(j["created_at"]) for j in jobs), default=0)
            earliest = max(self._data.latest, last_create) + 1
            latest = max(earliest, int(self.clock.now()))
        return apply_changes(self._data, scenario or ChangeScenario(), earliest, latest,
                             self.config.seed)

    def mutate(self, new_leads: int = 0, updated_leads: int = 0, new_activities: int = 0,
               updated_members: int = 0, *, between: tuple[str, str] | None = None,
               ) -> dict[str, list[Any]]:
        """New and changed records for an incremental run; `truth` follows.

        Timestamps fall after all existing data, after the last create.json call (so after
        the end of any window a tap already exported) and not after the real now; the call
        sleeps up to ~1 s when those meet. `between` (ISO start, end) overrides the placement.
        """
        if between is not None:
            earliest, latest = parse_utc(between[0]), parse_utc(between[1])
        else:
            jobs = self._queue.jobs_public() if self._queue else []
            last_create = max((int(j["created_at"]) for j in jobs), default=0)
            earliest = max(self._data.latest, last_create) + 1
            while time.time() < earliest:
                time.sleep(0.05)
            latest = int(time.time())
        return self._data.mutate(
            new_leads=new_leads, updated_leads=updated_leads, new_activities=new_activities,
            updated_members=updated_members, earliest=earliest, latest=latest,
        )

    def advance_days(self, days: int) -> None:
        """Let `days` Marketo days pass for the Usage API (sandbox/usage.py): today's partial
        counts become final and newer days appear; `truth.api_usage` follows."""
        with self._data.lock:
            self._data.usage.advance_days(days)
            self._data.version += 1

    def delete_after_browse(self, *, forms: tuple[int, ...] = (),
                            programs: tuple[int, ...] = ()) -> None:
        """Forms and programs that browse still lists but whose by-id calls miss (deleted
        mid-run): form/{id}/fields.json answers 702, program/{id}.json "No assets found"."""
        with self._data.lock:
            self._data.missing_forms.update(forms)
            self._data.missing_programs.update(programs)
            self._data.version += 1

    def mutate_custom_objects(self, updated_rows: int, *, between: tuple[str, str]
                              ) -> dict[str, list[str]]:
        """Change `updated_rows` rows of each lead-linked custom object, updatedAt in `between`
        (ISO start, end: after the data a tap already exported); their marketoGUIDs by object."""
        earliest, latest = parse_utc(between[0]), parse_utc(between[1])
        data = self._data
        with data.lock:
            changed = data.custom_objects.update(
                random.Random(f"{self.config.seed}:custom-updates:{earliest}"), updated_rows,
                earliest, latest)
            data.version += 1
        return changed
