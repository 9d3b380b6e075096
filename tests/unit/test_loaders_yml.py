"""meltano.yml's loaders carry the deletion contract: upsert on the keys, ACTIVATE_VERSION
processed, old table versions soft-deleted (`_sdc_deleted_at`), record metadata columns.
target-snowflake has no reachable account here, so its definition is what is checked."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REPO_ROOT


def loader(name: str) -> dict:
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    return next(p for p in project["plugins"]["loaders"] if p["name"] == name)


def values(plugin: dict) -> dict:
    return {s["name"]: s.get("value") for s in plugin["settings"]}


def test_target_postgres_soft_deletes_older_table_versions() -> None:
    postgres = values(loader("target-postgres"))
    assert postgres["activate_version"] is True
    assert postgres["hard_delete"] is False
    assert postgres["add_record_metadata"] is True
    assert postgres["load_method"] == "upsert"
    assert postgres["sanitize_null_text_characters"] is True
    assert postgres["use_copy"] is True


def test_target_snowflake_is_pinned_and_gives_the_same_contract() -> None:
    plugin = loader("target-snowflake")
    assert re.fullmatch(r"meltanolabs-target-snowflake==\d+\.\d+\.\d+", plugin["pip_url"])
    assert {"activate-version", "hard-delete"} <= set(plugin["capabilities"])
    snowflake = values(plugin)
    # singer-sdk's SQL targets call target-postgres' activate_version this.
    assert snowflake["process_activate_version_messages"] is True
    assert snowflake["hard_delete"] is False
    assert snowflake["add_record_metadata"] is True
    assert snowflake["load_method"] == "upsert"
    # Credentials come from the environment only: declared, never given a value here.
    settings = {s["name"]: s for s in plugin["settings"]}
    for name in ("account", "user", "password", "private_key_path", "role", "warehouse",
                 "database"):
        assert name in settings and "value" not in settings[name], name
    assert settings["password"].get("sensitive") is True
    assert settings["private_key_passphrase"].get("sensitive") is True


def test_prod_environment_names_a_schema_for_both_warehouses() -> None:
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    prod = next(e for e in project["environments"] if e["name"] == "prod")
    loaders = {p["name"]: p.get("config", {}) for p in prod["config"]["plugins"]["loaders"]}
    assert loaders["target-postgres"]["default_target_schema"] == "marketo"
    assert loaders["target-snowflake"]["default_target_schema"] == "MARKETO"
