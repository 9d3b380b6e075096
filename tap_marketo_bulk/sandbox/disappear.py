"""Mid-run disappearance: a program or static list deleted between the list call that names it
and the per-item call that reads it (issue 17: "a program deleted between `programs` and
`program_tokens`").

The switches are `Faults.delete_program_after_listing` / `delete_list_after_listing`: the next
programs.json / lists.json answer still lists the item, and right after it the item is deleted
the way Adobe's Asset API deletes it (swagger-asset.json, "Delete Program: Deletes the target
program" with what it holds: its My Tokens and its members; "Delete Static List: Deletes the
designated Static List" with its membership). The per-item calls then answer as for any id that
names nothing: tokens.json 702, lists/{id}/leads.json 1013 (assets_api.py).
"""

from __future__ import annotations

from typing import Any

LISTING_PATHS = {
    "/rest/asset/v1/programs.json": "delete_program_after_listing",
    "/rest/v1/lists.json": "delete_list_after_listing",
}


def delete_program(data: Any, program_id: int) -> None:
    with data.lock:
        data.programs[:] = [p for p in data.programs if p["id"] != program_id]
        data.program_tokens.pop(program_id, None)
        data.members[:] = [m for m in data.members if m["programId"] != program_id]
        data.version += 1


def delete_static_list(data: Any, list_id: int) -> None:
    with data.lock:
        data.static_lists[:] = [s for s in data.static_lists if s["id"] != list_id]
        data.version += 1


def delete_after_listing(faults: Any, data: Any, path: str) -> None:
    """Called once `path` was answered: fire the armed deletion for that listing (once)."""
    switch = LISTING_PATHS.get(path)
    if switch is None:
        return
    with faults._lock:
        item_id = getattr(faults, switch)
        setattr(faults, switch, None)
    if item_id is None:
        return
    if switch == "delete_program_after_listing":
        delete_program(data, item_id)
    else:
        delete_static_list(data, item_id)
