"""Reading each tap's output and checking it against the sandbox's ground truth.

Three output dialects: Singer (tap-marketo-bulk, tap-marketo) and Airbyte (source-marketo).
Each tap names and types fields its own way, so records are first mapped to a canonical shape:

- leads: API field names (all three use them), values compared after a lenient type coercion
  (numbers by value, datetimes by instant, a date may come as midnight of that date, booleans
  from "true"/"1"); strings must match exactly (CR, NUL, newlines, U+2028 included).
- activities: the seven base columns plus `attributes`; tap-marketo and source-marketo flatten
  attributes into snake_case columns (each with its own spelling), which are matched back by
  name with case, spaces and underscores ignored.
- program members: only tap-marketo-bulk has the stream; key (leadId, programId).

A record counts as "changed" when any field the tap emitted differs from the truth after this
normalisation, or when an attribute present in the truth is absent from the record. Fields a tap
does not emit at all for a stream (never once) are listed separately, not counted per record.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ACTIVITY_BASE = ("marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
                 "primaryAttributeValueId", "primaryAttributeValue")
ACTIVITY_ALIASES = {"primary_attribute_value": "primaryAttributeValue",
                    "primary_attribute_value_id": "primaryAttributeValueId"}
ACTIVITY_DROP = {"primary_attribute_name", "actionResult"}

KEYS = {
    "leads": lambda r: _int_or_str(r.get("id")),
    "activities": lambda r: str(r.get("marketoGUID")),
    "program_members": lambda r: (_int_or_str(r.get("leadId")), _int_or_str(r.get("programId"))),
}


def _int_or_str(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def canonical_stream(name: str) -> str | None:
    """leads / activities / program_members, or None for streams not compared."""
    if name in ("leads", "program_members"):
        return name
    if name == "activities" or name.startswith("activities_"):
        return "activities"
    return None


# ----------------------------------------------------------------------------- output parsing
def read_messages(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                yield json.loads(line)
            except ValueError:
                continue


def parse_output(path: Path, dialect: str) -> dict[str, Any]:
    """Records per canonical stream, the last state, errors the tap reported on stdout."""
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    per_stream: Counter = Counter()
    states: list[Any] = []
    airbyte_states: dict[str, Any] = {}
    trace_errors: list[str] = []
    for message in read_messages(path):
        kind = message.get("type")
        if dialect == "singer":
            if kind == "RECORD":
                per_stream[message["stream"]] += 1
                stream = canonical_stream(message["stream"])
                if stream:
                    records[stream].append(message["record"])
            elif kind == "STATE":
                states.append(message.get("value"))
        else:  # airbyte
            if kind == "RECORD":
                name = message["record"]["stream"]
                per_stream[name] += 1
                stream = canonical_stream(name)
                if stream:
                    records[stream].append(message["record"]["data"])
            elif kind == "STATE":
                state = message["state"]
                if state.get("type") == "STREAM":
                    airbyte_states[state["stream"]["stream_descriptor"]["name"]] = state
                else:
                    states.append(state)
            elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
                error = message["trace"]["error"]
                trace_errors.append(str(error.get("internal_message") or error.get("message")))
    if dialect == "airbyte":
        last_state: Any = list(airbyte_states.values()) if airbyte_states else (
            states[-1:] or None)
    else:
        last_state = states[-1] if states else None
    return {"records": dict(records), "per_stream": dict(per_stream), "state": last_state,
            "trace_errors": trace_errors}


# ----------------------------------------------------------------------------- normalisation
def _norm_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical_activity(record: dict[str, Any]) -> dict[str, Any]:
    """Base columns by their API names, attributes as {normalised name: value}."""
    out: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in record.items():
        key = ACTIVITY_ALIASES.get(key, key)
        if key in ACTIVITY_BASE:
            out[key] = value
        elif key == "attributes":
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = {"<unparsable>": value}
            for name, inner in (value or {}).items():
                attributes[_norm_key(name)] = inner
        elif key in ACTIVITY_DROP or key.startswith("_"):
            continue
        else:  # a flattened attribute column
            attributes[_norm_key(key)] = value
    out["attributes"] = attributes
    return out


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_instant(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def same_value(truth: Any, value: Any) -> bool:
    """Equal after the lenient coercion described in the module docstring."""
    if truth is None:
        return value is None or value == ""
    if isinstance(truth, bool):
        if isinstance(value, bool):
            return value is truth
        if isinstance(value, str):
            return value.strip().lower() in (("true", "1") if truth else ("false", "0"))
        if isinstance(value, int | float):
            return bool(value) is truth
        return False
    if isinstance(truth, int | float):
        number = _as_number(value)
        return number is not None and math.isclose(number, float(truth), rel_tol=1e-9,
                                                   abs_tol=1e-9)
    if isinstance(truth, str):
        if DATETIME_RE.match(truth):
            instant = _as_instant(value)
            return instant is not None and instant == _as_instant(truth)
        if DATE_RE.match(truth):
            if value == truth:
                return True
            instant = _as_instant(value)
            return instant is not None and instant == _as_instant(truth + "T00:00:00Z")
        return isinstance(value, str) and value == truth
    if isinstance(truth, dict):
        return isinstance(value, dict) and all(
            same_value(v, value.get(k)) for k, v in truth.items())
    return truth == value


# ----------------------------------------------------------------------------- comparison
def compare_stream(stream: str, emitted: list[dict[str, Any]], truth: list[dict[str, Any]],
                   ) -> dict[str, Any]:
    """Missing / extra / duplicate keys and changed values of one stream against the truth."""
    key_of = KEYS[stream]
    truth_by_key = {key_of(r): r for r in truth}
    counts = Counter(key_of(r) for r in emitted)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    missing = [k for k in truth_by_key if k not in counts]
    extra = [k for k in counts if k not in truth_by_key]
    changed_records = 0
    changed_fields: Counter = Counter()
    examples: list[dict[str, Any]] = []
    emitted_fields: set[str] = set()
    seen: set[Any] = set()
    for record in emitted:
        key = key_of(record)
        if key in seen or key not in truth_by_key:
            continue
        seen.add(key)
        expected = truth_by_key[key]
        if stream == "activities":
            record, expected = canonical_activity(record), canonical_activity(expected)
        bad = []
        for name, value in record.items():
            if name not in expected:
                continue
            emitted_fields.add(name)
            if name == "attributes" and isinstance(expected[name], dict):
                for attr, truth_value in expected[name].items():
                    if attr not in value or not same_value(truth_value, value[attr]):
                        bad.append(f"attributes.{attr}")
            elif not same_value(expected[name], value):
                bad.append(name)
        if bad:
            changed_records += 1
            changed_fields.update(bad)
            if len(examples) < 3:
                field = bad[0]
                if field.startswith("attributes."):
                    attr = field.split(".", 1)[1]
                    got = record.get("attributes", {}).get(attr, "<absent>")
                    want = expected["attributes"].get(attr)
                else:
                    got, want = record.get(field), expected.get(field)
                examples.append({"key": repr(key), "field": field, "truth": repr(want)[:80],
                                 "emitted": repr(got)[:80]})
    truth_fields = set(truth[0]) if truth else set()
    if stream == "activities" and truth:
        truth_fields = set(canonical_activity(truth[0]))
    return {
        "emitted": len(emitted), "unique": len(counts), "truth": len(truth_by_key),
        "missing": len(missing), "extra": len(extra), "duplicates": duplicates,
        "changed_records": changed_records,
        "changed_fields": dict(changed_fields.most_common(8)),
        "examples": examples,
        "fields_never_emitted": sorted(truth_fields - emitted_fields - {"actionResult"}),
    }


def merge_records(*outputs: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Records of several runs (a stopped run and its resumption) as one output."""
    merged: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for output in outputs:
        for stream, rows in output["records"].items():
            merged[stream].extend(rows)
    return dict(merged)
