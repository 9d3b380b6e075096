"""End to end: the reconcile marks removed program members and deleted custom object records.

Day 1 through `meltano run tap-marketo-bulk target-postgres` (meltano.yml's loader settings:
activate_version, soft delete, record metadata). Then, directly in the sandbox's data, program
members are removed and custom object records deleted, and a few others updated. Day 2, one day
later with `reconcile_every_days: 1`, reconciles: in PostgreSQL the removed rows have
`_sdc_deleted_at`, every other row is live with the sandbox's values (none blanked).

The same with a SIGKILL in the middle of day 2's reconcile, the tap's output piped by the test
into the target Meltano installed (configured as meltano.yml configures it), then a rerun from the
last state the target emitted.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import REPO_ROOT, missing
from tests.e2e.harness import STREAM_KEYS
from tests.e2e.test_meltano_postgres import (
    DATA_END,
    DATA_START,
    STATE_ID,
    Db,
    psycopg,
    tap_env,
    timed_run,
)

if TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox
    from tests.conftest import MeltanoProject
    from tests.e2e.postgres_server import PostgresServer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.meltano]

DAY2_END = "2024-05-01T23:59:59Z"  # one day after day 1's end_date
CHANGES = ("2024-05-01T00:00:00Z", "2024-05-01T20:00:00Z")  # updates made on day 2
STREAMS = ("program_members", "custom_car_c", "custom_course_c")
SANDBOX = {
    "seed": 17,
    "leads": 200,
    "activities": 200,
    "programs": 12,  # two program_members jobs per reconcile: a kill can fall between them
    "members_per_program": 8,
    "custom_object_rows": 60,
    "data_start": DATA_START,
    "data_end": DATA_END,
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
}
REMOVED_MEMBERS = 7
DELETED_RECORDS = 4  # per custom object
RUN_TIMEOUT = 600


def truth_of(sb: Sandbox) -> dict[str, list[dict[str, Any]]]:
    custom = sb.truth.custom_objects
    return {
        "program_members": sb.truth.program_members,
        "custom_car_c": custom["car_c"],
        "custom_course_c": custom["course_c"],
    }


def key_of(stream: str, row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[c]) for c in STREAM_KEYS[stream])


def remove_and_update(sb: Sandbox) -> dict[str, set[tuple[str, ...]]]:
    """Day 2 in Marketo: members leave programs, custom object records are deleted (straight in
    the sandbox's data: issue 17's day-2 scenario is engineer A's), a few others change."""
    data = sb._data
    removed: dict[str, set[tuple[str, ...]]] = {}
    with data.lock:
        gone = data.members[3 :: len(data.members) // REMOVED_MEMBERS][:REMOVED_MEMBERS]
        data.members[:] = [m for m in data.members if not any(m is g for g in gone)]
        removed["program_members"] = {(str(m["leadId"]), str(m["programId"])) for m in gone}
        for name in ("car_c", "course_c"):
            table = data.custom_objects.tables[name]
            positions = set(range(5, len(table.rows), len(table.rows) // DELETED_RECORDS))
            positions = set(sorted(positions)[:DELETED_RECORDS])
            removed[f"custom_{name}"] = {(str(table.rows[p]["marketoGUID"]),) for p in positions}
            table.rows[:] = [r for p, r in enumerate(table.rows) if p not in positions]
            table.updated[:] = [u for p, u in enumerate(table.updated) if p not in positions]
        data.version += 1  # the truth follows
    sb.mutate(updated_members=5, between=CHANGES)
    sb.mutate_custom_objects(3, between=CHANGES)
    assert all(len(keys) >= DELETED_RECORDS for keys in removed.values()), removed
    return removed


def comparable(value: Any) -> Any:
    """Database and truth values in one form: timestamps as "...Z", numbers as floats, NUL as
    target-postgres writes it."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (Decimal, float)) and not isinstance(value, bool):
        return round(float(value), 6)
    if isinstance(value, str):
        # PostgreSQL text can't hold NUL: meltano.yml's sanitize_null_text_characters.
        return value.replace("\x00", "\ufffd")
    return value


def check_reconciled(
    db: Db, truth: dict[str, list[dict[str, Any]]], removed: dict[str, set[tuple[str, ...]]]
) -> dict[str, int]:
    """Live rows (`_sdc_deleted_at IS NULL`) are the truth, value for value; removed rows are
    marked. Returns live row counts."""
    problems: list[str] = []
    live_counts = {}
    for stream in STREAMS:
        rows = truth[stream]
        columns = sorted(rows[0])
        select = ", ".join(f'"{c}"' for c in columns)
        loaded = db.rows(f'SELECT {select}, "_sdc_deleted_at" FROM {db.table(stream)}')
        by_key: dict[tuple[str, ...], dict[str, Any]] = {}
        for row in loaded:
            record = dict(zip([*columns, "_sdc_deleted_at"], row, strict=True))
            by_key[key_of(stream, record)] = record
        assert len(by_key) == len(loaded), f"{stream}: duplicate keys"
        live = {k for k, r in by_key.items() if r["_sdc_deleted_at"] is None}
        live_counts[stream] = len(live)
        expected = {key_of(stream, r) for r in rows}
        if live != expected:
            problems.append(
                f"{stream}: stale live rows {sorted(live - expected)[:5]}, missing "
                f"{sorted(expected - live)[:5]}"
            )
        marked = {k for k, r in by_key.items() if r["_sdc_deleted_at"] is not None}
        if marked != removed[stream]:
            problems.append(
                f"{stream}: marked deleted {sorted(marked)[:8]}, removed {sorted(removed[stream])}"
            )
        wrong = [
            (key_of(stream, r), c, r[c], by_key[key_of(stream, r)][c])
            for r in rows
            if key_of(stream, r) in by_key
            for c in columns
            if comparable(r[c]) != comparable(by_key[key_of(stream, r)][c])
        ]
        if wrong:
            problems.append(f"{stream}: {len(wrong)} wrong values, e.g. {wrong[:4]}")
    assert not problems, "\n".join(problems)
    return live_counts


def versions(db: Db, stream: str) -> dict[str, int]:
    """`_sdc_table_version` of live and of marked rows (distinct counts)."""
    rows = db.rows(
        f'SELECT "_sdc_deleted_at" IS NULL, count(DISTINCT "_sdc_table_version"), '
        f'count(*) FILTER (WHERE "_sdc_table_version" IS NULL) FROM {db.table(stream)} GROUP BY 1'
    )
    return {("live" if alive else "marked"): (n, nulls) for alive, n, nulls in rows}


def selected_env(sb: Sandbox, postgres: PostgresServer, schema: str, end: str) -> dict[str, str]:
    return {
        **tap_env(sb, postgres, schema, end_date=end),
        "TAP_MARKETO_BULK__SELECT": json.dumps([f"{s}.*" for s in STREAMS]),
        "TAP_MARKETO_BULK_RECONCILE_EVERY_DAYS": "1",
        # A state of its own: the session's Meltano project is shared with other tests.
        "MELTANO_RUN_STATE_ID_SUFFIX": schema,
    }


def bookmarks_in_meltano(project: MeltanoProject, env: dict[str, str]) -> dict[str, Any]:
    state_id = f"{STATE_ID}:{env['MELTANO_RUN_STATE_ID_SUFFIX']}"
    output = project.check("state", "get", state_id, env=env)
    value, _end = json.JSONDecoder().raw_decode(output[output.index("{") :])
    return value["singer_state"]["bookmarks"]


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    if psycopg is None:
        missing("psycopg is not installed (pip install -e '.[test]')")
    return sandbox_factory(**SANDBOX)


def test_reconcile_marks_removed_rows_and_keeps_the_others_live_with_their_values(
    meltano_project: MeltanoProject, postgres: PostgresServer, sb: Sandbox
) -> None:
    meltano_project.install("target-postgres")
    schema = f"rec_{uuid.uuid4().hex[:8]}"
    env = selected_env(sb, postgres, schema, DATA_END)
    timed_run(meltano_project, env)
    assert psycopg is not None
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        db = Db(conn, schema)
        assert set(STREAMS) <= db.tables() and "leads" not in db.tables(), db.tables()
        check_reconciled(db, truth_of(sb), {s: set() for s in STREAMS})
        day1_versions = {s: versions(db, s) for s in STREAMS}
    # Day 1 is the first sync, a reconcile: one version, on every row.
    assert all(v == {"live": (1, 0)} for v in day1_versions.values()), day1_versions
    day1 = bookmarks_in_meltano(meltano_project, env)

    removed = remove_and_update(sb)
    env2 = {**env, "TAP_MARKETO_BULK_END_DATE": DAY2_END}
    timed_run(meltano_project, env2)
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        db = Db(conn, schema)
        live = check_reconciled(db, truth_of(sb), removed)
        # Live rows carry the new version, marked ones the old: nothing without a version.
        assert all(versions(db, s) == {"live": (1, 0), "marked": (1, 0)} for s in STREAMS)
    assert live["program_members"] == len(sb.truth.program_members)
    day2 = bookmarks_in_meltano(meltano_project, env2)
    for stream in STREAMS:
        assert day2[stream]["version"] > day1[stream]["version"], stream
        assert day2[stream]["reconciled_at"] == DAY2_END
        assert "reconcile" not in day2[stream]


# ----- SIGKILL in the middle of the reconcile --------------------------------------------------


def selected_catalog(workdir: Path, config: dict) -> dict:
    path = workdir / "discover-config.json"
    path.write_text(json.dumps(config))
    out = subprocess.run(
        [sys.executable, "-m", "tap_marketo_bulk", "--config", str(path), "--discover"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=RUN_TIMEOUT,
    )
    catalog = json.loads(out.stdout)
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
    return catalog


class Pipe:
    """`python -m tap_marketo_bulk ... | target-postgres`, the test forwarding every line (so it
    can kill the tap at an exact message); the target's last STATE is the next run's state."""

    def __init__(self, workdir: Path, target: list[str], files: dict[str, Any], name: str) -> None:
        args = [sys.executable, "-m", "tap_marketo_bulk"]
        for option, content in files.items():
            if content is not None:
                path = workdir / f"{name}-{option}.json"
                path.write_text(json.dumps(content))
                args += [f"--{option}", str(path)]
        self.log = workdir / f"{name}-tap.log"
        self.tap = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log.open("wb"),
            text=True,
        )
        self.target = subprocess.Popen(
            target,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(workdir / f"{name}-target.log").open("wb"),
            text=True,
        )
        self.target_lines: list[str] = []
        self._reader = threading.Thread(target=self._read_target, daemon=True)
        self._reader.start()
        self._watchdog = threading.Timer(RUN_TIMEOUT, self._kill_all)
        self._watchdog.start()

    def _read_target(self) -> None:
        assert self.target.stdout is not None
        self.target_lines.extend(self.target.stdout)

    def _kill_all(self) -> None:
        self.tap.kill()
        self.target.kill()

    def messages(self) -> Iterator[dict]:
        """The tap's messages, each forwarded to the target first."""
        assert self.tap.stdout is not None and self.target.stdin is not None
        for line in self.tap.stdout:
            self.target.stdin.write(line)
            yield json.loads(line)

    def finish(self) -> tuple[int, dict | None]:
        """Forward the rest, close the target's input; the tap's exit code, the target's state."""
        for _ in self.messages():
            pass
        code = self.tap.wait(timeout=RUN_TIMEOUT)
        assert self.target.stdin is not None
        self.target.stdin.close()
        assert self.target.wait(timeout=RUN_TIMEOUT) == 0, "target-postgres failed"
        self._reader.join(timeout=30)
        self._watchdog.cancel()
        states = [json.loads(line) for line in self.target_lines if line.strip()]
        return code, states[-1] if states else None


def test_a_sigkill_in_the_middle_of_the_reconcile_then_a_rerun_ends_the_same(
    meltano_project: MeltanoProject,
    postgres: PostgresServer,
    sandbox_factory: Callable[..., Sandbox],
    tmp_path: Path,
) -> None:
    if psycopg is None:
        missing("psycopg is not installed (pip install -e '.[test]')")
    # Every job takes 1 s and the tap runs one at a time: after the first program_members
    # file, the tap waits a second for the next one, and the kill falls in between.
    sb = sandbox_factory(**SANDBOX, job_seconds=1.0)
    meltano_project.install("target-postgres")
    schema = f"reck_{uuid.uuid4().hex[:8]}"
    env = selected_env(sb, postgres, schema, DATA_END)
    # The target exactly as meltano.yml configures it (activate_version, soft delete, ...).
    dumped = meltano_project.run(
        "--environment=dev", "invoke", "--dump=config", "target-postgres", env=env
    )
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    target_config = json.loads(dumped.stdout)
    assert target_config["activate_version"] is True and target_config["hard_delete"] is False
    assert target_config["default_target_schema"] == schema
    config_path = tmp_path / "target.json"
    config_path.write_text(json.dumps(target_config))
    venv = meltano_project.root / ".meltano/loaders/target-postgres/venv/bin"
    target = [str(venv / "target-postgres"), "--config", str(config_path)]
    tap_config = {
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        "base_url": sb.base_url,
        "start_date": DATA_START,
        "end_date": DATA_END,
        "poll_interval_seconds": 0.05,
        "queue_backoff_seconds": 0.1,
        "max_calls_per_20s": 100,
        "max_concurrent_jobs": 1,
        "reconcile_every_days": 1,
    }
    catalog = selected_catalog(tmp_path, tap_config)

    def pipe(name: str, end: str, state: dict | None) -> Pipe:
        files = {"config": {**tap_config, "end_date": end}, "catalog": catalog, "state": state}
        return Pipe(tmp_path, target, files, name)

    code, state = pipe("day1", DATA_END, None).finish()
    assert code == 0 and state is not None
    day1_version = state["bookmarks"]["program_members"]["version"]
    removed = remove_and_update(sb)

    killed = pipe("day2", DAY2_END, state)
    seen = 0
    for message in killed.messages():
        if message["type"] == "ACTIVATE_VERSION" and message["stream"] == "program_members":
            pytest.fail("the reconcile finished before the kill")
        if message["type"] == "RECORD" and message["stream"] == "program_members":
            assert message["version"] != day1_version
            seen += 1
        members = (
            message["value"]["bookmarks"].get("program_members", {})
            if (message["type"] == "STATE")
            else {}
        )
        if (members.get("reconcile") or {}).get("programs"):
            # The first job's programs are done, the second job's still to come: kill.
            killed.tap.send_signal(signal.SIGKILL)
            break
    assert seen > 0
    code, state = killed.finish()
    assert code == -signal.SIGKILL
    assert state is not None
    interrupted = state["bookmarks"]["program_members"]["reconcile"]
    assert interrupted["version"] > day1_version

    rerun = pipe("rerun", DAY2_END, state)
    resumed = [
        m for m in rerun.messages() if m["type"] == "RECORD" and m["stream"] == "program_members"
    ]
    code, state = rerun.finish()
    assert code == 0, rerun.log.read_text()[-3000:]
    assert {m["version"] for m in resumed} == {interrupted["version"]}  # the same version
    # Only the programs the killed run had not finished are exported again.
    assert resumed and interrupted.get("programs")
    assert not {m["record"]["programId"] for m in resumed} & set(interrupted["programs"])
    assert state is not None
    assert state["bookmarks"]["program_members"]["version"] == interrupted["version"]
    assert "reconcile" not in state["bookmarks"]["program_members"]
    assert psycopg is not None
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        check_reconciled(Db(conn, schema), truth_of(sb), removed)
