"""REST sampling for the forecast (rest_sample.py): activities per window and live lead ids,
on requests-mock."""

from __future__ import annotations

import itertools
import logging
import typing as t
from datetime import datetime, timedelta, timezone

import pytest
import requests_mock

from tap_marketo_bulk.api.client import MarketoClient
from tap_marketo_bulk.errors import MarketoError
from tap_marketo_bulk.export import rest_sample
from tap_marketo_bulk.export.rest_sample import (
    live_lead_share,
    live_lead_share_or_none,
    sample_rows,
    sample_rows_or_none,
)
from tap_marketo_bulk.export.windows import Window, format_datetime, parse_datetime
from tests.unit.fake_marketo import (
    BASE_URL,
    CLIENT_SECRET,
    TOKEN,
    identity_mocker,
    sleepless_client,
)

UTC = timezone.utc
TOKEN_URL = f"{BASE_URL}/rest/v1/activities/pagingtoken.json"
ACTIVITIES_URL = f"{BASE_URL}/rest/v1/activities.json"
LEADS_URL = f"{BASE_URL}/rest/v1/leads.json"
START = datetime(2024, 1, 1, tzinfo=UTC)
FOUR_DAYS = Window(START, START + timedelta(days=4, seconds=-1))  # 345600 s

Answer = t.Callable[[t.Any, t.Any], dict]


@pytest.fixture
def mocker() -> t.Iterator[requests_mock.Mocker]:
    # case_sensitive: paging tokens and sinceDatetime keep their case in request.qs
    with identity_mocker(case_sensitive=True) as m:
        yield m


@pytest.fixture
def client() -> MarketoClient:
    return sleepless_client()


def activities(*dates: datetime) -> list[dict]:
    return [
        {"id": i + 1, "activityDate": format_datetime(d), "activityTypeId": 1}
        for i, d in enumerate(dates)
    ]


def at(seconds: int) -> datetime:
    return START + timedelta(seconds=seconds)


def since_token(request: t.Any, context: t.Any) -> dict:
    """A paging token that names the date it was asked for: "S<sinceDatetime>"."""
    return {"success": True, "nextPageToken": "S" + request.qs["sinceDatetime"][0]}


def pages_by_token(pages: dict[str, dict]) -> Answer:
    def answer(request: t.Any, context: t.Any) -> dict:
        return {"success": True, **pages[request.qs["nextPageToken"][0]]}

    return answer


FIRST = "S" + format_datetime(START)


# ----- sample_rows: one window -------------------------------------------------------------------


def test_a_window_with_fewer_activities_than_a_page_is_counted_exactly(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    # 5 inside (the last one on the window's inclusive end), then 2 after it: the page is short
    # but Marketo says there is more; the first activity after the end stops the count.
    inside = [at(0), at(10), at(5000), at(86400 * 2), FOUR_DAYS.end]
    after = [FOUR_DAYS.end + timedelta(seconds=1), FOUR_DAYS.end + timedelta(days=1)]
    tokens = mocker.get(TOKEN_URL, json=since_token)
    pages = mocker.get(
        ACTIVITIES_URL,
        json=pages_by_token(
            {
                FIRST: {
                    "result": activities(*inside, *after),
                    "moreResult": True,
                    "nextPageToken": "P2",
                }
            }
        ),
    )
    assert sample_rows(client, [FOUR_DAYS], [1, 6]) == {FOUR_DAYS.key: 5.0}
    assert tokens.call_count == 1 and pages.call_count == 1
    assert tokens.last_request.qs["sinceDatetime"] == ["2024-01-01T00:00:00Z"]
    sent = pages.last_request.qs
    assert sent["activityTypeIds"] == ["1,6"] and sent["batchSize"] == ["300"]


def test_a_short_last_page_ends_the_count(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    # 7 activities in the first hour of four days and nothing more: 7, not extrapolated.
    mocker.get(TOKEN_URL, json=since_token)
    pages = mocker.get(
        ACTIVITIES_URL,
        json=pages_by_token(
            {
                FIRST: {
                    "result": activities(*(at(60 * i) for i in range(7))),
                    "moreResult": False,
                    "nextPageToken": "P2",
                }
            }
        ),
    )
    assert sample_rows(client, [FOUR_DAYS], [1]) == {FOUR_DAYS.key: 7.0}
    assert pages.call_count == 1


def test_an_empty_window_counts_zero(mocker: requests_mock.Mocker, client: MarketoClient) -> None:
    mocker.get(TOKEN_URL, json=since_token)
    mocker.get(ACTIVITIES_URL, json={"success": True, "moreResult": False, "nextPageToken": "X"})
    assert sample_rows(client, [FOUR_DAYS], [1]) == {FOUR_DAYS.key: 0.0}


def test_a_full_page_inside_the_window_is_extrapolated_by_its_time_span(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    # 300 activities over the window's first day (the last at 23:59:59): a quarter of the window.
    dates = [at(i * 86399 // 299) for i in range(300)]
    assert dates[-1] == at(86399)
    mocker.get(TOKEN_URL, json=since_token)
    pages = mocker.get(
        ACTIVITIES_URL,
        json=pages_by_token(
            {
                FIRST: {"result": activities(*dates), "moreResult": True, "nextPageToken": "P2"},
                "P2": {"result": activities(at(90000)), "moreResult": False},
            }
        ),
    )
    counted = sample_rows(client, [FOUR_DAYS], [1])
    assert counted[FOUR_DAYS.key] == pytest.approx(1200.0)
    assert pages.call_count == 1  # a full page is enough: its density stands for the window


def test_a_full_page_spanning_half_the_window_gives_twice_the_page(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    dates = [at(i * (2 * 86400 - 1) // 299) for i in range(300)]
    mocker.get(TOKEN_URL, json=since_token)
    mocker.get(
        ACTIVITIES_URL,
        json=pages_by_token(
            {FIRST: {"result": activities(*dates), "moreResult": True, "nextPageToken": "P2"}}
        ),
    )
    assert sample_rows(client, [FOUR_DAYS], [1])[FOUR_DAYS.key] == pytest.approx(600.0)


def test_short_pages_with_more_result_are_followed_up_to_max_pages(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    # Marketo returns short (even empty) pages while it scans: follow the token, at most
    # MAX_PAGES pages, then go by the density seen: 30 activities in the first day -> 120.
    assert rest_sample.MAX_PAGES == 3
    first_day = [at(i * 86399 // 29) for i in range(30)]
    pages = {
        FIRST: {"result": activities(*first_day[:10]), "moreResult": True, "nextPageToken": "P2"},
        "P2": {"result": activities(*first_day[10:20]), "moreResult": True, "nextPageToken": "P3"},
        "P3": {"result": activities(*first_day[20:]), "moreResult": True, "nextPageToken": "P4"},
        "P4": {"result": activities(at(90000)), "moreResult": False},
    }
    mocker.get(TOKEN_URL, json=since_token)
    route = mocker.get(ACTIVITIES_URL, json=pages_by_token(pages))
    counted = sample_rows(client, [FOUR_DAYS], [1])
    assert [r.qs["nextPageToken"][0] for r in route.request_history] == [FIRST, "P2", "P3"]
    assert counted[FOUR_DAYS.key] == pytest.approx(120.0)


def test_short_pages_are_followed_until_more_result_is_false(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    pages = {
        FIRST: {"moreResult": True, "nextPageToken": "P2"},  # an empty page while scanning
        "P2": {"result": activities(at(5), at(6)), "moreResult": False, "nextPageToken": "P3"},
    }
    mocker.get(TOKEN_URL, json=since_token)
    route = mocker.get(ACTIVITIES_URL, json=pages_by_token(pages))
    assert sample_rows(client, [FOUR_DAYS], [1]) == {FOUR_DAYS.key: 2.0}
    assert route.call_count == 2


def test_more_than_ten_type_ids_are_asked_in_groups_of_ten_and_summed(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    type_ids = list(range(1, 24))  # 23 ids: 10 + 10 + 3

    def answer(request: t.Any, context: t.Any) -> dict:
        first_id = int(request.qs["activityTypeIds"][0].split(",")[0])
        # the group starting at id n holds n activities: 1 + 11 + 21
        return {
            "success": True,
            "result": activities(*(at(i) for i in range(first_id))),
            "moreResult": False,
        }

    tokens = mocker.get(TOKEN_URL, json=since_token)
    route = mocker.get(ACTIVITIES_URL, json=answer)
    counted = sample_rows(client, [FOUR_DAYS], type_ids)
    assert tokens.call_count == 1  # one paging token for the window, read by every group
    assert [r.qs["activityTypeIds"][0] for r in route.request_history] == [
        "1,2,3,4,5,6,7,8,9,10",
        "11,12,13,14,15,16,17,18,19,20",
        "21,22,23",
    ]
    assert counted == {FOUR_DAYS.key: 33.0}


def test_no_windows_or_no_type_ids_call_nothing(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    tokens = mocker.get(TOKEN_URL, json=since_token)
    assert sample_rows(client, [], [1]) == {}
    assert sample_rows(client, [FOUR_DAYS], []) == {FOUR_DAYS.key: 0.0}
    assert tokens.call_count == 0


# ----- sample_rows: many windows -----------------------------------------------------------------


def test_at_most_max_windows_are_sampled_and_the_others_get_their_mean(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    most = rest_sample.MAX_WINDOWS
    windows = [
        Window(START + timedelta(days=i), START + timedelta(days=i + 1, seconds=-1))
        for i in range(most + 6)
    ]
    index = {w.start: i for i, w in enumerate(windows)}

    def answer(request: t.Any, context: t.Any) -> dict:
        # window i holds 10 * i + 1 activities, all inside it
        start = parse_datetime(request.qs["nextPageToken"][0][1:])
        count = 10 * index[start] + 1
        return {
            "success": True,
            "result": activities(*(start + timedelta(seconds=s) for s in range(count))),
            "moreResult": False,
        }

    tokens = mocker.get(TOKEN_URL, json=since_token)
    mocker.get(ACTIVITIES_URL, json=answer)
    counted = sample_rows(client, windows, [1])

    assert tokens.call_count == most
    sampled = [index[parse_datetime(r.qs["sinceDatetime"][0])] for r in tokens.request_history]
    assert len(set(sampled)) == most
    assert max(sampled) >= len(windows) - 2 and min(sampled) == 0  # spread, not the first 24
    assert list(counted) == [w.key for w in windows]
    mean = sum(10 * i + 1 for i in sampled) / most
    for i, w in enumerate(windows):
        expected = 10 * i + 1 if i in sampled else mean
        assert counted[w.key] == pytest.approx(expected), (i, counted[w.key])


# ----- sample_rows_or_none -----------------------------------------------------------------------


@pytest.fixture
def forecast_logger() -> logging.Logger:
    return logging.getLogger("tests.rest_sample.forecast")


def test_a_marketo_error_gives_none_and_one_info_line_without_secrets(
    mocker: requests_mock.Mocker,
    client: MarketoClient,
    forecast_logger: logging.Logger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = {
        "success": False,
        "errors": [{"code": "603", "message": f"Access denied ({TOKEN}, {CLIENT_SECRET})"}],
    }
    tokens = mocker.get(TOKEN_URL, json=refused)
    with caplog.at_level(logging.DEBUG):
        assert sample_rows_or_none(client, [FOUR_DAYS], [1], forecast_logger) is None
    assert tokens.call_count == 1  # 603 is not retried
    ours = [r for r in caplog.records if r.name == forecast_logger.name]
    assert len(ours) == 1 and ours[0].levelno == logging.INFO
    line = ours[0].getMessage()
    assert "603" in line and "activities" in line
    # the tap's own lines (requests_mock's adapter logs the identity URL, the tap does not)
    tap_text = "\n".join(
        r.getMessage() for r in caplog.records if r.name != "requests_mock.adapter"
    )
    assert "***" in line  # the message named both: they were masked, not left out
    for secret in (TOKEN, CLIENT_SECRET):
        assert secret not in tap_text, secret


def test_an_unreadable_answer_gives_none_too(
    mocker: requests_mock.Mocker,
    client: MarketoClient,
    forecast_logger: logging.Logger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mocker.get(TOKEN_URL, json=since_token)
    mocker.get(
        ACTIVITIES_URL,
        json={"success": True, "result": [{"id": 1, "activityDate": "yesterday"}]},
    )
    with caplog.at_level(logging.INFO, logger=forecast_logger.name):
        assert sample_rows_or_none(client, [FOUR_DAYS], [1], forecast_logger) is None
    assert len([r for r in caplog.records if r.name == forecast_logger.name]) == 1


def test_sample_rows_or_none_passes_a_good_sample_through(
    mocker: requests_mock.Mocker,
    client: MarketoClient,
    forecast_logger: logging.Logger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mocker.get(TOKEN_URL, json=since_token)
    mocker.get(
        ACTIVITIES_URL, json={"success": True, "result": activities(at(1)), "moreResult": False}
    )
    with caplog.at_level(logging.INFO, logger=forecast_logger.name):
        assert sample_rows_or_none(client, [FOUR_DAYS], [1], forecast_logger) == {
            FOUR_DAYS.key: 1.0
        }
    assert not [r for r in caplog.records if r.name == forecast_logger.name]


def test_sample_rows_raises_what_sample_rows_or_none_swallows(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    mocker.get(TOKEN_URL, json={"success": False, "errors": [{"code": "603", "message": "no"}]})
    with pytest.raises(MarketoError) as raised:
        sample_rows(client, [FOUR_DAYS], [1])
    assert raised.value.code == "603"


# ----- live_lead_share ---------------------------------------------------------------------------


def half_of_them(extra: list[int] | None = None) -> Answer:
    """Finds every other id asked for (and `extra` ids nobody asked for)."""

    def answer(request: t.Any, context: t.Any) -> dict:
        asked = [int(v) for v in request.qs["filterValues"][0].split(",")]
        found = asked[::2] + (extra or [])
        return {"success": True, "result": [{"id": i} for i in found]}

    return answer


def sent_ids(route: t.Any) -> list[int]:
    return [int(v) for v in route.last_request.qs["filterValues"][0].split(",")]


def test_live_lead_share_asks_300_ids_spread_over_all_ids(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    route = mocker.get(LEADS_URL, json=half_of_them())
    share = live_lead_share(client, 10_000)
    assert route.call_count == 1
    query = route.last_request.qs
    assert query["filterType"] == ["id"] and query["fields"] == ["id"]
    ids = sent_ids(route)
    assert len(ids) == len(set(ids)) == 300
    assert all(1 <= i <= 10_000 for i in ids)
    assert ids == sorted(ids)
    assert ids[0] == 1 and ids[-1] >= 10_000 - 10_000 // 300  # reaches the top, not just 1..300
    gaps = [b - a for a, b in itertools.pairwise(ids)]
    assert max(gaps) - min(gaps) <= 1  # evenly spread
    assert share == pytest.approx(0.5)


def test_live_lead_share_asks_every_id_when_there_are_few(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    route = mocker.get(LEADS_URL, json=half_of_them())
    assert live_lead_share(client, 50) == pytest.approx(0.5)
    assert sent_ids(route) == list(range(1, 51))
    live_lead_share(client, 301)
    assert len(sent_ids(route)) == 300 and max(sent_ids(route)) <= 301


def test_live_lead_share_counts_only_the_ids_it_asked_for(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    # 40 asked, 20 found, plus 5 ids that were never asked for (e.g. a merge's winner)
    mocker.get(LEADS_URL, json=half_of_them(extra=[10_001, 10_002, 10_003, 10_004, 10_005]))
    assert live_lead_share(client, 40) == pytest.approx(0.5)


def test_live_lead_share_is_zero_when_nothing_is_found(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    mocker.get(LEADS_URL, json={"success": True})  # Marketo leaves `result` out
    assert live_lead_share(client, 1000) == 0.0


def test_live_lead_share_or_none_on_an_error(
    mocker: requests_mock.Mocker,
    client: MarketoClient,
    forecast_logger: logging.Logger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mocker.get(
        LEADS_URL,
        json={"success": False, "errors": [{"code": "603", "message": f"denied {TOKEN}"}]},
    )
    with caplog.at_level(logging.DEBUG):
        assert live_lead_share_or_none(client, 1000, forecast_logger) is None
    ours = [r for r in caplog.records if r.name == forecast_logger.name]
    assert len(ours) == 1 and ours[0].levelno == logging.INFO
    assert "leads" in ours[0].getMessage() and "603" in ours[0].getMessage()
    assert TOKEN not in ours[0].getMessage()


def test_live_lead_share_or_none_passes_a_share_through(
    mocker: requests_mock.Mocker, client: MarketoClient, forecast_logger: logging.Logger
) -> None:
    mocker.get(LEADS_URL, json=half_of_them())
    assert live_lead_share_or_none(client, 600, forecast_logger) == pytest.approx(0.5)


# ----- windows that teach nothing ----------------------------------------------------------------


def test_a_window_of_only_empty_pages_gets_the_others_activities_per_second(
    mocker: requests_mock.Mocker, client: MarketoClient
) -> None:
    # Two days holding 40 activities (20 a day); then a one-day window where Marketo only ever
    # answers empty pages with moreResult true: not 0, but the sampled 20 a day.
    two_days = Window(START, START + timedelta(days=2, seconds=-1))
    one_day = Window(START + timedelta(days=2), START + timedelta(days=3, seconds=-1))
    busy = [at(i * 3600) for i in range(40)]
    empty = {"result": [], "moreResult": True, "nextPageToken": "E"}
    pages = {
        FIRST: {"result": activities(*busy), "moreResult": False},
        "S" + format_datetime(one_day.start): empty,
        "E": empty,
    }
    mocker.get(TOKEN_URL, json=since_token)
    route = mocker.get(ACTIVITIES_URL, json=pages_by_token(pages))
    counted = sample_rows(client, [two_days, one_day], [1])
    assert counted[two_days.key] == 40.0
    assert counted[one_day.key] == pytest.approx(20.0, rel=1e-4)
    assert route.call_count == 1 + rest_sample.MAX_PAGES  # followed, then given up


def test_no_window_counted_at_all_means_no_sample(
    mocker: requests_mock.Mocker, client: MarketoClient, caplog: pytest.LogCaptureFixture
) -> None:
    empty = {"success": True, "result": [], "moreResult": True, "nextPageToken": "E"}
    mocker.get(TOKEN_URL, json=since_token)
    mocker.get(ACTIVITIES_URL, json=empty)
    with pytest.raises(ValueError, match="empty pages only"):
        sample_rows(client, [FOUR_DAYS], [1])
    logger = logging.getLogger("tests.rest_sample.empty")
    with caplog.at_level(logging.INFO, logger=logger.name):
        assert sample_rows_or_none(client, [FOUR_DAYS], [1], logger) is None
    assert "by bytes per day" in caplog.text
