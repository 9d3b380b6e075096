"""activities_by_type: how the carrier cuts windows and what each window's job asks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tap_marketo_bulk.export.windows import UTC, Window, format_datetime
from tap_marketo_bulk.streams.activities_by_type import ActivityExportGroup, cut_at


def at(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


def end_of(day: int) -> datetime:
    return datetime(2024, 1, day, 23, 59, 59, tzinfo=UTC)


def test_cut_at_splits_windows_at_each_member_start() -> None:
    windows = [Window(at(1), end_of(10)), Window(at(11), end_of(20))]
    # A cut at a window's start, or outside every window, splits nothing.
    cut = cut_at(windows, [at(1), at(5), at(11), at(15), at(25)])
    assert cut == [
        Window(at(1), end_of(4)),
        Window(at(5), end_of(10)),
        Window(at(11), end_of(14)),
        Window(at(15), end_of(20)),
    ]
    assert cut_at(windows, []) == windows


@dataclass
class FakeMember:
    name: str
    start: datetime
    columns: list[str]
    type_ids: list[int]
    calls: list[str] = field(default_factory=list)

    def own_window_start(self) -> datetime:
        return self.start

    @property
    def stream_state(self) -> dict:
        """A bookmark one second before `start`; none for a member starting on day 1."""
        if self.start <= at(1):
            return {}
        return {"replication_key_value": format_datetime(self.start - timedelta(seconds=1))}

    def export_columns(self) -> list[str]:
        return self.columns

    def exported_type_ids(self) -> list[int]:
        return self.type_ids


def test_a_window_goes_to_the_members_whose_bookmark_is_before_it() -> None:
    activities = FakeMember("activities", at(10), ["marketoGUID", "actionResult"], [1, 6, 12])
    send_email = FakeMember("activities_send_email", at(1), ["leadId", "attributes"], [6])
    new_lead = FakeMember("activities_new_lead", at(1), ["campaignId"], [12])
    unselected = FakeMember("activities_visit_webpage", at(1), ["attributes"], [1])
    selected = [activities, new_lead, send_email]
    group = ActivityExportGroup(lambda: selected)
    group.members = [activities, new_lead, send_email, unselected]  # type: ignore[list-item]
    assert group.carrier() is activities
    assert group.plan_starts() == {
        "activities": at(10),
        "activities_new_lead": at(1),
        "activities_send_email": at(1),
    }

    early = Window(at(1), end_of(9))
    assert group.receivers(early) == [new_lead, send_email]
    body = group.export_body(early)
    assert body["filter"]["activityTypeIds"] == [6, 12]  # not 1: nobody needs it yet
    assert body["fields"] == [
        "marketoGUID",
        "leadId",
        "activityDate",
        "activityTypeId",
        "campaignId",
        "attributes",
    ]

    late = Window(at(10), end_of(20))
    assert group.receivers(late) == [activities, new_lead, send_email]
    body = group.export_body(late)
    assert body["filter"]["activityTypeIds"] == [1, 6, 12]
    assert "actionResult" in body["fields"]
    assert body["filter"]["createdAt"] == late.as_filter()
