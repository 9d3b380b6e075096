"""End to end: full-table rows that vanish from Marketo get `_sdc_deleted_at` in PostgreSQL.

`meltano run tap-marketo-bulk target-postgres` as meltano.yml configures it (activate_version,
no hard_delete, record metadata), twice, on the full-table streams. Between the runs a campaign,
a list member, a program token, a segment and an email are removed from the sandbox's data, and
a program is deleted between run 2's `programs` and `program_tokens` calls (the sandbox fault).
After run 2 every removed row is marked deleted, every other row is current with the sandbox's
values, and run 2 exits 0. `emails` goes through ACTIVATE_VERSION too: Marketo's `version` is the
column `emailVersion`, since target-postgres 0.8.1 fails ACTIVATE_VERSION on a table with a column
named `version` (README, "Deletions").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import missing
from tests.e2e.harness import STREAM_KEYS, as_emitted
from tests.e2e.test_meltano_postgres import Db, parse_ts, tap_env, timed_run

if TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox
    from tests.conftest import MeltanoProject
    from tests.e2e.postgres_server import PostgresServer

try:
    import psycopg
except ImportError:
    psycopg = None

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.meltano]

DATA_START = "2024-01-01T00:00:00Z"
DATA_END = "2024-02-29T23:59:59Z"
SANDBOX = {
    "seed": 17,
    "leads": 200,
    "activities": 100,
    "programs": 6,
    "members_per_program": 5,
    "static_lists": 3,
    "large_static_list": 40,
    "campaigns": 12,
    "emails": 10,
    "segmentations": 2,
    "data_start": DATA_START,
    "data_end": DATA_END,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
}
# Every full-table stream (the bulk ones and deleted_leads are incremental).
FULL_TABLE = [
    "activity_types",
    "campaigns",
    "lists",
    "list_members",
    "emails",
    "segmentations",
    "segments",
    "programs",
    "program_tokens",
]
def truth_rows(sb: Sandbox, stream: str) -> list[dict[str, Any]]:
    return as_emitted(stream, getattr(sb.truth, stream))


def key_of(stream: str, row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[c]) for c in STREAM_KEYS[stream])


def sanitized(value: Any) -> Any:
    """The value as target-postgres stores it: NUL characters replaced by U+FFFD
    (sanitize_null_text_characters, meltano.yml), which PostgreSQL text can't hold."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [sanitized(v) for v in value]
    if isinstance(value, dict):
        return {k: sanitized(v) for k, v in value.items()}
    return value


def same_value(expected: Any, loaded: Any) -> bool:
    if isinstance(loaded, datetime) and isinstance(expected, str):
        return parse_ts(loaded) == parse_ts(expected)
    if isinstance(expected, (dict, list)) and isinstance(loaded, str):
        loaded = json.loads(loaded)
    return loaded == sanitized(expected)


def loaded_rows(db: Db, stream: str) -> dict[tuple[str, ...], dict[str, Any]]:
    cursor = db.conn.execute(f"SELECT * FROM {db.table(stream)}")
    names = [d.name for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return {key_of(stream, r): r for r in rows}


def wrong_values(stream: str, expected: list[dict], loaded: dict[tuple, dict]) -> list[str]:
    wrong = []
    for row in expected:
        got = loaded.get(key_of(stream, row))
        if got is None:
            wrong.append(f"{stream} {key_of(stream, row)}: missing")
            continue
        wrong += [
            f"{stream} {key_of(stream, row)}.{name}: {got.get(name)!r} != {value!r}"
            for name, value in row.items()
            if not same_value(value, got.get(name))
        ]
    return wrong


def remove_one_row_of_each(sb: Sandbox) -> dict[str, tuple[str, ...]]:
    """Delete a campaign, an email, a segment, a program token and a list membership from the
    sandbox's data (as Marketo would after a user's deletion); their keys by stream."""
    data = sb._data  # the test plays the Marketo user here
    removed: dict[str, dict[str, Any]] = {}
    with data.lock:
        removed["campaigns"] = data.campaigns.pop(3)
        removed["emails"] = data.emails.pop(2)
        removed["segments"] = data.segments.pop(1)
        program_id = next(p for p, tokens in sorted(data.program_tokens.items()) if tokens)
        removed["program_tokens"] = {"programId": program_id,
                                     **data.program_tokens[program_id].pop(0)}
        static = next(s for s in data.static_lists if len(s["leadIds"]) > 1)
        removed["list_members"] = {"listId": static["id"], "leadId": static["leadIds"].pop(0)}
        data.version += 1
    return {stream: key_of(stream, row) for stream, row in removed.items()}


def test_rows_gone_from_marketo_get_sdc_deleted_at_and_the_rest_stays_current(
    meltano_project: MeltanoProject,
    postgres: PostgresServer,
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    if psycopg is None:
        missing("psycopg is not installed (pip install -e '.[test]')")
    meltano_project.install("target-postgres")
    sb = sandbox_factory(**SANDBOX)
    schema = f"del_{uuid.uuid4().hex[:8]}"
    env = {
        **tap_env(sb, postgres, schema, end_date=DATA_END),
        # Meltano's `select` extra from the environment: the full-table streams only.
        "TAP_MARKETO_BULK__SELECT": json.dumps([f"{s}.*" for s in FULL_TABLE]),
    }

    # ---- run 1 ---------------------------------------------------------------------------------
    timed_run(meltano_project, env)
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        db = Db(conn, schema)
        assert set(FULL_TABLE) <= db.tables(), sorted(db.tables())
        columns = db.column_types("emails")
        assert "version" not in columns and columns["emailVersion"] in {"bigint", "integer"}
        first_version = {}
        for stream in FULL_TABLE:
            loaded = loaded_rows(db, stream)
            expected = truth_rows(sb, stream)
            assert len(loaded) == len(expected), stream
            assert wrong_values(stream, expected, loaded) == []
            assert {r["_sdc_deleted_at"] for r in loaded.values()} == {None}, stream
            versions = {r["_sdc_table_version"] for r in loaded.values()}
            assert len(versions) == 1 and None not in versions, (stream, versions)
            first_version[stream] = versions.pop()

    # ---- Marketo changes; a program vanishes during run 2 --------------------------------------
    removed = remove_one_row_of_each(sb)
    tokens = sb.truth.program_tokens
    victim_id = next(
        p for p in sorted({t["programId"] for t in tokens})
        if str(p) != removed["program_tokens"][0]
    )
    victim_tokens = {key_of("program_tokens", t) for t in tokens if t["programId"] == victim_id}
    [victim] = [p for p in truth_rows(sb, "programs") if p["id"] == victim_id]
    sb.faults.delete_program_after_listing = victim_id

    # `check` fails the test unless meltano exits 0; its output holds the tap's log.
    run2 = meltano_project.check(
        "--environment=dev", "run", "tap-marketo-bulk", "target-postgres", env=env, timeout=600
    )
    assert sb.faults.delete_program_after_listing is None, "the program was never deleted"

    # ---- every table: removed rows deleted, every other row current with Marketo's values ------
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        db = Db(conn, schema)
        problems: list[str] = []
        for stream in FULL_TABLE:
            loaded = loaded_rows(db, stream)
            expected = truth_rows(sb, stream)
            if stream == "programs":
                # Listed by run 2 just before its deletion: current until the next run.
                assert victim_id not in {p["id"] for p in expected}
                expected.append(victim)
            current = {k for k, r in loaded.items() if r["_sdc_deleted_at"] is None}
            deleted = {k for k, r in loaded.items() if r["_sdc_deleted_at"] is not None}
            should_be_deleted = {removed[stream]} if stream in removed else set()
            if stream == "program_tokens":
                should_be_deleted |= victim_tokens
            if current != {key_of(stream, r) for r in expected}:
                problems.append(f"{stream}: current rows differ from Marketo's")
            if deleted != should_be_deleted:
                problems.append(f"{stream}: deleted {sorted(deleted)}, not {should_be_deleted}")
            problems += wrong_values(stream, expected, loaded)
            versions = {loaded[k]["_sdc_table_version"] for k in current}
            if len(versions) != 1 or not versions.pop() > first_version[stream]:
                problems.append(f"{stream}: current rows not all of run 2's table version")
        assert not problems, "\n".join(problems[:40])
    assert f"program_tokens: program {victim_id} ({victim['name']!r}) was deleted" in run2, (
        run2[-3000:]
    )

