"""A lead file with quotes left unescaped inside quoted values, as a real export had them
(`"first"Name1","lastName1"`, embulk-input-marketo's lead_extract_with_quote_in_quote_field.csv):
the tap's records equal the sandbox's truth, and the fault is shown to have fired.
"""

from __future__ import annotations

import csv
import io
import typing as t
from collections.abc import Callable

import pytest

from tap_marketo_bulk.sandbox.exportfile import make_unescaping_quoter
from tests.e2e.harness import by_key, catalog_with, duplicates, run_tap, tap_config

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

SANDBOX: dict[str, t.Any] = {
    "seed": 11,
    "leads": 400,
    "activities": 50,
    "programs": 1,
    "members_per_program": 2,
    "lead_columns": 6,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-03-31T23:59:59Z",
}


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(**SANDBOX)


def test_the_quoter_writes_the_incident_row_and_python_csv_misreads_it() -> None:
    written: list[int] = []
    quote = make_unescaping_quoter(",", lambda: written.append(1))
    row = quote('first"Name1') + "," + quote("lastName1") + "\n"
    assert row == '"first"Name1",lastName1\n' and written == [1]
    # What the csv module makes of it: the quote moved to the end, which the tap must not do.
    assert next(csv.reader(io.StringIO(row))) == ['firstName1"', "lastName1"]


def test_leads_with_unescaped_quotes_equal_the_truth(sb: Sandbox) -> None:
    sb.faults.unescaped_quotes = 100  # every lead file of the run
    config = tap_config(sb)
    run = run_tap(config, catalog=catalog_with(config, only=["leads"]))
    assert run.error is None, repr(run.error)
    records = run.records("leads")
    assert duplicates(records, lambda r: r["id"]) == []
    assert len(records) == len(sb.truth.leads)
    assert by_key(records, lambda r: r["id"]) == by_key(sb.truth.leads, lambda r: r["id"])
    # The fault fired: lead files were written with quotes left unescaped in their values.
    assert sb.faults.unescaped_quotes < 100
    assert sb.faults.unescaped_quotes_written > 0
    assert any('"' in str(v) for r in records for v in r.values())
