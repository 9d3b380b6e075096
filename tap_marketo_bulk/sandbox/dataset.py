"""The instance's data: generated once from the seed, changed only through `mutate()`."""

from __future__ import annotations

import bisect
import random
import threading
from collections.abc import Callable
from typing import Any

from .asset_catalog import add_asset_catalog
from .assets import add_assets
from .catalog import FieldDef, lead_fields
from .config import SandboxConfig
from .custom_objects import CustomObjectStore
from .merges import name_generated_merges
from .reference import (
    build_folders,
    build_members,
    build_programs,
    build_static_lists,
    make_deleted_lead,
    make_member,
)
from .tables import ActivityTable, LeadTable, build_variants
from .timeline import Timeline, window_edges
from .timeutil import iso, parse_utc
from .usage import UsageLog
from .values import WORDS

FIRST_ACTIVITY_GUID = 700_000_001
FIRST_DELETION_RECORD_ID = 690_000_001


class Dataset:
    """All records of one sandbox instance. Readers and `mutate()` serialise on `lock`."""

    def __init__(self, config: SandboxConfig) -> None:
        rng = random.Random(config.seed)
        self.start = parse_utc(config.data_start)
        self.end = parse_utc(config.data_end)
        if self.end <= self.start:
            raise ValueError("data_end must be after data_start")
        self.lock = threading.RLock()
        self.version = 0  # bumped by every mutation (truth caches key on it)
        self.timeline = Timeline.build(rng, self.start, self.end)
        self.lead_fields: list[FieldDef] = lead_fields(config.lead_columns)
        self.leads = LeadTable.empty(rng, self.lead_fields, (self.start, self.end))
        self.deleted_leads: list[dict[str, Any]] = []
        self._edges = sorted(
            t for edge in window_edges(self.start, self.end) for t in (edge - 1, edge, edge + 1)
        )
        self._generate_leads(rng, config.leads, config.deleted_leads)
        self.activities = ActivityTable(build_variants(rng))
        self.activities.append_many(
            rng, self.timeline.draw(rng, config.activities), FIRST_ACTIVITY_GUID,
            self._lead_picker(rng),
        )
        self.next_lead_id = name_generated_merges(self.activities, 0, self.next_lead_id)
        self.folders = build_folders(rng, self.start, self.end)
        self.programs = build_programs(rng, config.programs, (self.start, self.end), self.folders)
        self.members = build_members(
            rng, self.programs, self.leads, config.members_per_program, self.timeline
        )
        self.static_lists = build_static_lists(
            rng, config.static_lists, self.leads, (self.start, self.end)
        )
        add_assets(self, config.seed, config)  # its own random stream: the rest is unchanged
        add_asset_catalog(self, config.seed, config)  # the same, and a stream of its own
        self.usage = UsageLog(config.seed, self.end)  # the Usage API's days, on its own clock
        self.latest = max(
            [self.start, max(self.leads.updated, default=self.start)]
            + list(self.activities.dates[-1:])
            + [parse_utc(m["updatedAt"]) for m in self.members]
            + [parse_utc(d["activityDate"]) for d in self.deleted_leads]
        )
        # drawn from a generator of its own, so the other objects' data stays as it was
        self.custom_objects = CustomObjectStore(config, self.leads.ids, (self.start, self.end))
        self._rng = rng  # keeps drawing for mutations, so a run of mutations is reproducible

    # ----------------------------------------------------------------- generation
    def _generate_leads(self, rng: random.Random, alive: int, deleted: int) -> None:
        total = alive + deleted
        created = self.timeline.draw(rng, total)
        deleted_positions = set(rng.sample(range(total), deleted)) if deleted else set()
        deletions: list[tuple[int, int]] = []
        for index, created_at in enumerate(created):
            lead_id = index + 1
            if index in deleted_positions:
                deletions.append((rng.randint(created_at, self.end), lead_id))
                continue
            self.leads.append(lead_id, created_at, self._updated_after(rng, created_at),
                              rng.getrandbits(62))
        deletions.sort()
        for offset, (deleted_at, lead_id) in enumerate(deletions):
            name = f"{rng.choice(WORDS)}, {rng.choice(WORDS)}"
            self.deleted_leads.append(
                make_deleted_lead(FIRST_DELETION_RECORD_ID + offset, lead_id, deleted_at, name)
            )
        self.next_lead_id = total + 1

    def _updated_after(self, rng: random.Random, created: int) -> int:
        roll = rng.random()
        if roll < 0.35:
            return created  # never changed since creation
        if roll < 0.45:
            later_edges = self._edges[bisect.bisect_left(self._edges, created):]
            if later_edges:
                return rng.choice(later_edges)  # changed right at a window edge
        return created + int(rng.random() * (self.end - created + 1))

    def _lead_picker(self, rng: random.Random) -> Callable[[int], int]:
        """date -> id of a lead that existed at that date (any lead when none did yet)."""
        created, ids, uniform = self.leads.created, self.leads.ids, rng.random

        def lead_for(date: int) -> int:
            if not ids:
                return 0
            existing = bisect.bisect_right(created, date) or len(ids)
            return ids[int(uniform() * existing)]

        return lead_for

    # ----------------------------------------------------------------- queries
    def static_list(self, list_id: int | None = None, name: str | None = None) -> dict | None:
        for static_list in self.static_lists:
            if static_list["id"] == list_id or (name is not None and static_list["name"] == name):
                return static_list
        return None

    def program(self, program_id: int) -> dict[str, Any] | None:
        for program in self.programs:
            if program["id"] == program_id:
                return program
        return None

    # ----------------------------------------------------------------- mutation
    def mutate(
        self, *, new_leads: int, updated_leads: int, new_activities: int, updated_members: int,
        earliest: int, latest: int,
    ) -> dict[str, list[Any]]:
        """Add and change records with timestamps in [earliest, latest] (after all existing data).

        Returns the ids touched: new_lead_ids, updated_lead_ids, new_activity_guids,
        updated_member_keys ((leadId, programId) pairs).
        """
        rng = self._rng
        earliest = max(earliest, self.latest + 1)
        latest = max(latest, earliest)

        def stamps(count: int) -> list[int]:
            spread = latest - earliest + 1
            return sorted(earliest + int(rng.random() * spread) for _ in range(count))

        with self.lock:
            new_ids: list[int] = []
            for created_at in stamps(new_leads):
                new_ids.append(self.next_lead_id)
                self.leads.append(self.next_lead_id, created_at, created_at, rng.getrandbits(62))
                self.next_lead_id += 1
            old_count = len(self.leads) - new_leads
            changed_positions = sorted(rng.sample(range(old_count), min(updated_leads, old_count)))
            change_times = stamps(len(changed_positions))
            rng.shuffle(change_times)
            for pos, updated_at in zip(changed_positions, change_times, strict=True):
                self.leads.updated[pos] = updated_at
                self.leads.seeds[pos] = rng.getrandbits(62)  # field values change too
                self.leads.overrides.pop(self.leads.ids[pos], None)
            first_guid = self.activities.next_guid(FIRST_ACTIVITY_GUID)
            self.activities.append_many(
                rng, stamps(new_activities), first_guid, self._lead_picker(rng)
            )
            self.next_lead_id = name_generated_merges(
                self.activities, len(self.activities) - new_activities, self.next_lead_id)
            member_keys = self._update_members(rng, updated_members, stamps)
            self.latest = latest
            self.version += 1
        return {
            "new_lead_ids": new_ids,
            "updated_lead_ids": [self.leads.ids[pos] for pos in changed_positions],
            "new_activity_guids": [str(first_guid + i) for i in range(new_activities)],
            "updated_member_keys": member_keys,
        }

    def _update_members(
        self, rng: random.Random, count: int, stamps: Callable[[int], list[int]]
    ) -> list[tuple[int, int]]:
        indexes = sorted(rng.sample(range(len(self.members)), min(count, len(self.members))))
        keys: list[tuple[int, int]] = []
        for index, updated_at in zip(indexes, stamps(len(indexes)), strict=True):
            old = self.members[index]
            program = self.program(old["programId"]) or {"channel": "Content", "name": "", "id": 0}
            fresh = make_member(rng, program, old["leadId"], updated_at, self.start)
            fresh["membershipDate"] = fresh["createdAt"] = old["membershipDate"]
            fresh["updatedAt"] = iso(updated_at)
            self.members[index] = fresh
            keys.append((old["leadId"], old["programId"]))
        return keys
