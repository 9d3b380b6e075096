"""Run the tap in-process and collect the Singer messages it writes."""

from __future__ import annotations

import io
import json
import sys
import typing as t
from unittest import mock

from tap_marketo_bulk import tap as tap_module
from tap_marketo_bulk.tap import TapMarketoBulk


class TapRun(t.NamedTuple):
    messages: list[dict]
    error: BaseException | None

    def records(self, stream: str) -> list[dict]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict:
        return self.states()[-1]


def run_tap(config: dict, state: dict | None = None, catalog: dict | None = None) -> TapRun:
    """Sync like `tap-marketo-bulk --config ...` would, capturing stdout; errors are returned."""
    tap_module._DESCRIBE_CACHE.clear()
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    error: BaseException | None = None
    with mock.patch.object(sys, "stdout", out):
        try:
            tap = TapMarketoBulk(config=config, state=state, catalog=catalog)
            tap.sync_all()
        except Exception as exc:  # the test inspects it
            error = exc
        out.flush()
    raw = out.buffer.getvalue().decode()  # type: ignore[attr-defined]
    return TapRun([json.loads(line) for line in raw.split("\n") if line], error)


def catalog_with(
    config: dict, deselect: dict[str, list[str]] | None = None, only: t.Iterable[str] | None = None
) -> dict:
    """The tap's discovered catalog with streams/columns deselected (`only`: streams kept)."""
    tap_module._DESCRIBE_CACHE.clear()
    catalog = TapMarketoBulk(config=config).catalog_dict
    keep = set(only) if only is not None else None
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = keep is None or entry["tap_stream_id"] in keep
            elif md["breadcrumb"][-1] in (deselect or {}).get(entry["tap_stream_id"], []):
                md["metadata"]["selected"] = False
    return catalog
