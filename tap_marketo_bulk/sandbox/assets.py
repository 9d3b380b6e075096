"""More reference data: smart campaigns, email assets, segmentations and their segments, program
My Tokens, and two more static lists (one empty, one larger than a 300-member page).

Shapes follow Adobe's marketo-developer docs: Lead Database campaigns (api-notes section 11),
emails.md (browse answer), dynamic-content.md (segmentation.json, segments.json; every
segmentation has a "Default" segment), tokens.md (types date, number, rich text, score, sfdc
campaign, text). Drawn from a random stream of their own, so the rest of the data is unchanged.
"""

from __future__ import annotations

import random
from typing import Any

from .timeutil import DAY, asset_time, iso
from .values import TRICKY_STRINGS, WORDS

FIRST_CAMPAIGN_ID = 5001
FIRST_EMAIL_ID = 6001
FIRST_SEGMENTATION_ID = 7001
FIRST_SEGMENT_ID = 8001
TOKEN_TYPES = ("date", "number", "rich text", "score", "sfdc campaign", "text")


def build_campaigns(
    rng: random.Random, count: int, programs: list[dict[str, Any]], span: tuple[int, int]
) -> list[dict[str, Any]]:
    """Smart campaigns as /rest/v1/campaigns.json returns them (Lead Database datetimes)."""
    campaigns = []
    for index in range(count):
        program = rng.choice(programs) if programs and index % 5 else None
        created = rng.randint(span[0], span[1] - DAY)
        kind = rng.choice(("batch", "trigger"))
        campaigns.append(
            {
                "id": FIRST_CAMPAIGN_ID + index,
                "name": f"{rng.choice(WORDS)} campaign {index + 1}",
                "description": rng.choice(("", "Sends the follow-up", *TRICKY_STRINGS[:4])),
                "type": kind,
                "programName": program["name"] if program else None,
                "programId": program["id"] if program else None,
                "workspaceName": "Default",
                "createdAt": iso(created),
                "updatedAt": iso(rng.choice((created, rng.randint(created, span[1])))),
                "active": kind == "trigger" and rng.random() < 0.5,  # only triggers can be active
            }
        )
    return campaigns


def _typed_text(value: str | None) -> dict[str, Any] | None:
    return None if value is None else {"type": "Text", "value": value}


def build_emails(
    rng: random.Random, count: int, programs: list[dict[str, Any]], span: tuple[int, int]
) -> list[dict[str, Any]]:
    """Email assets as /rest/asset/v1/emails.json returns them (Asset timestamps)."""
    emails = []
    for index in range(count):
        email_id = FIRST_EMAIL_ID + index
        created = rng.randint(span[0], span[1] - DAY)
        program = rng.choice(programs) if programs and index % 3 else None
        folder = (
            {"type": "Program", "value": program["id"], "folderName": program["name"]}
            if program
            else {"type": "Folder", "value": 10, "folderName": "Marketing Activities"}
        )
        subject = rng.choice((f"{rng.choice(WORDS)} news", *TRICKY_STRINGS[:5]))
        emails.append(
            {
                "id": email_id,
                "name": f"Email {email_id} {rng.choice(WORDS)}",
                "description": rng.choice(("", "Monthly newsletter")),
                "createdAt": asset_time(created),
                "updatedAt": asset_time(rng.choice((created, rng.randint(created, span[1])))),
                "url": f"https://app-sj01.marketo.com/#EM{email_id}A1",
                "subject": _typed_text(subject),
                "fromName": _typed_text(rng.choice(("Marketing", "Sales Team"))),
                "fromEmail": _typed_text(rng.choice((None, "news@example.com"))),
                "replyEmail": _typed_text("reply@example.com"),
                "folder": folder,
                "operational": rng.random() < 0.1,
                "textOnly": rng.random() < 0.1,
                "publishToMSI": False,
                "webView": rng.random() < 0.5,
                "status": rng.choice(("approved", "draft")),
                "template": rng.choice((None, 24, 338)),
                "workspace": "Default",
                "isOpenTrackingDisabled": rng.random() < 0.2,
                "version": 2,
                "autoCopyToText": rng.random() < 0.5,
                "ccFields": None,
                "preHeader": rng.choice((None, "Read this first")),
            }
        )
    return emails


def build_segmentations(
    rng: random.Random, count: int, span: tuple[int, int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(segmentations, segments); each segmentation's last segment is "Default"."""
    segmentations: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    for index in range(count):
        seg_id = FIRST_SEGMENTATION_ID + index
        created = rng.randint(span[0], span[1] - DAY)
        updated = rng.randint(created, span[1])
        status = rng.choice(("approved", "draft"))
        segmentations.append(
            {
                "id": seg_id,
                "name": f"{rng.choice(WORDS)} Segmentation {index + 1}",
                "description": "",
                "createdAt": asset_time(created),
                "updatedAt": asset_time(updated),
                "url": f"https://app-sj01.marketo.com/#SG{seg_id}A1",
                "folder": {"type": "Folder", "value": 12, "folderName": "Lead Database"},
                "status": status,
                "workspace": "Default",
            }
        )
        names = [f"{rng.choice(WORDS)} {n}" for n in range(rng.randint(1, 4))] + ["Default"]
        for name in names:
            segment_id = FIRST_SEGMENT_ID + len(segments)
            segments.append(
                {
                    "id": segment_id,
                    "name": name,
                    "description": None,
                    "createdAt": asset_time(created),
                    "updatedAt": asset_time(updated),
                    "url": f"https://app-sj01.marketo.com/#SL{segment_id}A1",
                    "status": status,
                    "segmentationId": seg_id,
                }
            )
    return segmentations, segments


def build_program_tokens(
    rng: random.Random, programs: list[dict[str, Any]], span: tuple[int, int]
) -> dict[int, list[dict[str, Any]]]:
    """Program id -> its My Tokens (0 to 4), as tokens.json lists them."""
    tokens: dict[int, list[dict[str, Any]]] = {}
    for program in programs:
        rows = []
        for number in range(rng.randint(0, 4)):
            kind = rng.choice(TOKEN_TYPES)
            value = {
                "date": iso(rng.randint(*span))[:10],
                "number": str(rng.choice((3, 2.5, -10))),
                "score": str(rng.randint(-20, 50)),
                "rich text": "<p>Hello <b>{{lead.First Name}}</b></p>",
                "sfdc campaign": "Campaign A",
                "text": rng.choice(("Spring event", *TRICKY_STRINGS[:4])),
            }[kind]
            rows.append(
                {
                    "name": f"my.{rng.choice(WORDS)} {number}",
                    "type": kind,
                    "value": value,
                    "computedUrl": f"https://app-sj01.marketo.com/#PG{program['id']}A1",
                }
            )
        tokens[program["id"]] = rows
    return tokens


def extra_static_lists(
    rng: random.Random, first_id: int, lead_ids: list[int], large_size: int, span: tuple[int, int]
) -> list[dict[str, Any]]:
    """An empty static list and one with `large_size` members (as many as there are leads)."""
    size = min(large_size, len(lead_ids))
    lists = []
    for offset, (name, members) in enumerate(
        (
            ("Empty list", []),
            ("Large list", sorted(rng.sample(lead_ids, size))),
        )
    ):
        created = rng.randint(span[0], span[1])
        lists.append(
            {
                "id": first_id + offset,
                "name": name,
                "description": "Static list",
                "programName": None,
                "workspaceName": "Default",
                "createdAt": iso(created),
                "updatedAt": iso(rng.randint(created, span[1])),
                "leadIds": members,
            }
        )
    return lists


def add_assets(data: Any, seed: int, config: Any) -> None:
    """Give a Dataset its campaigns, emails, segmentations, segments, program tokens and the
    two extra static lists."""
    rng = random.Random(f"{seed}:assets")
    span = (data.start, data.end)
    data.campaigns = build_campaigns(rng, config.campaigns, data.programs, span)
    data.emails = build_emails(rng, config.emails, data.programs, span)
    data.segmentations, data.segments = build_segmentations(rng, config.segmentations, span)
    data.program_tokens = build_program_tokens(rng, data.programs, span)
    first_id = max((s["id"] for s in data.static_lists), default=2000) + 1
    data.static_lists.extend(
        extra_static_lists(rng, first_id, list(data.leads.ids), config.large_static_list, span)
    )
