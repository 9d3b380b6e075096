"""Ground truth of the reference tables served by assets_api: what a correct tap emits."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .timeutil import iso, parse_utc

LIST_MEMBER_LEAD_FIELDS = ("email", "firstName", "lastName", "createdAt", "updatedAt")


def _rfc3339(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Asset timestamps (`...Z+0000`) as "YYYY-MM-DDTHH:MM:SSZ"."""
    rows = copy.deepcopy(rows)
    for row in rows:
        for key in ("createdAt", "updatedAt"):
            if row.get(key):
                row[key] = iso(parse_utc(row[key].removesuffix("+0000")))
    return rows


class AssetTruth:
    """Mixed into GroundTruth (which provides `_data` and `_cached`)."""

    _data: Any
    _cached: Callable[[str, Callable[[], Any]], Any]

    @property
    def campaigns(self) -> list[dict[str, Any]]:
        """Smart campaigns exactly as /rest/v1/campaigns.json returns them, by id."""
        return self._cached("campaigns", lambda: copy.deepcopy(self._data.campaigns))

    @property
    def lists(self) -> list[dict[str, Any]]:
        """Static lists as /rest/v1/lists.json returns them (no leadIds), by id."""
        return self._cached(
            "lists",
            lambda: [
                {k: v for k, v in s.items() if k != "leadIds"} for s in self._data.static_lists
            ],
        )

    @property
    def list_members(self) -> list[dict[str, Any]]:
        """One row per (listId, leadId): {listId, leadId, email, firstName, lastName,
        createdAt, updatedAt}, by list then lead id. Leads deleted since are not members."""

        def build() -> list[dict[str, Any]]:
            table = self._data.leads
            getters = {name: table.getter(name) for name in LIST_MEMBER_LEAD_FIELDS}
            rows = []
            for static in self._data.static_lists:
                for lead_id in static["leadIds"]:
                    pos = table.position.get(lead_id)
                    if pos is not None:
                        rows.append(
                            {
                                "listId": static["id"],
                                "leadId": lead_id,
                                **table.record(pos, getters),
                            }
                        )
            return rows

        return self._cached("list_members", build)

    @property
    def emails(self) -> list[dict[str, Any]]:
        """Email assets as /rest/asset/v1/emails.json returns them, timestamps RFC 3339."""
        return self._cached("emails", lambda: _rfc3339(self._data.emails))

    @property
    def segmentations(self) -> list[dict[str, Any]]:
        return self._cached("segmentations", lambda: _rfc3339(self._data.segmentations))

    @property
    def segments(self) -> list[dict[str, Any]]:
        """Every segment of every segmentation (Default ones included), timestamps RFC 3339."""
        return self._cached("segments", lambda: _rfc3339(self._data.segments))

    @property
    def program_tokens(self) -> list[dict[str, Any]]:
        """One row per program My Token: {programId, name, type, value, computedUrl}."""
        return self._cached(
            "program_tokens",
            lambda: [
                {"programId": program_id, **token}
                for program_id, tokens in self._data.program_tokens.items()
                for token in tokens
            ],
        )

    def static_list_members(self, list_id: int) -> list[dict[str, Any]]:
        return [row for row in self.list_members if row["listId"] == list_id]


def reference_counts(data: Any) -> dict[str, int]:
    """Row counts of the tables above (GroundTruth.counts adds them)."""
    positions = data.leads.position
    return {
        "campaigns": len(data.campaigns),
        "lists": len(data.static_lists),
        "list_members": sum(
            1 for s in data.static_lists for lead_id in s["leadIds"] if lead_id in positions
        ),
        "emails": len(data.emails),
        "segmentations": len(data.segmentations),
        "segments": len(data.segments),
        "program_tokens": sum(len(tokens) for tokens in data.program_tokens.values()),
    }
