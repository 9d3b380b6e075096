"""Bad input state: one line naming the stream and key, or a WARNING where nothing is lost."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tap_marketo_bulk.errors import StateError
from tap_marketo_bulk.state_check import check_state

CONFIG = {
    "client_id": "id",
    "client_secret": "s3cret-value-never-logged",
    # Nothing listens here: a run that got past the state check would fail differently.
    "base_url": "http://127.0.0.1:9",
    "start_date": "2024-01-01",
}
GOOD_BOOKMARK = {
    "replication_key": "updatedAt",
    "replication_key_value": "2024-03-02T23:59:58Z",
    "filter": "updatedAt",
    "in_flight": {"2024-03-02T23:59:59Z/2024-04-02T23:59:58Z": "ce45a7a1"},
    "quota": {"day": "2026-11-22", "bytes": 73400320},
}


def test_a_good_state_passes_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    state = {"bookmarks": {"leads": dict(GOOD_BOOKMARK), "deleted_leads": {}}}
    with caplog.at_level(logging.WARNING):
        assert check_state(state) == state
    assert caplog.records == []
    assert check_state(None) == {} and check_state({}) == {"bookmarks": {}}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ([{"bookmarks": {}}], "state: expected a JSON object with `bookmarks`, got a list"),
        ({"bookmarks": ["leads"]}, "state: `bookmarks` must be an object of stream name"),
        ({"bookmarks": {"leads": "2024-01-01"}}, "state: bookmarks.leads: expected an object"),
        (
            {"bookmarks": {"leads": {**GOOD_BOOKMARK, "replication_key_value": "last tuesday"}}},
            "state: bookmarks.leads.replication_key_value: not an ISO 8601 datetime: "
            "'last tuesday'",
        ),
        (
            {"bookmarks": {"activities": {"replication_key_value": 1709424000}}},
            "state: bookmarks.activities.replication_key_value: not an ISO 8601 datetime: "
            "1709424000",
        ),
        (
            {"bookmarks": {"leads": {**GOOD_BOOKMARK, "filter": ["updatedAt"]}}},
            "state: bookmarks.leads.filter: expected a string, got a list",
        ),
        (
            {"bookmarks": {"program_members": {"full_export": ["1001"]}}},
            "state: bookmarks.program_members.full_export: expected an object, got a list",
        ),
        (
            {"bookmarks": {"program_members": {"full_export": {"programs": ["1001", "x"]}}}},
            "state: bookmarks.program_members.full_export: programs is not a list of program ids",
        ),
        (
            {"bookmarks": {"program_members": {"full_export": {"started_at": "soon"}}}},
            "state: bookmarks.program_members.full_export: started_at is not an ISO 8601 datetime",
        ),
    ],
)
def test_a_bookmark_that_decides_what_is_exported_fails_in_one_line(
    state: object, expected: str
) -> None:
    with pytest.raises(StateError) as raised:
        check_state(state)
    message = str(raised.value)
    assert message.startswith(expected)
    assert "\n" not in message


@pytest.mark.parametrize(
    ("key", "bad", "kept", "warning"),
    [
        ("in_flight", ["ce45a7a1"], {}, "bookmarks.leads.in_flight is not an object"),
        ("in_flight", "ce45a7a1", {}, "windows are exported again"),
        (
            "in_flight",
            {"2024-01-01T00:00:00Z/2024-01-31T23:59:59Z": 17, "a/b": "x1"},
            {"a/b": "x1"},
            "in_flight['2024-01-01T00:00:00Z/2024-01-31T23:59:59Z'] is not an export id (17)",
        ),
        ("quota", 73400320, None, "bookmarks.leads.quota is not {day, bytes}"),
        ("quota", {"day": "2026-11-22", "bytes": "lots"}, None, "quota is not {day, bytes}"),
        ("ids_at_bookmark", 5, None, "ids_at_bookmark is not a list"),
    ],
)
def test_an_entry_whose_loss_costs_no_data_is_dropped_with_a_warning(
    key: str, bad: object, kept: object, warning: str, caplog: pytest.LogCaptureFixture
) -> None:
    state = {"bookmarks": {"leads": {**GOOD_BOOKMARK, key: bad}}}
    with caplog.at_level(logging.WARNING):
        checked = check_state(state)
    bookmark = checked["bookmarks"]["leads"]
    assert bookmark.get(key) == kept
    assert bookmark["replication_key_value"] == GOOD_BOOKMARK["replication_key_value"]
    assert warning in caplog.text


def tap_cli(tmp_path: Path, state: object) -> subprocess.CompletedProcess:
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    (tmp_path / "state.json").write_text(json.dumps(state))
    argv = [sys.executable, "-m", "tap_marketo_bulk", "--config", str(tmp_path / "config.json")]
    argv += ["--state", str(tmp_path / "state.json")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("state", "line"),
    [
        (
            {"bookmarks": {"leads": {"replication_key_value": "not-a-date"}}},
            "state: bookmarks.leads.replication_key_value: not an ISO 8601 datetime: "
            "'not-a-date'; fix it, or remove the entry to export leads again from start_date",
        ),
        ({"bookmarks": [1, 2]}, "state: `bookmarks` must be an object of stream name -> bookmark"),
        ("bookmarks", "state: expected a JSON object with `bookmarks`, got a string"),
        (
            {"bookmarks": {"program_members": [1]}},
            "state: bookmarks.program_members: expected an object, got a list",
        ),
    ],
)
def test_bad_state_through_the_cli_ends_in_one_line_before_any_call(
    tmp_path: Path, state: object, line: str
) -> None:
    done = tap_cli(tmp_path, state)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [text for text in done.stderr.splitlines() if text.strip()]
    assert line in lines[-1]
    assert "connect" not in done.stderr  # failed before any call to Marketo
    assert done.stdout == ""
