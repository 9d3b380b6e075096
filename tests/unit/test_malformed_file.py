"""A bulk file row still cut wrong (a stray quote no rule can place) ends the run in one line
naming the stream, the window, the row and the column; nothing of that window is bookmarked."""

from __future__ import annotations

import pytest
import requests_mock

from tap_marketo_bulk import tap as tap_module
from tap_marketo_bulk.errors import ExportFileError
from tests.unit import fake_marketo
from tests.unit.fake_marketo import FakeMarketo
from tests.unit.tap_runner import catalog_with, run_tap
from tests.unit.test_tap import CONFIG, rows_for

WINDOW_2 = "2024-02-01T00:00:00Z/2024-03-02T23:59:59Z"
CUT = "@@cut@@"


def test_a_row_cut_wrong_ends_in_one_line_naming_window_row_and_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_csv_bytes = fake_marketo.csv_bytes

    def with_a_stray_quote(columns: list[str], rows: list[dict]) -> bytes:
        # Lead 3 (window 2): `"x"y",z` - the quote before `,` ends the value, so the row has
        # one field too many: firstName would shift into the next column.
        rows = [{**r, "firstName": CUT} if r.get("id") == 3 else r for r in rows]
        return real_csv_bytes(columns, rows).replace(CUT.encode(), b'"x"y",z')

    monkeypatch.setattr(fake_marketo, "csv_bytes", with_a_stray_quote)
    with requests_mock.Mocker() as mocker:
        FakeMarketo(mocker, rows_for)
        run = run_tap(CONFIG, catalog=catalog_with(CONFIG, only=["leads"]))
    assert isinstance(run.error, ExportFileError)
    message = str(run.error)
    assert "\n" not in message
    assert message.startswith(f"leads: the export file for {WINDOW_2} cannot be read: row 1 ")
    assert "column 'firstName'" in message and "fields but the header has" in message
    assert ExportFileError in tap_module.ONE_LINE_ERRORS  # the CLI prints it, no traceback
    assert sorted(r["id"] for r in run.records("leads")) == [1, 2]  # window 1 only
    assert all(
        s["bookmarks"]["leads"].get("replication_key_value", "") <= "2024-01-31T23:59:59Z"
        for s in run.states()
        if "leads" in s.get("bookmarks", {})
    )
