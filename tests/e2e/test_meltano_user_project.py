"""The tap as a data team gets it: a built wheel, added to a brand-new Meltano project of their own.

1. `python -m build` makes the sdist and, from it, the wheel (test_packaging.py inspects both).
2. `meltano init` makes a new project in a temporary directory; `meltano add --from-ref` adds the
   extractor from meltano-plugin/tap-marketo-bulk.yml (the definition the README points users
   to) with `pip_url` pointing at the wheel, and target-jsonl from this repository's meltano.yml.
   Both run with every HTTP(S) proxy pointed at a closed port: neither needs Meltano Hub.
3. `meltano install`, then the venv Meltano made (the wheel and its dependencies, nothing else)
   runs `tap-marketo-bulk --about` and starts `tap-marketo-bulk-sandbox`.
4. `meltano run tap-marketo-bulk target-jsonl` against the sandbox, in a network namespace with
   only loopback (tests/e2e/test_meltano_jsonl.py's runner), with every declared setting from an
   environment variable as a user writes it: fractional seconds, integers, a boolean, a JSON list,
   a comma-separated list, JSON objects. The files written are checked against the sandbox's truth,
   filtered by those settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import MeltanoProject
from tests.e2e.test_meltano_jsonl import KEYS, RUN_TIMEOUT, namespace_prefix
from tests.e2e.test_packaging import Dist, build_dist

pytestmark = [pytest.mark.e2e, pytest.mark.meltano]

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_FILE = REPO_ROOT / "meltano-plugin" / "tap-marketo-bulk.yml"
JSONL_RUNNER = Path(__file__).resolve().parent / "test_meltano_jsonl.py"
DEAD_PROXY = "http://127.0.0.1:9"
TEST_ONLY = ("pytest", "requests_mock", "psycopg", "ruff", "build")  # import names

SANDBOX: dict[str, Any] = {
    "seed": 8,
    "leads": 300,
    "activities": 900,
    "programs": 4,
    "members_per_program": 20,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-02-14T23:59:59Z",
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
}
ACTIVITY_TYPES = [1, 12]
PROGRAMS = [1001, 1002]
STATIC_LIST = 2001
# Every setting the plugin definition declares, as text in an environment variable. base_url and
# the credentials come from the sandbox (set by the runner); munchkin_id is set too and loses to
# base_url, as documented.
ENV_VALUES = {
    "munchkin_id": "123-ABC-456",
    "start_date": SANDBOX["data_start"],
    "end_date": SANDBOX["data_end"],
    "window_days": "15",
    "poll_interval_seconds": "0.05",
    "job_timeout_seconds": "300.5",
    "queue_backoff_seconds": "0.1",
    "request_timeout_seconds": "30.5",
    "daily_quota_mb": "250.5",
    "max_concurrent_jobs": "2",
    "max_queued_jobs": "1",
    "backfill_order": "oldest_first",
    "max_calls_per_20s": "100",
    "list_members_rest_page_limit": "40",
    "reconcile_every_days": "3",
    "leads_filter": "createdAt",
    "activity_type_ids": json.dumps(ACTIVITY_TYPES),
    "program_ids": ",".join(map(str, PROGRAMS)),
    "program_member_lead_fields": "email,firstName",
    "custom_objects": '["car_c"]',
    "type_overrides": json.dumps({"leads": {"externalCompanyId": "string"}}),
    "leads_static_list": str(STATIC_LIST),
    "on_quota_exhausted": "fail",
    "stream_maps": json.dumps({"programs": {"env_tag": "config['tag']"}}),
    "stream_map_config": json.dumps({"tag": "from-env"}),
    "flattening_enabled": "true",
    "flattening_max_depth": "1",
    "flattening_max_key_length": "255",
    "flattening_separator": "__",
    "faker_config": json.dumps({"seed": 1}),
}
FROM_SANDBOX = {"client_id", "client_secret", "base_url"}
# Can't be set together with leads_static_list (the tap refuses both).
NOT_SET = {"leads_smart_list"}


def env_name(setting: str) -> str:
    return "TAP_MARKETO_BULK_" + setting.upper()


def text_for_new_setting(name: str) -> str:
    """A neutral value for a setting added after this test was written: an empty list or object,
    or false; for any other kind the test names the setting to give a value for."""
    from tap_marketo_bulk.settings import schema_types
    from tap_marketo_bulk.tap import TapMarketoBulk

    schema = {"properties": dict(TapMarketoBulk.config_jsonschema["properties"])}
    TapMarketoBulk.append_builtin_config(schema)
    types = schema_types(schema["properties"].get(name, {}))
    for kind, text in (("array", "[]"), ("object", "{}"), ("boolean", "false")):
        if kind in types:
            return text
    raise AssertionError(f"give {name} a value in ENV_VALUES")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    return build_dist(tmp_path_factory.mktemp("dist"))


# ----- a user's Meltano project ------------------------------------------------------------------


@pytest.fixture(scope="module")
def user_project(
    meltano_bin: str, dist: Dist, tmp_path_factory: pytest.TempPathFactory
) -> MeltanoProject:
    """`meltano init`, the extractor and target-jsonl added by --from-ref, `meltano install`."""
    base = tmp_path_factory.mktemp("user")
    project = MeltanoProject(root=base / "my-meltano-project", meltano=meltano_bin)
    no_hub = {
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "NO_PROXY": "",
        "no_proxy": "",
    }

    started = time.monotonic()
    env = project.env(no_hub)
    env.pop("MELTANO_PROJECT_ROOT")  # the project doesn't exist yet
    done = subprocess.run(
        [meltano_bin, "init", str(project.root), "--no-usage-stats"],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]

    # The published definition, installing this wheel instead of the package from PyPI.
    tap_definition = PLUGIN_FILE.read_text()
    assert "\npip_url: tap-marketo-bulk\n" in tap_definition
    tap_ref = base / "tap-marketo-bulk.yml"
    tap_ref.write_text(
        tap_definition.replace("\npip_url: tap-marketo-bulk\n", f"\npip_url: {dist.wheel}\n")
    )
    repo_project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    jsonl = next(p for p in repo_project["plugins"]["loaders"] if p["name"] == "target-jsonl")
    jsonl_ref = base / "target-jsonl.yml"
    jsonl_ref.write_text(yaml.safe_dump(jsonl, sort_keys=False))

    project.check(
        "add",
        "--plugin-type",
        "extractor",
        "tap-marketo-bulk",
        "--from-ref",
        str(tap_ref),
        "--no-install",
        env=no_hub,
    )
    project.check(
        "add",
        "--plugin-type",
        "loader",
        "target-jsonl",
        "--from-ref",
        str(jsonl_ref),
        "--no-install",
        env=no_hub,
    )
    added = yaml.safe_load((project.root / "meltano.yml").read_text())["plugins"]
    assert [p["name"] for p in added["extractors"]] == ["tap-marketo-bulk"]
    assert [p["name"] for p in added["loaders"]] == ["target-jsonl"]
    assert set(added) == {"extractors", "loaders"}
    project.check("install", timeout=1200)
    print(f"meltano init + add + install: {time.monotonic() - started:.1f} s")
    return project


def plugin_venv(project: MeltanoProject) -> Path:
    return project.root / ".meltano" / "extractors" / "tap-marketo-bulk" / "venv"


def test_the_installed_wheel_alone_runs_about_and_the_sandbox(user_project: MeltanoProject) -> None:
    from tap_marketo_bulk import __version__

    venv = plugin_venv(user_project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MARKETO_BULK_")}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)

    # Only the runtime dependencies: no test extra came along, and the tap is the wheel's.
    probe = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.util as u, importlib.metadata as m, json, tap_marketo_bulk as t;"
            f"print(json.dumps([[n for n in {list(TEST_ONLY)!r} if u.find_spec(n)],"
            " m.version('tap-marketo-bulk'), t.__file__]))",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=venv,
    )
    assert probe.returncode == 0, probe.stderr
    test_modules, installed_version, module_file = json.loads(probe.stdout)
    assert test_modules == []
    assert installed_version == __version__
    assert Path(module_file).is_relative_to(venv)

    about = subprocess.run(
        [str(venv / "bin" / "tap-marketo-bulk"), "--about", "--format=json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=venv,
    )
    assert about.returncode == 0, about.stderr
    described = json.loads(about.stdout)
    assert described["name"] == "tap-marketo-bulk"
    assert described["version"] == __version__
    assert {"client_id", "poll_interval_seconds", "activity_type_ids"} <= set(
        described["settings"]["properties"]
    )

    sandbox = subprocess.Popen(
        [
            str(venv / "bin" / "tap-marketo-bulk-sandbox"),
            "--port",
            "0",
            "--json",
            "--leads",
            "20",
            "--activities",
            "50",
            "--programs",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=venv,
    )
    try:
        assert sandbox.stdout is not None
        details = json.loads(sandbox.stdout.readline())
        query = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": details["client_id"],
                "client_secret": details["client_secret"],
            }
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{details['base_url']}/identity/oauth/token?{query}", timeout=30) as r:
            token = json.loads(r.read())
        assert token["access_token"] and token["token_type"] == "bearer"
    finally:
        sandbox.terminate()
        _, stderr = sandbox.communicate(timeout=30)
    assert sandbox.returncode == 0, stderr


@pytest.mark.parametrize(
    ("setting", "text", "problem"),
    [
        ("window_days", "0.5", "window_days: expected an integer, got '0.5'"),
        ("poll_interval_seconds", "fast", "poll_interval_seconds: expected a number"),
        ("program_ids", "[1001,", "program_ids: expected a JSON list"),
        ("flattening_enabled", "maybe", "flattening_enabled: expected true or false"),
    ],
)
def test_bad_value_from_the_environment_is_named_in_one_line(
    user_project: MeltanoProject, setting: str, text: str, problem: str
) -> None:
    # Meltano passes the text through (kind: string); the tap refuses it before any request.
    # (`meltano run`: `meltano invoke` boxes any plugin failure in a traceback of its own.)
    env = {
        env_name("client_id"): "id",
        env_name("client_secret"): "never-logged-secret",
        env_name("base_url"): DEAD_PROXY,
        env_name("start_date"): "2024-01-01",
        env_name(setting): text,
    }
    done = user_project.run("run", "tap-marketo-bulk", "target-jsonl", env=env, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert [line for line in output.splitlines() if problem in line], output[-3000:]
    assert "Traceback" not in output
    assert "never-logged-secret" not in output


def setting_env(project: MeltanoProject, out_dir: Path) -> tuple[dict[str, str], set[str]]:
    """Every declared setting of the user's extractor as an environment variable."""
    definition = yaml.safe_load((project.root / "meltano.yml").read_text())
    settings = definition["plugins"]["extractors"][0]["settings"]
    env: dict[str, str] = {}
    for setting in settings:
        name = setting["name"]
        if name in FROM_SANDBOX | NOT_SET:
            continue
        env[env_name(name)] = ENV_VALUES[name] if name in ENV_VALUES else text_for_new_setting(name)
    env.update(
        TARGET_JSONL_DESTINATION_PATH=str(out_dir),
        TARGET_JSONL_DO_TIMESTAMP_FILE="false",
    )
    declared = {s["name"] for s in settings}
    return env, declared


def read_jsonl(path: Path) -> list[dict]:
    # "\n" only: values may hold U+2028, which str.splitlines() would split on.
    lines = path.read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


def test_user_project_runs_with_every_setting_from_the_environment(
    user_project: MeltanoProject,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    out_dir = tmp_path / "jsonl"
    settings_env, declared = setting_env(user_project, out_dir)
    set_from_env = {n for n in declared if env_name(n) in settings_env} | FROM_SANDBOX
    assert set_from_env == declared - NOT_SET
    assert "0.05" in settings_env.values()  # fractional seconds among them

    prefix = namespace_prefix()
    env = user_project.env(settings_env)
    if prefix is None:
        env.update(
            HTTP_PROXY=DEAD_PROXY,
            HTTPS_PROXY=DEAD_PROXY,
            http_proxy=DEAD_PROXY,
            https_proxy=DEAD_PROXY,
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
    spec = {
        "sandbox": SANDBOX,
        "env": env,
        "argv": [user_project.meltano, "run", "tap-marketo-bulk", "target-jsonl"],
        "cwd": str(user_project.root),
        "log": str(tmp_path / "meltano.log"),
        "result": str(tmp_path / "result.json"),
        "netns": prefix is not None,
    }
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    child_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run(
        [*(prefix or []), sys.executable, str(JSONL_RUNNER), "--inside", str(spec_path)],
        env=child_env,
        check=True,
        timeout=RUN_TIMEOUT + 60,
        stdin=subprocess.DEVNULL,
    )
    result = json.loads((tmp_path / "result.json").read_text())
    log = (tmp_path / "meltano.log").read_text(errors="replace")
    record_property("run_seconds", round(result["seconds"], 2))
    assert result["returncode"] == 0, "\n".join(log.splitlines()[-80:])

    # The same seed makes the same instance here: the truth, filtered by the settings.
    truth = Sandbox(SandboxConfig(**SANDBOX)).truth
    for stream, columns in KEYS.items():
        local = sorted([str(r[c]) for c in columns] for r in getattr(truth, stream))
        assert local == sorted(result["truth_keys"][stream]), f"{stream}: not the same instance"
    static = next(s for s in truth.static_lists if s["id"] == STATIC_LIST)
    assert 0 < len(static["leadIds"]) < len(truth.leads)
    expected = {
        "leads": {(str(i),) for i in static["leadIds"]},
        "activities": {
            (a["marketoGUID"],) for a in truth.activities if a["activityTypeId"] in ACTIVITY_TYPES
        },
        "program_members": {
            (str(lead), str(program))
            for lead, program in truth.members_by_key
            if program in PROGRAMS
        },
        "programs": {(str(p["id"]),) for p in truth.programs},
        "activity_types": {(str(t["id"]),) for t in truth.activity_types},
        "deleted_leads": {(str(d["id"]),) for d in truth.deleted_leads},
    }
    written: dict[str, list[dict]] = {}
    problems = []
    for stream, columns in KEYS.items():
        path = out_dir / f"{stream}.jsonl"
        records = written[stream] = read_jsonl(path) if path.exists() else []
        keys = [tuple(str(r[c]) for c in columns) for r in records]
        if len(keys) != len(expected[stream]) or set(keys) != expected[stream]:
            problems.append(
                f"{stream}: {len(keys)} records ({len(set(keys))} keys), expected"
                f" {len(expected[stream])}"
            )
    assert not problems, "\n".join(problems)
    assert all(expected.values())
    # custom_objects (a JSON list from env) chose car_c alone.
    cars = read_jsonl(out_dir / "custom_car_c.jsonl")
    assert sorted(r["marketoGUID"] for r in cars) == sorted(
        r["marketoGUID"] for r in truth.custom_objects["car_c"]
    )
    assert not (out_dir / "custom_course_c.jsonl").exists()

    # Objects, a boolean and an integer, by what they did to the records.
    assert all(p["env_tag"] == "from-env" for p in written["programs"])
    assert all("attributes" not in a for a in written["activities"])
    assert any(k.startswith("attributes__") for a in written["activities"] for k in a)
    leads = {lead["id"]: lead for lead in truth.leads}
    assert all(m["email"] == leads[m["leadId"]]["email"] for m in written["program_members"])
    print(f"user project: meltano run with every setting from env: {result['seconds']:.1f} s")


@pytest.fixture(autouse=True, scope="module")
def _report_module_time() -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"\ntest_meltano_user_project: {time.monotonic() - started:.1f} s wall")
