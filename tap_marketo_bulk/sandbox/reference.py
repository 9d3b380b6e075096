"""Small reference data: folders, programs, program members, lists, deleted leads.

Everything here is plain dicts in the REST shape (programs, folders, deleted leads) or in the typed
shape a tap emits (program members), so the truth is a copy of what is stored.
"""

from __future__ import annotations

import random
from typing import Any

from .catalog import DELETE_LEAD_TYPE_ID
from .tables import LeadTable
from .timeline import Timeline
from .timeutil import DAY, asset_time, iso
from .values import MULTILINE_STRINGS, TRICKY_STRINGS, WORDS

CHANNELS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # channel -> (program type, statuses, success statuses)
    "Webinar": ("Event", ("Invited", "Registered", "Attended", "No Show"), ("Attended",)),
    "Email Send": ("Email", ("Member", "Sent", "Opened", "Clicked"), ("Clicked",)),
    "Tradeshow": ("Event", ("Invited", "Visited Booth", "Attended"), ("Visited Booth", "Attended")),
    "Nurture": ("Engagement", ("Member", "Engaged", "Exhausted"), ("Engaged",)),
    "Content": ("Default", ("Member", "Downloaded"), ("Downloaded",)),
}
TOP_FOLDERS = ("Marketing Activities", "Design Studio", "Lead Database", "Analytics")


def build_folders(rng: random.Random, birth: int, end: int) -> list[dict[str, Any]]:
    """Top-level system folders born with the instance (the oldest is exactly `birth`), plus
    a few child folders created later."""
    folders: list[dict[str, Any]] = []
    for index, name in enumerate(TOP_FOLDERS):
        created = birth + (0 if index == 0 else rng.randint(0, 3600))
        folders.append(_folder(10 + index, name, created, None, f"/{name}", depth=1))
    for index in range(4):
        parent = folders[index % 2]
        created = rng.randint(birth + DAY, end)
        name = f"{rng.choice(WORDS)} {2023 + index % 2}"
        folders.append(
            _folder(100 + index, name, created, parent["id"], f"{parent['path']}/{name}", depth=2)
        )
    return folders


def _folder(
    folder_id: int, name: str, created: int, parent: int | None, path: str, depth: int
) -> dict[str, Any]:
    return {
        "id": folder_id,
        "name": name,
        "description": None,
        "createdAt": asset_time(created),
        "updatedAt": asset_time(created),
        "url": None,
        "folderId": {"id": folder_id, "type": "Folder"},
        "folderType": "Marketing Folder" if depth == 1 else "Folder",
        "parent": None if parent is None else {"id": parent, "type": "Folder"},
        "path": path,
        "isArchive": False,
        "isSystem": depth == 1,
        "accessZoneId": 1,
        "workspace": "Default",
    }


def build_programs(
    rng: random.Random, count: int, span: tuple[int, int], folders: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    programs: list[dict[str, Any]] = []
    for index in range(count):
        program_id = 1001 + index
        channel = rng.choice(list(CHANNELS))
        created = rng.randint(span[0], span[1] - DAY)
        updated = rng.choice((created, rng.randint(created, span[1])))
        folder = folders[0] if index % 3 else folders[min(4, len(folders) - 1)]
        name = f"{channel} {program_id} {rng.choice(WORDS)}"
        if index % 4 == 1:
            name += ", " + rng.choice(TRICKY_STRINGS[:8])  # names with commas and quotes
        program_type = CHANNELS[channel][0]
        programs.append({
            "id": program_id,
            "name": name,
            "description": rng.choice(("", "Quarterly campaign", *MULTILINE_STRINGS[:2])),
            "createdAt": asset_time(created),
            "updatedAt": asset_time(updated),
            "url": f"https://app-sj01.marketo.com/#PG{program_id}A1",
            "type": program_type,
            "channel": channel,
            "folder": {"type": "Folder", "value": folder["id"], "folderName": folder["name"]},
            "status": "" if program_type in ("Default", "Event") else rng.choice(("on", "off")),
            "workspace": "Default",
        })
    return programs


def build_members(
    rng: random.Random, programs: list[dict[str, Any]], leads: LeadTable, per_program: int,
    timeline: Timeline,
) -> list[dict[str, Any]]:
    """Program memberships, typed as a tap emits them (all describe fields)."""
    members: list[dict[str, Any]] = []
    if not len(leads):
        return members
    for program in programs:
        count = min(per_program, len(leads))
        positions = sorted(rng.sample(range(len(leads)), count))
        stamps = timeline.draw(rng, count)
        rng.shuffle(stamps)
        for pos, updated in zip(positions, stamps, strict=True):
            members.append(make_member(rng, program, leads.ids[pos], updated, timeline.start))
    return members


def make_member(
    rng: random.Random, program: dict[str, Any], lead_id: int, updated: int, floor: int
) -> dict[str, Any]:
    _, statuses, successes = CHANNELS[program["channel"]]
    joined = max(floor, updated - rng.randint(0, 60 * DAY))
    status = rng.choice(statuses)
    success = status in successes
    nurture = program["channel"] == "Nurture"
    return {
        "acquiredBy": rng.random() < 0.3,
        "attendanceLikelihood": rng.choice((None, rng.randint(0, 100))),
        "createdAt": iso(joined),
        "isExhausted": nurture and status == "Exhausted",
        "leadId": lead_id,
        "membershipDate": iso(joined),
        "nurtureCadence": rng.choice(("norm", "paus")) if nurture else None,
        "program": program["name"],
        "programId": program["id"],
        "reachedSuccess": success,
        "reachedSuccessDate": iso(rng.randint(joined, updated)) if success else None,
        "registrationLikelihood": rng.choice((None, rng.randint(0, 100))),
        "statusName": status,
        "statusReason": rng.choice((None, "Changed by Smart Campaign", *TRICKY_STRINGS[:6])),
        "trackName": rng.choice((None, "Track A", "Track B")) if nurture else None,
        "updatedAt": iso(updated),
        "waitlistPriority": rng.choice((None, rng.randint(1, 50))),
        "myCustomField": rng.choice((None, *TRICKY_STRINGS, *MULTILINE_STRINGS)),
        "registrationCode": rng.choice((None, f"REG-{rng.randint(1000, 9999)}")),
        "webinarUrl": rng.choice((None, f"https://example.com/webinar?id={lead_id}&a=b")),
    }


def build_static_lists(
    rng: random.Random, count: int, leads: LeadTable, span: tuple[int, int]
) -> list[dict[str, Any]]:
    """Static lists with `leadIds` members (ids of existing leads, ascending)."""
    lists: list[dict[str, Any]] = []
    for index in range(count):
        created = rng.randint(span[0], span[1])
        size = min(len(leads), rng.randint(5, 300))
        member_ids = sorted(leads.ids[pos] for pos in rng.sample(range(len(leads)), size))
        lists.append({
            "id": 2001 + index,
            "name": f"List {index + 1} {rng.choice(WORDS)}",
            "description": "Static list",
            "programName": None,
            "workspaceName": "Default",
            "createdAt": iso(created),
            "updatedAt": iso(rng.randint(created, span[1])),
            "leadIds": member_ids,
        })
    return lists


SMART_LISTS: tuple[dict[str, Any], ...] = (
    # Smart lists select leads by a rule; here: every lead whose id is a multiple of `every`.
    {"id": 3001, "name": "Every Third Person", "every": 3},
    {"id": 3002, "name": "Every Seventh Person", "every": 7},
)


def make_deleted_lead(record_id: int, lead_id: int, deleted_at: int, name: str) -> dict[str, Any]:
    """A deleted lead as /rest/v1/activities/deletedleads.json returns it."""
    return {
        "id": record_id,
        "marketoGUID": str(record_id),
        "leadId": lead_id,
        "activityDate": iso(deleted_at),
        "activityTypeId": DELETE_LEAD_TYPE_ID,
        "primaryAttributeValueId": lead_id,
        "primaryAttributeValue": name,
        "attributes": [],
    }
