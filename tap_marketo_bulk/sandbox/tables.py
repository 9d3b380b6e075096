"""Compact storage of leads and activities, able to hold 200,000 leads and 1,000,000 activities.

Rows are columns of `array`s; field values come from per-column pools picked by a per-row hash,
so a row costs a few dozen bytes no matter how many lead fields there are.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .catalog import (
    ACTION_RESULTS,
    BULK_ACTIVITY_TYPES,
    DERIVED_LEAD_FIELDS,
    FieldDef,
)
from .timeutil import iso
from .values import (
    DOMAINS,
    GENERATORS,
    MULTILINE_STRINGS,
    TRICKY_STRINGS,
    WORDS,
    crm_id,
    documented_value,
    format_cell,
    make_pool,
)

POOL_SIZE = 211  # prime, so picks spread evenly
VARIANTS_PER_TYPE = 64
_MULT = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def pick(seed: int, salt: int, size: int) -> int:
    """Deterministic index in [0, size) for one (row, column) pair."""
    return ((((seed ^ salt) * _MULT) & _MASK64) >> 20) % size


@dataclass
class LeadTable:
    """Leads in createdAt order (ids ascend with createdAt). `pos` is the row index."""

    fields: list[FieldDef]
    pools: dict[str, list[Any]]
    salts: dict[str, int]
    email_locals: list[str | None]
    ids: array = field(default_factory=lambda: array("q"))
    created: array = field(default_factory=lambda: array("q"))
    updated: array = field(default_factory=lambda: array("q"))
    seeds: array = field(default_factory=lambda: array("q"))  # re-drawn when a lead changes
    position: dict[int, int] = field(default_factory=dict)  # lead id -> pos
    # lead id -> field -> value a merge gave the lead (changes.py); wins over the pooled value
    overrides: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def empty(cls, rng: random.Random, fields: list[FieldDef], span: tuple[int, int]) -> LeadTable:
        pools: dict[str, list[Any]] = {}
        salts: dict[str, int] = {}
        for spec in fields:
            salts[spec.name] = rng.getrandbits(62)
            if spec.exportable and spec.name not in DERIVED_LEAD_FIELDS:
                pools[spec.name] = make_pool(rng, spec.data_type, POOL_SIZE, span)
        local_parts = ("info", "a.b+tag", "First.Last", "x")
        locals_ = [None if rng.random() < 0.05 else rng.choice(local_parts)
                   for _ in range(POOL_SIZE)]
        return cls(list(fields), pools, salts, locals_)

    def append(self, lead_id: int, created: int, updated: int, seed: int) -> None:
        self.position[lead_id] = len(self.ids)
        self.ids.append(lead_id)
        self.created.append(created)
        self.updated.append(updated)
        self.seeds.append(seed)

    def __len__(self) -> int:
        return len(self.ids)

    def remove(self, lead_ids: set[int]) -> None:
        """Drop these leads (deleted or merged away); the others keep their order."""
        keep = [pos for pos, lead_id in enumerate(self.ids) if lead_id not in lead_ids]
        for column in ("ids", "created", "updated", "seeds"):
            old = getattr(self, column)
            setattr(self, column, array("q", (old[pos] for pos in keep)))
        self.position = {lead_id: pos for pos, lead_id in enumerate(self.ids)}
        for lead_id in lead_ids:
            self.overrides.pop(lead_id, None)

    def getter(self, name: str) -> Callable[[int], Any]:
        """pos -> typed value of field `name` (exportable fields only), merged values first."""
        base = self._pooled_getter(name)
        if not self.overrides or name in ("id", "createdAt", "updatedAt"):
            return base
        overrides, ids = self.overrides, self.ids

        def merged(pos: int) -> Any:
            values = overrides.get(ids[pos])
            return values[name] if values is not None and name in values else base(pos)

        return merged

    def _pooled_getter(self, name: str) -> Callable[[int], Any]:
        if name == "id":
            return self.ids.__getitem__
        if name == "createdAt":
            return lambda pos: iso(self.created[pos])
        if name == "updatedAt":
            return lambda pos: iso(self.updated[pos])
        seeds = self.seeds
        salt = self.salts[name]
        if name == "email":
            locals_, ids = self.email_locals, self.ids

            def email(pos: int) -> str | None:
                local = locals_[pick(seeds[pos], salt, POOL_SIZE)]
                if local is None:
                    return None
                return f"{local}{ids[pos]}@{DOMAINS[ids[pos] % len(DOMAINS)]}"

            return email
        pool = self.pools[name]
        size = len(pool)
        return lambda pos: pool[pick(seeds[pos], salt, size)]

    def text_getter(self, name: str, to_text: Callable[[Any], str]) -> Callable[[int], str]:
        """pos -> file cell text, with pooled values converted once per pool instead of per row."""
        if name in DERIVED_LEAD_FIELDS or self.overrides:
            typed = self.getter(name)
            return lambda pos: to_text(typed(pos))
        texts = [to_text(v) for v in self.pools[name]]
        seeds, salt, size = self.seeds, self.salts[name], len(texts)
        return lambda pos: texts[pick(seeds[pos], salt, size)]

    def record(self, pos: int, getters: dict[str, Callable[[int], Any]]) -> dict[str, Any]:
        return {name: get(pos) for name, get in getters.items()}

    def exportable_getters(self) -> dict[str, Callable[[int], Any]]:
        return {f.name: self.getter(f.name) for f in self.fields if f.exportable}


Variant = tuple[int | None, str | None, dict[str, Any] | None]


def _attribute_value(rng: random.Random, data_type: str) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return None
    if data_type == "integer":
        return rng.randint(0, 500000)
    if data_type == "boolean":
        return roll < 0.5
    if data_type == "float":
        return round(rng.uniform(0, 10000), 2)
    if data_type == "date":
        return f"20{rng.randint(10, 24)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    if data_type == "text" and roll < 0.5:
        return rng.choice(MULTILINE_STRINGS)
    if data_type in ("string", "text"):
        if roll < 0.4:
            return rng.choice(TRICKY_STRINGS)
        return " ".join(rng.sample(WORDS, 2))
    # Attributes carry dataTypes from the same list as fields (api-notes section 9), written
    # into the attributes JSON with their documented native types.
    value = GENERATORS.get(data_type, GENERATORS["string"])(rng, _ATTRIBUTE_SPAN)
    return documented_value(data_type, format_cell(value))


_ATTRIBUTE_SPAN = (1262304000, 1735689599)  # 2010..2024


def build_variants(rng: random.Random) -> dict[int, list[Variant]]:
    """Per bulk activity type: (primaryAttributeValueId, primaryAttributeValue, attributes) pool."""
    variants: dict[int, list[Variant]] = {}
    for activity_type in BULK_ACTIVITY_TYPES:
        primary = activity_type.get("primaryAttribute")
        attributes = activity_type.get("attributes")
        entries: list[Variant] = []
        for index in range(VARIANTS_PER_TYPE):
            value_id: int | None = None
            value: str | None = None
            if primary is not None and primary["dataType"] == "reference":
                value = crm_id(rng)  # the key itself; there is no integer id to go with it
            elif primary is not None:
                value = rng.choice(TRICKY_STRINGS[:6] + WORDS) + f" {index}"
                if primary["dataType"] == "integer":
                    value_id = 1000 + index
            attrs: dict[str, Any] | None = None
            if attributes is not None:
                attrs = {a["name"]: _attribute_value(rng, a["dataType"]) for a in attributes}
            entries.append((value_id, value, attrs))
        variants[activity_type["id"]] = entries
    return variants


@dataclass
class ActivityTable:
    """Activities in activityDate order; marketoGUID ascends with the date."""

    variants: dict[int, list[Variant]]
    guids: array = field(default_factory=lambda: array("q"))
    lead_ids: array = field(default_factory=lambda: array("q"))
    dates: array = field(default_factory=lambda: array("q"))
    type_ids: array = field(default_factory=lambda: array("q"))
    campaigns: array = field(default_factory=lambda: array("q"))  # 0 = no campaign (null)
    variant_index: array = field(default_factory=lambda: array("H"))
    results: array = field(default_factory=lambda: array("B"))  # index into ACTION_RESULTS

    def __len__(self) -> int:
        return len(self.guids)

    def append_many(
        self, rng: random.Random, dates: list[int], first_guid: int, lead_for: Callable[[int], int]
    ) -> None:
        """Add activities at the (sorted) `dates`; types, leads and values drawn from `rng`."""
        type_ids = [t["id"] for t in BULK_ACTIVITY_TYPES]
        weights = [8, 3, 6, 4, 2, 3, 2, 1, 1, 3, 1, 1][: len(type_ids)]
        picked_types = rng.choices(type_ids, weights=weights, k=len(dates))
        uniform = rng.random
        for offset, (date, type_id) in enumerate(zip(dates, picked_types, strict=True)):
            self.guids.append(first_guid + offset)
            self.dates.append(date)
            self.type_ids.append(type_id)
            self.lead_ids.append(lead_for(date))
            roll = uniform()
            self.campaigns.append(0 if roll < 0.2 else 1000 + int(roll * 9000))
            self.variant_index.append(int(uniform() * VARIANTS_PER_TYPE))
            self.results.append(0 if roll < 0.8 else (1 if roll < 0.93 else 2))

    def next_guid(self, first: int) -> int:
        """The GUID after the newest (`first` when empty): GUIDs are never reused."""
        return self.guids[-1] + 1 if len(self.guids) else first

    def remove_leads(self, lead_ids: set[int]) -> None:
        """Drop every activity of these leads (a deleted person's history goes with them)."""
        keep = [pos for pos, lead_id in enumerate(self.lead_ids) if lead_id not in lead_ids]
        for column in ("guids", "lead_ids", "dates", "type_ids", "campaigns", "variant_index",
                       "results"):
            old = getattr(self, column)
            setattr(self, column, array(old.typecode, (old[pos] for pos in keep)))

    def append_one(self, guid: int, lead_id: int, date: int, type_id: int,
                   variant: Variant) -> None:
        """One activity with values of its own (a Merge Leads entry and its merge ids)."""
        entries = self.variants.setdefault(type_id, [])
        entries.append(variant)
        self.guids.append(guid)
        self.lead_ids.append(lead_id)
        self.dates.append(date)
        self.type_ids.append(type_id)
        self.campaigns.append(0)
        self.variant_index.append(len(entries) - 1)
        self.results.append(0)

    def record(self, pos: int) -> dict[str, Any]:
        value_id, value, attrs = self.variants[self.type_ids[pos]][self.variant_index[pos]]
        campaign = self.campaigns[pos]
        return {
            "marketoGUID": str(self.guids[pos]),
            "leadId": self.lead_ids[pos],
            "activityDate": iso(self.dates[pos]),
            "activityTypeId": self.type_ids[pos],
            "campaignId": campaign or None,
            "primaryAttributeValueId": value_id,
            "primaryAttributeValue": value,
            "attributes": dict(attrs) if attrs is not None else None,
            "actionResult": ACTION_RESULTS[self.results[pos]],
        }
