"""activities_by_type under `meltano run tap-marketo-bulk target-postgres`, set from the env.

Each per-type table holds exactly its type's activities (no duplicate key), with a PostgreSQL
column per attribute of the type the tap's schema gives it, holding the truth's values; together
the tables hold the rows of `activities`.
"""

from __future__ import annotations

import typing as t
import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest

from tests.e2e.test_activities_by_type import EXPECTED_STREAMS
from tests.e2e.test_meltano_postgres import (
    DATA_END,
    SANDBOX,
    Db,
    discover,
    expected_sql_types,
    parse_ts,
    tap_env,
)

try:
    import psycopg
except ImportError:  # pragma: no cover - the conftest skips or fails instead
    psycopg = None  # type: ignore[assignment]

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from tap_marketo_bulk.sandbox import Sandbox
    from tests.conftest import MeltanoProject
    from tests.e2e.postgres_server import PostgresServer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.meltano]


def loadable(value: t.Any) -> t.Any:
    """The truth's value as target-postgres stores it: PostgreSQL text cannot hold NUL, so the
    project sets sanitize_null_text_characters (NUL -> U+FFFD)."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def as_loaded(value: t.Any) -> t.Any:
    """A value read back from PostgreSQL, in the truth's terms."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return value


def test_per_type_tables_in_postgres(
    meltano_project: MeltanoProject,
    postgres: PostgresServer,
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    if psycopg is None:
        pytest.skip("psycopg is not installed")
    meltano_project.install("target-postgres")
    sb = sandbox_factory(**SANDBOX)
    schema = f"bytype_{uuid.uuid4().hex[:8]}"
    env = {
        **tap_env(sb, postgres, schema, end_date=DATA_END),
        "TAP_MARKETO_BULK_ACTIVITIES_BY_TYPE": "true",
    }
    # A state id of its own: the session's project is shared, and a bookmark left under the
    # default id would make test_meltano_postgres's first run export nothing.
    meltano_project.check(
        "--environment=dev",
        "run",
        f"--state-id-suffix={schema}",
        "tap-marketo-bulk",
        "target-postgres",
        env=env,
        timeout=600,
    )
    catalog = discover(meltano_project, env)
    truth = {a["marketoGUID"]: a for a in sb.truth.activities}

    with psycopg.connect(postgres.url, autocommit=True) as conn:
        db = Db(conn, schema)
        assert set(EXPECTED_STREAMS.values()) <= db.tables()
        loaded_guids: list[str] = []
        for type_id, stream in EXPECTED_STREAMS.items():
            properties = catalog[stream]["schema"]["properties"]
            columns = db.column_types(stream)
            for name, prop in properties.items():
                assert columns.get(name) in expected_sql_types(prop), (stream, name, columns)
            assert db.primary_key(stream) == ("marketoGUID",)
            attribute_of = {c: p["title"] for c, p in properties.items() if "title" in p}
            names = ", ".join(f'"{c}"' for c in ["marketoGUID", "activityDate", *attribute_of])
            rows = db.rows(f"SELECT {names} FROM {db.table(stream)}")
            guids = [r[0] for r in rows]
            expected = [g for g, a in truth.items() if a["activityTypeId"] == type_id]
            assert sorted(guids) == sorted(expected), stream
            loaded_guids += guids
            for guid, activity_date, *values in rows:
                activity = truth[guid]
                assert parse_ts(activity_date) == parse_ts(activity["activityDate"])
                attributes = activity["attributes"] or {}
                for (column, attribute), value in zip(attribute_of.items(), values, strict=True):
                    want = loadable(attributes.get(attribute))
                    got = as_loaded(value)
                    if isinstance(got, datetime):
                        assert got == parse_ts(want).replace(tzinfo=got.tzinfo), (stream, column)
                    else:
                        assert got == want, (stream, column, guid)
        activities = {r[0] for r in db.rows(f'SELECT "marketoGUID" FROM {db.table("activities")}')}
        assert len(loaded_guids) == len(set(loaded_guids)) == len(activities)
        assert set(loaded_guids) == activities == set(truth)
