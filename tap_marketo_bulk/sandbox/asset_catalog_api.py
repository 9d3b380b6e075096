"""REST endpoints of the asset catalogue (forms and their fields, landing pages, email templates,
snippets, files, smart lists, smart campaigns, channels, tag types, program by id) and of the
Usage API.

Paging as Adobe's OpenAPI spec of the Asset API (swagger-asset.json) declares it per path: the
browse endpoints take `maxReturn` (maximum 200, default 20) and `offset` and end with the "No
assets found" warning (api-notes section 2); smartLists.json and smartCampaigns.json also take
`earliestUpdatedAt` / `latestUpdatedAt`; form/{id}/fields.json and program/{id}.json are not
paged. The usage endpoints take no parameter (usage.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .assets_api import updated_between
from .envelope import ApiError, Request, success
from .rest_api import NO_ASSETS, RestEndpoints
from .usage import UsageLog

Handler = Callable[..., dict[str, Any]]
STATUSES = ("approved", "draft")  # forms.md / landing-pages.md: the `status` browse filter


def _status_filtered(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    status = request.query.get("status")
    if not status:
        return items
    if status.lower() not in STATUSES:
        raise ApiError("1003", f"Invalid value for status '{status}'")
    return [i for i in items if i.get("status") == status.lower()]


class AssetCatalogEndpoints:
    def __init__(self, data: Any) -> None:
        self._data = data
        self._usage: UsageLog = data.usage

    def routes(self) -> dict[str, Handler]:
        page = self._browse
        return {
            "/rest/asset/v1/forms.json": lambda r: page(r, "forms", status=True),
            "/rest/asset/v1/form/{form_id}/fields.json": self.form_fields,
            "/rest/asset/v1/landingPages.json": lambda r: page(r, "landing_pages", status=True),
            "/rest/asset/v1/emailTemplates.json": lambda r: page(r, "email_templates",
                                                                 status=True),
            "/rest/asset/v1/snippets.json": lambda r: page(r, "snippets", status=True),
            "/rest/asset/v1/files.json": lambda r: page(r, "files"),
            "/rest/asset/v1/smartLists.json": lambda r: page(r, "smart_lists", updated=True),
            "/rest/asset/v1/smartCampaigns.json": lambda r: page(r, "smart_campaigns",
                                                                 updated=True),
            "/rest/asset/v1/channels.json": lambda r: page(r, "channels"),
            "/rest/asset/v1/tagTypes.json": lambda r: page(r, "tag_types"),
            "/rest/asset/v1/program/{program_id}.json": self.program,
            "/rest/v1/stats/usage.json": lambda r: success(self._usage.current()),
            "/rest/v1/stats/usage/last7days.json": lambda r: success(self._usage.last7days()),
        }

    def _browse(self, request: Request, table: str, *, status: bool = False,
                updated: bool = False) -> dict[str, Any]:
        items = list(getattr(self._data, table))
        if status:
            items = _status_filtered(request, items)
        if updated:
            items = updated_between(request, items)
        return RestEndpoints._asset_page(request, items)

    def form_fields(self, request: Request, form_id: int) -> dict[str, Any]:
        fields = self._data.form_fields.get(form_id)
        if fields is None or form_id in self._data.missing_forms:
            # error-codes.md: 702 "No data found for a given search scenario"
            raise ApiError("702", f"Form with id {form_id} not found")
        return success([dict(f) for f in fields], warnings=[])

    def program(self, request: Request, program_id: int) -> dict[str, Any]:
        """Get Program by Id (programs.md): the browse fields plus tags, costs, start/end."""
        program = self._data.program(program_id)
        if program is None or program_id in self._data.missing_programs:
            # the Asset API answers an unknown id like an empty search (api-notes section 2)
            return success(None, warnings=[NO_ASSETS])
        return success([{**program, **self._data.program_details[program_id]}], warnings=[])
