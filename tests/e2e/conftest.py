"""Every test under tests/e2e is end-to-end (`-m "not e2e"` leaves them out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tap_marketo_bulk.api import client as client_module
from tests.e2e.compressed_cli import COMPRESSED_RATE_WINDOW_SECONDS

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


# Time here runs far faster than on Marketo (status refresh and polls of tens of milliseconds
# instead of 60 s), so the call budget's rolling 20 s is compressed too: the tap keeps its own
# limit (max_calls_per_20s) over a 2 s window, instead of idling 20 s of real time once a run
# passes 100 calls. tests/e2e/test_scheduler_limits.py sets its own window to check the limit.


@pytest.fixture(autouse=True)
def _compressed_call_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "RATE_WINDOW_SECONDS", COMPRESSED_RATE_WINDOW_SECONDS)
    monkeypatch.setattr(client_module, "RATE_WINDOW_SLACK_SECONDS", 0.1)
