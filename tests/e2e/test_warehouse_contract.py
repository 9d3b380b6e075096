"""End to end: the warehouse mirrors Marketo after a day of deletions, merges and removals.

`meltano run tap-marketo-bulk target-postgres` (meltano.yml's settings) loads day 1; the sandbox
then deletes 20 people, merges 10 pairs, removes 30 static list and 15 program memberships and 10
records of each custom object, and deletes a campaign, an email and a program token; day 2 runs
from day 1's state (Meltano's state backend). Then for EVERY table the README's contract query
("The warehouse mirrors Marketo") must equal the sandbox's truth at day 2: no stale row, no
missing row, no wrong value (activities of merged leads under their winner, the winner's merged
values). The second test kills day 2 with SIGKILL midway and reruns it before checking.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tap_marketo_bulk.sandbox import ChangeScenario, Sandbox, SandboxConfig
from tests.conftest import REPO_ROOT, missing
from tests.e2e.harness import EMITTED_AS, STREAM_KEYS
from tests.e2e.test_meltano_postgres import DATA_END, MUTATION_END, SANDBOX, parse_ts, tap_env

if TYPE_CHECKING:
    from tests.conftest import MeltanoProject
    from tests.e2e.postgres_server import PostgresServer

try:
    import psycopg
    from psycopg.rows import dict_row
except ImportError:  # the [test] extra brings it; skip locally, fail under CI
    psycopg = None

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.meltano]

# Two months of data (test_meltano_postgres's sandbox otherwise): each day's run stays under the
# tap's 100 calls per 20 s (day 1 ~70, day 2 ~55), so no run idles on Marketo's real window.
SANDBOX = {**SANDBOX, "data_start": "2024-03-01T00:00:00Z"}
DAY2 = ("2024-05-01T00:00:00Z", MUTATION_END)
SCENARIO = ChangeScenario(deleted_leads=20, merges=10, list_removals=30, program_removals=15,
                          custom_object_deletions=10)
RUN_TIMEOUT = 600
# The custom objects' link to their lead (sandbox: car_c and course_c, field leadID).
# merged_leads belongs to its winner: a deleted winner's history (its merges too) is gone.
LEAD_COLUMN = {"leads": "id", "program_members": "leadId", "list_members": "leadId",
               "custom_car_c": "leadID", "custom_course_c": "leadID", "merged_leads": "leadId"}

# The README's queries, verbatim (test_readme_states_the_contract_queries checks it). A row is
# current when _sdc_deleted_at IS NULL; a lead-owned row also needs its lead alive and unmerged.
CURRENT_ROWS = """SELECT t.*
FROM program_members AS t
WHERE t._sdc_deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM deleted_leads AS d WHERE d."leadId" = t."leadId")
  AND NOT EXISTS (SELECT 1 FROM merged_leads AS m WHERE m."mergedLeadId" = t."leadId");"""
CURRENT_ACTIVITIES = """SELECT a.*, COALESCE(m."leadId", a."leadId") AS current_lead_id
FROM activities AS a
LEFT JOIN merged_leads AS m ON m."mergedLeadId" = a."leadId"
WHERE a._sdc_deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM deleted_leads AS d
                  WHERE d."leadId" = COALESCE(m."leadId", a."leadId"));"""
CURRENT_OTHER = """SELECT t.* FROM campaigns AS t WHERE t._sdc_deleted_at IS NULL;"""


def contract_query(stream: str) -> str:
    """The README's query for `stream` (its table and lead column substituted)."""
    if stream == "activities":
        return CURRENT_ACTIVITIES
    if stream in LEAD_COLUMN:
        column = LEAD_COLUMN[stream]
        return (CURRENT_ROWS.replace("program_members", f'"{stream}"')
                .replace('t."leadId"', f't."{column}"'))
    return CURRENT_OTHER.replace("campaigns", f'"{stream}"')


# ----------------------------------------------------------------------------------- compare
def _same(expected: Any, loaded: Any) -> bool:
    """Truth's JSON-typed value vs what PostgreSQL holds for it."""
    if isinstance(expected, str):
        expected = expected.replace("\x00", "\ufffd")  # sanitize_null_text_characters
    if expected is None or loaded is None:
        return expected is None and loaded is None
    if isinstance(loaded, dt.datetime):
        return isinstance(expected, str) and parse_ts(expected) == parse_ts(loaded)
    if isinstance(loaded, dt.date):
        return loaded.isoformat() == expected
    if isinstance(expected, bool) or isinstance(loaded, bool):
        return expected is loaded
    if isinstance(loaded, (int, float, decimal.Decimal)) and isinstance(expected, (int, float)):
        return abs(float(loaded) - float(expected)) <= 1e-9 * max(1.0, abs(float(expected)))
    if isinstance(expected, dict) and isinstance(loaded, dict):
        return expected.keys() == loaded.keys() and all(
            _same(v, loaded[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(loaded, list):
        return len(expected) == len(loaded) and all(
            _same(e, v) for e, v in zip(expected, loaded, strict=True))
    return expected == loaded


# stream -> {Marketo field: column} where the loaded column is named otherwise.
RENAMED_COLUMNS = EMITTED_AS


def compare_table(rows: list[dict[str, Any]], truth: list[dict[str, Any]],
                  keys: tuple[str, ...], renamed: Mapping[str, str]
                  ) -> tuple[list, list, list[str]]:
    """(stale keys, missing keys, wrong values) of the current rows against the truth."""
    def key(row: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(str(row[c]) for c in keys)

    loaded = {key(r): r for r in rows}
    expected = {key(r): r for r in truth}
    stale = sorted(set(loaded) - set(expected))
    missing_keys = sorted(set(expected) - set(loaded))
    wrong: list[str] = []
    for k in sorted(set(loaded) & set(expected)):
        for name, value in expected[k].items():
            column = renamed.get(name, name)
            if column not in loaded[k]:
                wrong.append(f"{k} {name}: no column {column}")
            elif not _same(value, loaded[k][column]):
                wrong.append(f"{k} {name}: {loaded[k][column]!r} != {value!r}")
    if len(rows) != len(loaded):
        wrong.append(f"{len(rows) - len(loaded)} duplicate current rows")
    return stale, missing_keys, wrong


def truth_tables(sb: Sandbox) -> dict[str, list[dict[str, Any]]]:
    truth = sb.truth
    custom = {f"custom_{name}": rows for name, rows in truth.custom_objects.items()}
    return {stream: list(custom.get(stream) or getattr(truth, stream)) for stream in STREAM_KEYS}


def check_contract(postgres: PostgresServer, schema: str, sb: Sandbox) -> str:
    """Assert every table's contract query equals the truth; the per-table report."""
    truth = truth_tables(sb)
    report, failures = [], []
    with psycopg.connect(postgres.url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        for stream, keys in STREAM_KEYS.items():
            rows = [dict(r) for r in conn.execute(contract_query(stream)).fetchall()]
            if stream == "activities":
                for row in rows:
                    row["leadId"] = row.pop("current_lead_id")
            stale, missing_keys, wrong = compare_table(
                rows, truth[stream], keys, RENAMED_COLUMNS.get(stream, {}))
            line = (f"{stream}: {len(rows)} current rows, truth {len(truth[stream])}:"
                    f" {len(stale)} stale, {len(missing_keys)} missing, {len(wrong)} wrong")
            report.append(line)
            if stale or missing_keys or wrong:
                failures.append(f"{line}; stale {stale[:3]} missing {missing_keys[:3]}"
                                f" wrong {wrong[:3]}")
    text = "\n".join(report)
    assert not failures, "contract broken:\n" + "\n".join(failures) + "\n--- all:\n" + text
    return text


# ----------------------------------------------------------------------------------- runs
STATE_ID = "dev:tap-marketo-bulk-to-target-postgres"


def day_env(sb: Sandbox, postgres: PostgresServer, schema: str, end: str, suffix: str
            ) -> dict[str, str]:
    return {
        **tap_env(sb, postgres, schema, end_date=end),
        "TAP_MARKETO_BULK_RECONCILE_EVERY_DAYS": "1",  # a reconcile on day 2 (setting of #17)
        "MELTANO_RUN_STATE_ID_SUFFIX": suffix,  # this test's own state, not the session's
    }


def meltano_run(project: MeltanoProject, env: Mapping[str, str], *extra: str) -> float:
    started = time.monotonic()
    project.check("--environment=dev", "run", *extra, "tap-marketo-bulk", "target-postgres",
                  env=env, timeout=RUN_TIMEOUT)
    return time.monotonic() - started


@dataclass
class Day1:
    """Day 1 loaded twice over (two schemas, two Meltano states), then the sandbox's changes."""

    sb: Sandbox
    copies: list[tuple[str, str]]  # (schema, state-id suffix), one per test


def clone_schema(postgres: PostgresServer, source: str, target: str) -> None:
    """Copy every table (rows, keys, indexes) of a loaded schema: a second warehouse at day 1."""
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{target}"')
        tables = conn.execute("SELECT table_name FROM information_schema.tables"
                              " WHERE table_schema = %s", (source,)).fetchall()
        for (table,) in tables:
            conn.execute(f'CREATE TABLE "{target}"."{table}"'
                         f' (LIKE "{source}"."{table}" INCLUDING ALL)')
            conn.execute(f'INSERT INTO "{target}"."{table}" SELECT * FROM "{source}"."{table}"')


@pytest.fixture(scope="module")
def day1(meltano_project: MeltanoProject, postgres: PostgresServer) -> Iterator[Day1]:
    if psycopg is None:
        missing("psycopg is not installed (pip install -e '.[test]')")
    meltano_project.install("target-postgres")
    sb = Sandbox(SandboxConfig(port=0, host="127.0.0.1", **SANDBOX)).start()
    try:
        schema, suffix = f"contract_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
        meltano_run(meltano_project, day_env(sb, postgres, schema, DATA_END, suffix))
        copy_schema, copy_suffix = f"{schema}_b", f"{suffix}b"
        clone_schema(postgres, schema, copy_schema)
        meltano_project.check("state", "copy", "--force", f"{STATE_ID}:{suffix}",
                              f"{STATE_ID}:{copy_suffix}")
        log = sb.apply_day2_changes(SCENARIO, between=DAY2)
        assert len(log.merges) == 10 and len(log.deleted_lead_ids) == 20
        yield Day1(sb, [(schema, suffix), (copy_schema, copy_suffix)])
    finally:
        sb.stop()


def test_the_comparison_finds_stale_missing_and_wrong_rows() -> None:
    truth = [{"id": 1, "at": "2024-05-01T00:00:00Z", "name": "a\x00b", "score": 1.5},
             {"id": 2, "at": None, "name": "x", "score": 2}]
    loaded = [{"id": 1, "at": dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc),
               "name": "a\ufffdb", "score": decimal.Decimal("1.5")},
              {"id": 3, "at": None, "name": "y", "score": 3}]
    assert compare_table(loaded, truth, ("id",), {}) == ([("3",)], [("2",)], [])
    loaded[0]["score"] = decimal.Decimal("1.25")
    assert compare_table(loaded, truth, ("id",), {})[2] == [
        "('1',) score: Decimal('1.25') != 1.5"]
    renamed = [{**loaded[0], "score": None, "score_": 1.5}]
    assert compare_table(renamed, truth[:1], ("id",), {"score": "score_"}) == ([], [], [])


def test_readme_states_the_contract_queries() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for query in (CURRENT_ROWS, CURRENT_ACTIVITIES, CURRENT_OTHER):
        assert query in readme, f"README lacks the contract query:\n{query}"


def test_day2_contract_holds_for_every_table(
    day1: Day1, meltano_project: MeltanoProject, postgres: PostgresServer,
    record_property: Callable[[str, object], None],
) -> None:
    schema, suffix = day1.copies[0]
    env = day_env(day1.sb, postgres, schema, MUTATION_END, suffix)
    record_property("day2_seconds", round(meltano_run(meltano_project, env), 2))
    print(check_contract(postgres, schema, day1.sb))


def test_day2_killed_midway_then_rerun_keeps_the_contract(
    day1: Day1, meltano_project: MeltanoProject, postgres: PostgresServer,
) -> None:
    sb = day1.sb
    schema, suffix = day1.copies[1]
    env = day_env(sb, postgres, schema, MUTATION_END, suffix)
    jobs_before = len(sb.client_stats()["jobs"])
    process = subprocess.Popen(
        [meltano_project.meltano, "--environment=dev", "run", "tap-marketo-bulk",
         "target-postgres"],
        cwd=meltano_project.root, env=meltano_project.env(env), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        # Midway: once this run has created its second export job (leads done, more to come).
        deadline = time.monotonic() + RUN_TIMEOUT
        while len(sb.client_stats()["jobs"]) < jobs_before + 2 and process.poll() is None:
            assert time.monotonic() < deadline, "day 2 never started exporting"
            time.sleep(0.05)
        assert process.poll() is None, "day 2 finished before it could be killed"
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # meltano, the tap and the target at once
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    # Meltano still sees the killed run as running (its heartbeat goes stale after ~5 min):
    # --force starts the rerun now, from the state the killed run left.
    meltano_run(meltano_project, env, "--force")
    print(check_contract(postgres, schema, sb))
