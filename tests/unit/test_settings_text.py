"""Settings given as text (environment variables, Meltano `kind: string`) become typed values.

The parsing is driven by the config JSON schema, so every setting of a type other than string,
the SDK's built-in ones and settings added later included, gets it without a line of its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

from tap_marketo_bulk.settings import (
    CONFIG_SCHEMA,
    SettingTextError,
    normalize_config,
    parse_setting_text,
    schema_types,
)
from tap_marketo_bulk.tap import TapMarketoBulk

REPO_ROOT = Path(__file__).resolve().parents[2]
INTEGER = {"type": ["integer", "null"]}
NUMBER = {"type": ["number", "null"]}
BOOLEAN = {"type": ["boolean", "null"]}
INTEGERS = {"type": ["array", "null"], "items": {"type": ["integer"]}}
STRINGS = {"type": ["array", "null"], "items": {"type": ["string"]}}
OBJECT = {"type": ["object", "null"]}


def full_schema() -> dict[str, t.Any]:
    """The tap's settings plus singer-sdk's built-in ones (stream maps, flattening, ...)."""
    schema = {"properties": dict(CONFIG_SCHEMA["properties"])}
    TapMarketoBulk.append_builtin_config(schema)
    return schema


@pytest.mark.parametrize(
    ("text", "schema", "expected"),
    [
        ("0.05", NUMBER, 0.05),
        ("60", NUMBER, 60),
        (" 1e-3 ", NUMBER, 0.001),
        ("7", INTEGER, 7),
        ("7.0", INTEGER, 7),
        ("true", BOOLEAN, True),
        ("Yes", BOOLEAN, True),
        ("0", BOOLEAN, False),
        ("off", BOOLEAN, False),
        ("[1, 12]", INTEGERS, [1, 12]),
        ("1, 12", INTEGERS, [1, 12]),
        ('["6"]', INTEGERS, [6]),
        ("email,firstName", STRINGS, ["email", "firstName"]),
        ('["a,b", "c"]', STRINGS, ["a,b", "c"]),
        ("[]", STRINGS, []),
        ('{"leads": {"x": "1"}}', OBJECT, {"leads": {"x": "1"}}),
        ("0.05", {"type": ["string"]}, "0.05"),
    ],
)
def test_text_is_parsed_as_the_schema_type(text: str, schema: dict, expected: t.Any) -> None:
    value = parse_setting_text(text, schema)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "schema", "problem"),
    [
        ("0.5", INTEGER, "expected an integer"),
        ("fast", NUMBER, "expected a number"),
        ("nan", NUMBER, "expected a number"),
        ("maybe", BOOLEAN, "expected true or false"),
        ("[1,", INTEGERS, "expected a JSON list"),
        ("1,x", INTEGERS, "expected an integer, got 'x'"),
        ("[1]", OBJECT, "expected a JSON object"),
        ("{leads}", OBJECT, "expected a JSON object"),
    ],
)
def test_unreadable_text_is_refused(text: str, schema: dict, problem: str) -> None:
    with pytest.raises(SettingTextError, match=problem):
        parse_setting_text(text, schema)


def sample(schema: dict[str, t.Any]) -> tuple[str, t.Any] | None:
    """Text a user would write for a setting of this schema, and the value it must become."""
    types = schema_types(schema)
    if "string" in types:
        return None
    if "array" in types:
        item = schema.get("items", {})
        if "integer" in schema_types(item):
            return "[41, 42]", [41, 42]
        if "string" in schema_types(item):
            return '["a", "b"]', ["a", "b"]
        return "[]", []
    if "object" in types:
        return '{"k": {"n": 1}}', {"k": {"n": 1}}
    if "boolean" in types:
        return "true", True
    if "integer" in types:
        return "3", 3
    if "number" in types:
        return "0.25", 0.25
    raise AssertionError(f"no sample for {schema}")


def test_every_non_text_setting_is_parsed_from_text() -> None:
    # Generic on purpose: a setting added to CONFIG_SCHEMA later is covered without a change here.
    schema = full_schema()
    texts, expected = {}, {}
    for name, prop in schema["properties"].items():
        pair = sample(prop)
        if pair is not None:
            texts[name], expected[name] = pair
    assert {
        "poll_interval_seconds",
        "window_days",
        "activity_type_ids",
        "flattening_enabled",
        "stream_maps",
    } <= set(texts)
    normalized, errors = normalize_config(texts, schema)
    assert errors == []
    assert normalized == expected
    assert {n: type(v) for n, v in normalized.items()} == {n: type(v) for n, v in expected.items()}


def test_empty_text_means_unset_and_typed_values_pass_through() -> None:
    normalized, errors = normalize_config(
        {
            "window_days": "",
            "poll_interval_seconds": 0.5,
            "program_ids": [3],
            "end_date": "",
            "not_a_setting": "7",
        },
        full_schema(),
    )
    assert errors == []
    assert normalized == {
        "poll_interval_seconds": 0.5,
        "program_ids": [3],
        "end_date": "",
        "not_a_setting": "7",
    }


ENV_CONFIG = {
    "TAP_MARKETO_BULK_CLIENT_ID": "id",
    "TAP_MARKETO_BULK_CLIENT_SECRET": "never-logged-secret",
    "TAP_MARKETO_BULK_BASE_URL": "http://127.0.0.1:9",
    "TAP_MARKETO_BULK_START_DATE": "2024-01-01",
}


def test_config_env_gives_typed_values_to_the_tap(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        **ENV_CONFIG,
        "TAP_MARKETO_BULK_POLL_INTERVAL_SECONDS": "0.05",
        "TAP_MARKETO_BULK_WINDOW_DAYS": "10",
        "TAP_MARKETO_BULK_DAILY_QUOTA_MB": "250.5",
        "TAP_MARKETO_BULK_ACTIVITY_TYPE_IDS": "[1, 12]",
        "TAP_MARKETO_BULK_PROGRAM_IDS": "1001,1002",
        "TAP_MARKETO_BULK_PROGRAM_MEMBER_LEAD_FIELDS": "email,firstName",
        "TAP_MARKETO_BULK_FLATTENING_ENABLED": "yes",
        "TAP_MARKETO_BULK_FLATTENING_MAX_DEPTH": "1",
        "TAP_MARKETO_BULK_STREAM_MAPS": '{"programs": {"source": "\'env\'"}}',
        "TAP_MARKETO_BULK_LEADS_FILTER": "createdAt",
        "TAP_MARKETO_BULK_EMIT_ACTIVATE_VERSION_MESSAGES": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    tap = TapMarketoBulk(config={}, parse_env_config=True, setup_mapper=False)
    config = dict(tap.config)
    expected = {
        "poll_interval_seconds": 0.05,
        "window_days": 10,
        "daily_quota_mb": 250.5,
        "activity_type_ids": [1, 12],
        "program_ids": [1001, 1002],
        "program_member_lead_fields": ["email", "firstName"],
        "flattening_enabled": True,
        "flattening_max_depth": 1,
        "stream_maps": {"programs": {"source": "'env'"}},
        "leads_filter": "createdAt",
        "emit_activate_version_messages": False,
        "start_date": "2024-01-01",
    }
    assert {name: config[name] for name in expected} == expected
    assert all(type(config[name]) is type(value) for name, value in expected.items())
    assert tap.scheduler.poll_interval == 0.05


def tap_env_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MARKETO_BULK_")}
    return subprocess.run(
        [sys.executable, "-m", "tap_marketo_bulk", "--config=ENV", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("setting", "text"),
    [
        ("window_days", "0.5"),
        ("poll_interval_seconds", "fast"),
        ("activity_type_ids", "[1,"),
        ("program_ids", "12,x"),
        ("flattening_enabled", "maybe"),
        ("stream_maps", "{programs}"),
        ("max_concurrent_jobs", "3"),
    ],
)
@pytest.mark.parametrize("mode", ["sync", "--discover"])
def test_bad_env_value_ends_in_one_line_naming_the_setting(
    setting: str, text: str, mode: str
) -> None:
    env = {**ENV_CONFIG, f"TAP_MARKETO_BULK_{setting.upper()}": text}
    done = tap_env_cli(env, *([mode] if mode != "sync" else []))
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "ERROR" in lines[-1]
    assert setting in lines[-1], lines[-1]
    assert "Traceback" not in done.stderr
    assert "never-logged-secret" not in done.stderr + done.stdout


def test_meltano_yml_declares_every_setting_so_text_reaches_the_tap() -> None:
    """Under Meltano a setting is settable from the environment only when declared; a setting
    the tap doesn't take as text must be `kind: string` (or `options`), for Meltano 4.4's own
    kinds crash on "0.1" (integer), can't write a Decimal (decimal) or drop a typo (boolean)."""
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-marketo-bulk")
    kinds = {s["name"]: s.get("kind", "string") for s in tap["settings"]}
    schema = full_schema()["properties"]
    # batch_config stays out: the tap writes RECORD messages (meltano.yml lists no `batch`).
    assert set(schema) - {"batch_config"} <= set(kinds)
    wrong = {
        name: kind
        for name, kind in kinds.items()
        if "string" not in schema_types(schema[name]) and kind != "string"
    }
    assert wrong == {}, f"declare these `kind: string` in meltano.yml: {wrong}"


def test_published_plugin_definition_matches_the_project_one() -> None:
    """meltano-plugin/tap-marketo-bulk.yml (what users add) declares what meltano.yml declares,
    and installs the package this repository builds."""
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    ours = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-marketo-bulk")
    published = yaml.safe_load((REPO_ROOT / "meltano-plugin" / "tap-marketo-bulk.yml").read_text())
    # tomllib is 3.11+; the project's name is the first `name =` line of pyproject.toml.
    package = re.search(r'(?m)^name = "([^"]+)"', (REPO_ROOT / "pyproject.toml").read_text())
    assert package is not None
    assert published["pip_url"] == package.group(1)
    for key in ("name", "namespace", "executable", "capabilities"):
        assert published[key] == ours[key], key

    def declared(plugin: dict) -> list[tuple]:
        return [(s["name"], s.get("kind"), bool(s.get("sensitive"))) for s in plugin["settings"]]

    assert declared(published) == declared(ours)


def test_readme_paste_definition_agrees_with_the_published_one() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## Add to your Meltano project") :]
    start = section.index("```yaml\n") + len("```yaml\n")
    block = section[start : section.index("```\n", start)]
    pasted = yaml.safe_load(block)["plugins"]["extractors"][0]
    published = yaml.safe_load((REPO_ROOT / "meltano-plugin" / "tap-marketo-bulk.yml").read_text())
    for key in ("name", "namespace", "pip_url", "executable", "capabilities"):
        assert pasted[key] == published[key], key
    kinds = {s["name"]: (s.get("kind"), bool(s.get("sensitive"))) for s in published["settings"]}
    for setting in pasted["settings"]:
        assert (setting.get("kind"), bool(setting.get("sensitive"))) == kinds[setting["name"]]
    # The required settings, and munchkin_id standing in for base_url.
    assert {*CONFIG_SCHEMA["required"], "munchkin_id"} <= {s["name"] for s in pasted["settings"]}
