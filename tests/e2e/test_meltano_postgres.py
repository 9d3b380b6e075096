"""End to end: `meltano run tap-marketo-bulk target-postgres` against the sandbox, twice.

Everything is checked in the database, not in the tap's output: one row per record of the sandbox's
ground truth, columns typed from the tap's schema (integers, booleans, timestamps, JSONB), no
duplicate primary keys; then the sandbox changes (new and updated leads, new activities, updated
program members) and a second run, resuming from the state Meltano kept in its system database,
loads only those changes and upserts them.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.harness import STREAM_KEYS as KEYS

if TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox
    from tests.conftest import MeltanoProject
    from tests.e2e.postgres_server import PostgresServer

from tests.conftest import missing

try:
    import psycopg
except ImportError:  # the [test] extra brings it; skip locally, fail under CI
    psycopg = None

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.meltano]

# Four months of data: a few 31-day windows per bulk stream, so the run takes seconds.
DATA_START = "2024-01-01T00:00:00Z"
DATA_END = "2024-04-30T23:59:59Z"
# The second run covers the changes made after the first: [DATA_END + 1 s, MUTATION_END].
MUTATION_END = "2024-05-10T23:59:59Z"
SANDBOX = {
    "seed": 11,
    "leads": 300,
    "activities": 1000,
    "programs": 4,
    "data_start": DATA_START,
    "data_end": DATA_END,
    # Marketo refreshes job status once a minute; the sandbox does it every 20 ms here. The tap
    # keeps its own call limit (below), so the sandbox's limit is out of the way.
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
}
RUN_TIMEOUT = 600
STATE_ID = "dev:tap-marketo-bulk-to-target-postgres"

# JSON schema of a property -> PostgreSQL types target-postgres may give its column.
INTEGER_TYPES = {"bigint", "integer", "smallint"}
NUMBER_TYPES = {"numeric", "double precision", "real"}
TIMESTAMP_TYPES = {"timestamp without time zone", "timestamp with time zone"}
JSON_TYPES = {"jsonb", "json"}
TEXT_TYPES = {"character varying", "text"}


def expected_sql_types(prop: Mapping[str, Any]) -> set[str]:
    types = prop.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    types.discard("null")
    fmt = prop.get("format")
    if types == {"string"} and fmt == "date-time":
        return TIMESTAMP_TYPES
    if types == {"string"} and fmt == "date":
        return {"date"}
    if types == {"string"}:
        return TEXT_TYPES
    if types == {"integer"}:
        return INTEGER_TYPES
    if types == {"number"} or types == {"integer", "number"}:
        return NUMBER_TYPES
    if types == {"boolean"}:
        return {"boolean"}
    if types <= {"object", "array"} or not types:
        return JSON_TYPES | {"ARRAY"}
    return TEXT_TYPES | JSON_TYPES  # a union type: stored as text or JSON


def tap_env(sb: Sandbox, postgres: PostgresServer, schema: str, end_date: str) -> dict[str, str]:
    return {
        "TAP_MARKETO_BULK_BASE_URL": sb.base_url,
        "TAP_MARKETO_BULK_CLIENT_ID": sb.client_id,
        "TAP_MARKETO_BULK_CLIENT_SECRET": sb.client_secret,
        "TAP_MARKETO_BULK_START_DATE": DATA_START,
        "TAP_MARKETO_BULK_END_DATE": end_date,
        # Fast polling (0.05 s) comes from the dev environment in meltano.yml: Meltano 4.4 can't
        # pass a fractional number from an environment variable (see meltano.yml).
        "TAP_MARKETO_BULK_MAX_CALLS_PER_20S": "100",
        "TARGET_POSTGRES_HOST": postgres.host,
        "TARGET_POSTGRES_PORT": str(postgres.port),
        "TARGET_POSTGRES_USER": postgres.user,
        "TARGET_POSTGRES_PASSWORD": "",
        "TARGET_POSTGRES_DATABASE": postgres.database,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
    }


def parse_ts(value: str | datetime) -> datetime:
    """Truth's "...Z" strings and the database's timestamps, compared as aware UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def truth_by_stream(sb: Sandbox) -> dict[str, list[dict[str, Any]]]:
    truth = sb.truth
    custom = {f"custom_{name}": rows for name, rows in truth.custom_objects.items()}
    return {stream: list(custom.get(stream) or getattr(truth, stream)) for stream in KEYS}


def key_of(row: Mapping[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(str(row[c]) for c in columns)


class Db:
    """Read-only queries against the loaded schema."""

    def __init__(self, conn: Any, schema: str) -> None:
        self.conn = conn
        self.schema = schema

    def table(self, stream: str) -> str:
        return f'"{self.schema}"."{stream}"'

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def count(self, stream: str) -> int:
        return int(self.rows(f"SELECT count(*) FROM {self.table(stream)}")[0][0])

    def keys(self, stream: str) -> set[tuple[Any, ...]]:
        cols = ", ".join(f'"{c}"::text' for c in KEYS[stream])
        return {tuple(r) for r in self.rows(f"SELECT {cols} FROM {self.table(stream)}")}

    def duplicate_keys(self, stream: str) -> list[tuple[Any, ...]]:
        cols = ", ".join(f'"{c}"' for c in KEYS[stream])
        return self.rows(
            f"SELECT {cols}, count(*) FROM {self.table(stream)} GROUP BY {cols} HAVING count(*) > 1"
            " LIMIT 5"
        )

    def column_types(self, stream: str) -> dict[str, str]:
        return dict(
            self.rows(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s",
                self.schema,
                stream,
            )
        )

    def primary_key(self, stream: str) -> tuple[str, ...]:
        rows = self.rows(
            "SELECT a.attname FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attname",
            self.table(stream),
        )
        return tuple(r[0] for r in rows)

    def leads_with_other_updated_at(self, leads: list[dict[str, Any]]) -> list[int]:
        loaded = dict(self.rows(f'SELECT id, "updatedAt" FROM {self.table("leads")}'))
        return [r["id"] for r in leads if parse_ts(loaded[r["id"]]) != parse_ts(r["updatedAt"])]

    def tables(self) -> set[str]:
        return {
            r[0]
            for r in self.rows(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                self.schema,
            )
        }


def check_loaded(db: Db, truth: dict[str, list[dict[str, Any]]]) -> None:
    """Every stream: as many rows as truth records, the same keys, no duplicate key."""
    assert set(KEYS) <= db.tables(), f"tables loaded: {sorted(db.tables())}"
    problems = []
    for stream, columns in KEYS.items():
        expected = {key_of(r, columns) for r in truth[stream]}
        assert len(expected) == len(truth[stream]), f"truth of {stream} has duplicate keys"
        count = db.count(stream)
        dupes = db.duplicate_keys(stream)
        keys = db.keys(stream)
        if count != len(truth[stream]) or dupes or keys != expected:
            problems.append(
                f"{stream}: {count} rows for {len(truth[stream])} records; duplicate keys {dupes};"
                f" missing {sorted(expected - keys)[:5]}; unexpected {sorted(keys - expected)[:5]}"
            )
    assert not problems, "\n".join(problems)


def discover(project: MeltanoProject, env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """stream -> catalog entry, from the tap Meltano installed (`meltano invoke ... --discover`)."""
    result = project.run("invoke", "tap-marketo-bulk", "--discover", env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    catalog = json.loads(result.stdout)
    return {entry["tap_stream_id"]: entry for entry in catalog["streams"]}


def state_of(project: MeltanoProject, env: Mapping[str, str]) -> dict[str, Any]:
    output = project.check("state", "get", STATE_ID, env=env)
    start = output.index("{")  # after Meltano's own log lines
    value, _end = json.JSONDecoder().raw_decode(output[start:])
    return value


def timed_run(project: MeltanoProject, env: Mapping[str, str]) -> float:
    started = time.monotonic()
    project.check(
        "--environment=dev",
        "run",
        "tap-marketo-bulk",
        "target-postgres",
        env=env,
        timeout=RUN_TIMEOUT,
    )
    return time.monotonic() - started


def test_meltano_run_to_postgres_then_incremental(
    meltano_project: MeltanoProject,
    postgres: PostgresServer,
    sandbox_factory: Callable[..., Sandbox],
    record_property: Callable[[str, object], None],
) -> None:
    if psycopg is None:
        missing("psycopg is not installed (pip install -e '.[test]')")
    meltano_project.install("target-postgres")
    sb = sandbox_factory(**SANDBOX)
    schema = f"e2e_{uuid.uuid4().hex[:8]}"
    env = tap_env(sb, postgres, schema, end_date=DATA_END)

    # ---- first run: everything -----------------------------------------------------------------
    first = timed_run(meltano_project, env)
    record_property("first_run_seconds", round(first, 2))
    truth = truth_by_stream(sb)
    catalog = discover(meltano_project, env)

    with psycopg.connect(postgres.url, autocommit=True) as conn:
        db = Db(conn, schema)
        check_loaded(db, truth)

        # Primary keys: the catalog's key properties became the table's PRIMARY KEY.
        for stream, columns in KEYS.items():
            assert tuple(catalog[stream].get("key_properties") or ()) == columns, stream
            assert db.primary_key(stream) == tuple(sorted(columns)), stream

        # Column types follow the tap's schema, and the truth's Python types agree.
        mistyped = []
        seen_kinds: set[str] = set()
        for stream in KEYS:
            columns = db.column_types(stream)
            properties = catalog[stream]["schema"]["properties"]
            for name, prop in properties.items():
                if name not in columns:
                    mistyped.append(f"{stream}.{name}: no column")
                    continue
                allowed = expected_sql_types(prop)
                if columns[name] not in allowed:
                    mistyped.append(f"{stream}.{name}: {columns[name]}, schema {prop}")
                seen_kinds.update(
                    kind
                    for kind, group in (
                        ("integer", INTEGER_TYPES),
                        ("boolean", {"boolean"}),
                        ("timestamp", TIMESTAMP_TYPES),
                        ("json", JSON_TYPES),
                    )
                    if columns[name] in group
                )
            for record in truth[stream][:50]:
                for name, value in record.items():
                    sql_type = columns.get(name)
                    if value is None or sql_type is None:
                        continue
                    if isinstance(value, bool):
                        ok = sql_type == "boolean"
                    elif isinstance(value, int):
                        ok = sql_type in INTEGER_TYPES | NUMBER_TYPES
                    elif isinstance(value, (dict, list)):
                        ok = sql_type in JSON_TYPES | {"ARRAY"}
                    elif (
                        isinstance(value, str)
                        and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value)
                        and name in {"createdAt", "updatedAt", "activityDate"}
                    ):
                        ok = sql_type in TIMESTAMP_TYPES
                    else:
                        continue
                    if not ok:
                        mistyped.append(f"{stream}.{name}: {sql_type} holds {value!r}")
        assert not mistyped, "\n".join(sorted(set(mistyped))[:40])
        assert seen_kinds == {"integer", "boolean", "timestamp", "json"}, seen_kinds
        types = {s: db.column_types(s) for s in ("leads", "activities")}
        assert types["leads"]["id"] in INTEGER_TYPES
        assert types["leads"]["updatedAt"] in TIMESTAMP_TYPES
        assert types["activities"]["attributes"] in JSON_TYPES
        assert types["activities"]["activityDate"] in TIMESTAMP_TYPES

        # Values round-trip: every lead's updatedAt as the sandbox has it.
        wrong = db.leads_with_other_updated_at(truth["leads"])
        assert not wrong, f"leads with a different updatedAt: {wrong[:10]}"
        batched_first = db.rows(f'SELECT max("_sdc_batched_at") FROM {db.table("leads")}')[0][0]

    state = state_of(meltano_project, env)
    bookmarks = state["singer_state"]["bookmarks"]
    assert bookmarks["leads"]["replication_key_value"] == DATA_END, bookmarks["leads"]
    assert not bookmarks["leads"].get("in_flight"), bookmarks["leads"]

    # ---- the sandbox changes; second run: only the changes ----------------------------------
    touched = sb.mutate(
        new_leads=25,
        updated_leads=40,
        new_activities=120,
        updated_members=10,
        between=("2024-05-01T00:00:00Z", MUTATION_END),
    )
    env2 = {**env, "TAP_MARKETO_BULK_END_DATE": MUTATION_END}
    second = timed_run(meltano_project, env2)
    record_property("second_run_seconds", round(second, 2))
    truth2 = truth_by_stream(sb)
    assert len(truth2["leads"]) == len(truth["leads"]) + 25

    with psycopg.connect(postgres.url, autocommit=True) as conn:
        db = Db(conn, schema)
        check_loaded(db, truth2)

        changed = set(touched["new_lead_ids"]) | set(touched["updated_lead_ids"])
        reloaded = {
            r[0]
            for r in db.rows(
                f'SELECT id FROM {db.table("leads")} WHERE "_sdc_batched_at" > %s', batched_first
            )
        }
        # Incremental: every changed lead was loaded again, and nothing older than the bookmark.
        assert changed <= reloaded, f"changed leads not reloaded: {sorted(changed - reloaded)[:10]}"
        stale = reloaded - changed
        assert not stale, f"{len(stale)} unchanged leads were exported again: {sorted(stale)[:10]}"

        wrong = db.leads_with_other_updated_at(truth2["leads"])
        assert not wrong, f"leads not updated in place: {wrong[:10]}"

        activities_reloaded = db.rows(
            f'SELECT count(*) FROM {db.table("activities")} WHERE "_sdc_batched_at" > %s',
            batched_first,
        )[0][0]
        assert activities_reloaded == len(touched["new_activity_guids"])

    state2 = state_of(meltano_project, env2)
    leads_bookmark = state2["singer_state"]["bookmarks"]["leads"]["replication_key_value"]
    assert parse_ts(leads_bookmark) == parse_ts(MUTATION_END) - timedelta(seconds=0)
    print(f"meltano run: first {first:.1f} s, incremental {second:.1f} s")
