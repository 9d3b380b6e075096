"""Day 2 of an instance: people deleted and merged, members removed, records and assets deleted.

Each change follows Adobe's documentation:
- Delete Person (experienceleague.adobe.com/en/docs/marketo/using/product-docs/
  core-marketo-concepts/smart-campaigns/flow-actions/delete-person): "When you delete a
  person, all of their historical ... data will be deleted as well": the lead, its activities,
  its program and static list memberships and the custom object records linked to it go; a
  Delete Lead (type 37) entry appears in activities/deletedleads.json at the deletion time
  (marketo-developer rest/lead-database/activities.md, "Deleted Leads").
- Merge Leads (marketo-developer rest/lead-database/leads.md, "Merge"): "a merge combines
  activity logs; program, campaign, and list memberships; CRM information; and field values".
  The loser leaves the lead database; its activities, program memberships, static list
  memberships and custom object records move to the winner. Field values: the docs let a person
  pick per field in the UI and say nothing for the API; we keep the winner's non-empty values
  and let the loser fill the winner's empty ones (our choice). A Merge Leads activity (type 32)
  is logged on the winner with the attributes Adobe's Experience Platform mapping lists for it
  (merges.py).
  Where the docs are silent we chose: activities keep their activityDate (history is not
  rewritten); moved program memberships and custom object records get updatedAt = the merge
  time (their record changed, so updatedAt windows see them); when both were members of a
  program the winner's membership stays and the loser's goes; the winner's updatedAt is the
  merge time.
- Removals: a lead leaves a static list or a program; a custom object record, a smart campaign,
  an email asset or a program My Token is deleted: each is simply gone from every endpoint.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .catalog import DERIVED_LEAD_FIELDS
from .dataset import FIRST_ACTIVITY_GUID, FIRST_DELETION_RECORD_ID, Dataset
from .merges import MERGE_LEADS_TYPE_ID, merge_attributes, merged_lead_rows
from .reference import make_deleted_lead
from .timeutil import iso
from .values import WORDS

# Not a field a merge fills: identity and timestamps stay the winner's (updatedAt is bumped).
_MERGE_KEPT = frozenset(DERIVED_LEAD_FIELDS - {"email"})


@dataclass(frozen=True)
class ChangeScenario:
    """How many of each change day 2 brings (the issue's counts by default)."""

    deleted_leads: int = 20
    merges: int = 10
    list_removals: int = 30
    program_removals: int = 15
    custom_object_deletions: int = 10  # per lead-linked custom object
    campaigns_removed: int = 1
    emails_removed: int = 1
    program_tokens_removed: int = 1


@dataclass
class ChangeLog:
    """What day 2 changed, for tests to check against."""

    deleted_lead_ids: list[int] = field(default_factory=list)
    merges: list[tuple[int, int, str]] = field(default_factory=list)  # (winner, loser, mergedAt)
    removed_list_members: list[tuple[int, int]] = field(default_factory=list)  # (listId, leadId)
    removed_program_members: list[tuple[int, int]] = field(default_factory=list)  # (lead, program)
    deleted_custom_objects: dict[str, list[str]] = field(default_factory=dict)  # name -> GUIDs
    removed_campaign_ids: list[int] = field(default_factory=list)
    removed_email_ids: list[int] = field(default_factory=list)
    removed_program_tokens: list[tuple[int, str]] = field(default_factory=list)  # (program, name)


def apply_changes(data: Dataset, scenario: ChangeScenario, earliest: int, latest: int,
                  seed: int) -> ChangeLog:
    """Apply `scenario` with every change timed in [earliest, latest] (after all existing data)."""
    rng = random.Random(f"{seed}:day2:{earliest}")
    earliest = max(earliest, data.latest + 1)
    latest = max(latest, earliest)
    log = ChangeLog()
    with data.lock:
        alive = list(data.leads.ids)
        wanted = min(len(alive), scenario.deleted_leads + 2 * scenario.merges)
        picked = rng.sample(alive, wanted)
        deleted = picked[: scenario.deleted_leads]
        # A loser never won an earlier merge: no chains (A into B, then B into C), which only
        # a recursive query resolves (README, "The warehouse mirrors Marketo").
        earlier_winners = {row["leadId"] for row in merged_lead_rows(data.activities)}
        rest = picked[len(deleted):]
        losers = [i for i in rest if i not in earlier_winners][: len(rest) // 2]
        winners = [i for i in rest if i not in losers][: len(losers)]
        pairs = list(zip(winners, losers, strict=False))
        times = sorted(rng.randint(earliest, latest) for _ in range(len(deleted) + len(pairs)))
        for when, (winner, loser) in zip(times[: len(pairs)], pairs, strict=True):
            _merge(data, winner, loser, when)
            log.merges.append((winner, loser, iso(when)))
        for when, lead_id in zip(times[len(pairs):], deleted, strict=True):
            _delete_lead(data, rng, lead_id, when)
            log.deleted_lead_ids.append(lead_id)
        gone = set(deleted) | {loser for _, loser in pairs}
        data.leads.remove(gone)
        data.activities.remove_leads(set(deleted))  # a loser's history moved to its winner
        _remove_members(data, rng, scenario, log)
        _remove_assets(data, rng, scenario, log)
        data.latest = max(data.latest, latest)
        data.version += 1
    return log


# ------------------------------------------------------------------------------ people
def _delete_lead(data: Dataset, rng: random.Random, lead_id: int, when: int) -> None:
    data.members = [m for m in data.members if m["leadId"] != lead_id]
    for static in data.static_lists:
        if lead_id in static["leadIds"]:
            static["leadIds"] = [i for i in static["leadIds"] if i != lead_id]
    for table in _lead_linked_tables(data):
        link = table.definition.link_field
        keep = [pos for pos, row in enumerate(table.rows) if row[link] != lead_id]
        table.rows = [table.rows[pos] for pos in keep]
        table.updated = [table.updated[pos] for pos in keep]
    record_id = FIRST_DELETION_RECORD_ID + len(data.deleted_leads)
    name = f"{rng.choice(WORDS)}, {rng.choice(WORDS)}"
    data.deleted_leads.append(make_deleted_lead(record_id, lead_id, when, name))


def _merge(data: Dataset, winner: int, loser: int, when: int) -> None:
    leads = data.leads
    win_pos, lose_pos = leads.position[winner], leads.position[loser]
    filled: dict[str, Any] = {}
    for spec in leads.fields:
        if not spec.exportable or spec.name in _MERGE_KEPT:
            continue
        get = leads.getter(spec.name)
        if get(win_pos) in (None, "") and get(lose_pos) not in (None, ""):
            filled[spec.name] = get(lose_pos)  # the loser fills the winner's empty field
    if filled:
        leads.overrides.setdefault(winner, {}).update(filled)
    leads.updated[win_pos] = when
    activities = data.activities
    for pos, lead_id in enumerate(activities.lead_ids):
        if lead_id == loser:
            activities.lead_ids[pos] = winner
    _move_memberships(data, winner, loser, when)
    guid = activities.next_guid(FIRST_ACTIVITY_GUID)
    attributes = merge_attributes(loser)
    activities.append_one(guid, winner, when, MERGE_LEADS_TYPE_ID, (None, None, attributes))


def _move_memberships(data: Dataset, winner: int, loser: int, when: int) -> None:
    winner_programs = {m["programId"] for m in data.members if m["leadId"] == winner}
    moved = []
    for member in data.members:
        if member["leadId"] != loser:
            moved.append(member)
        elif member["programId"] not in winner_programs:  # else the winner's membership stays
            moved.append({**member, "leadId": winner, "updatedAt": iso(when)})
    data.members = moved
    for static in data.static_lists:
        if loser in static["leadIds"]:
            static["leadIds"] = sorted({*static["leadIds"], winner} - {loser})
    for table in _lead_linked_tables(data):
        link = table.definition.link_field
        for pos, row in enumerate(table.rows):
            if row[link] == loser:
                row[link] = winner
                row["updatedAt"] = iso(when)
                table.updated[pos] = when


def _lead_linked_tables(data: Dataset) -> list[Any]:
    return [t for t in data.custom_objects.tables.values() if t.definition.lead_linked]


# ------------------------------------------------------------------------------ removals
def _remove_members(data: Dataset, rng: random.Random, scenario: ChangeScenario,
                    log: ChangeLog) -> None:
    pairs = [(s["id"], lead_id) for s in data.static_lists for lead_id in s["leadIds"]]
    removed = set(rng.sample(pairs, min(scenario.list_removals, len(pairs))))
    for static in data.static_lists:
        static["leadIds"] = [i for i in static["leadIds"] if (static["id"], i) not in removed]
    log.removed_list_members = sorted(removed)
    gone = set(rng.sample(range(len(data.members)),
                          min(scenario.program_removals, len(data.members))))
    log.removed_program_members = sorted(
        (data.members[i]["leadId"], data.members[i]["programId"]) for i in gone)
    data.members = [m for i, m in enumerate(data.members) if i not in gone]
    for table in _lead_linked_tables(data):
        drop = set(rng.sample(range(len(table.rows)),
                              min(scenario.custom_object_deletions, len(table.rows))))
        log.deleted_custom_objects[table.definition.name] = sorted(
            table.rows[pos]["marketoGUID"] for pos in drop)
        table.rows = [row for pos, row in enumerate(table.rows) if pos not in drop]
        table.updated = [u for pos, u in enumerate(table.updated) if pos not in drop]


def _remove_assets(data: Any, rng: random.Random, scenario: ChangeScenario,
                   log: ChangeLog) -> None:
    for _ in range(min(scenario.campaigns_removed, len(data.campaigns))):
        log.removed_campaign_ids.append(data.campaigns.pop(rng.randrange(len(data.campaigns)))["id"])
    for _ in range(min(scenario.emails_removed, len(data.emails))):
        log.removed_email_ids.append(data.emails.pop(rng.randrange(len(data.emails)))["id"])
    for _ in range(scenario.program_tokens_removed):
        holders = [pid for pid, tokens in sorted(data.program_tokens.items()) if tokens]
        if not holders:
            break
        program_id = rng.choice(holders)
        tokens = data.program_tokens[program_id]
        token = tokens.pop(rng.randrange(len(tokens)))
        log.removed_program_tokens.append((program_id, token["name"]))
