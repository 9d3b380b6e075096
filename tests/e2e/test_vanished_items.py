"""Mid-run disappearance against the sandbox, through the tap's CLI: a program deleted between
`programs` and `program_tokens`, a static list deleted between `lists.json` and its members call.
Each gives one WARNING naming it and a green run (exit 0); every other row equals the truth."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests.conftest import FAST_SANDBOX, REPO_ROOT
from tests.e2e.harness import by_key, catalog_with, tap_config

if t.TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

pytestmark = pytest.mark.e2e

SANDBOX = {
    **FAST_SANDBOX,
    "seed": 5,
    "leads": 300,
    "activities": 100,
    "programs": 6,
    "members_per_program": 5,
    "static_lists": 3,
    "large_static_list": 40,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-02-29T23:59:59Z",
}


def tap_cli(sb: Sandbox, streams: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The tap's CLI (call window compressed, tests/e2e/compressed_cli.py) on these streams."""
    config = tap_config(sb)
    config_path, catalog_path = tmp_path / "config.json", tmp_path / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(catalog_with(config, only=streams)))
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.compressed_cli", "--config", str(config_path),
         "--catalog", str(catalog_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )


def records(done: subprocess.CompletedProcess[str], stream: str) -> list[dict]:
    messages = [json.loads(line) for line in done.stdout.split("\n") if line.startswith("{")]
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def warnings_naming(done: subprocess.CompletedProcess[str], *parts: str) -> list[str]:
    return [
        line for line in done.stderr.splitlines()
        if "WARNING" in line and all(part in line for part in parts)
    ]


def test_a_program_deleted_between_programs_and_program_tokens_is_skipped(
    sandbox_factory: t.Callable[..., Sandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(**SANDBOX)
    tokens_before = sb.truth.program_tokens
    with_tokens = sorted({t["programId"] for t in tokens_before})
    assert len(with_tokens) >= 3, "the sandbox must give several programs tokens"
    victim = next(p for p in sb.truth.programs if p["id"] == with_tokens[1])
    sb.faults.delete_program_after_listing = victim["id"]

    done = tap_cli(sb, ["programs", "program_tokens"], tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    assert sb.faults.delete_program_after_listing is None, "the deletion never fired"
    # programs.json listed it (it was deleted right after); its tokens call found it gone.
    assert victim["id"] in {p["id"] for p in records(done, "programs")}
    assert len(warnings_naming(done, "program_tokens", f"program {victim['id']}",
                               repr(victim["name"]))) == 1, done.stderr[-3000:]
    got = records(done, "program_tokens")
    expected = sb.truth.program_tokens  # Marketo's now: the victim's tokens are gone
    assert {t["programId"] for t in expected} == set(with_tokens) - {victim["id"]}

    def key(r: dict) -> tuple:
        return (r["programId"], r["name"])

    assert len(got) == len(expected)
    assert by_key(got, key) == by_key(expected, key)


def test_a_list_deleted_between_lists_and_its_members_call_is_skipped(
    sandbox_factory: t.Callable[..., Sandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(**SANDBOX)
    victim = next(s for s in sb.truth.static_lists if s["leadIds"])
    sb.faults.delete_list_after_listing = victim["id"]

    done = tap_cli(sb, ["list_members"], tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    assert len(warnings_naming(done, "list_members", f"list {victim['id']}",
                               repr(victim["name"]))) == 1, done.stderr[-3000:]
    got = records(done, "list_members")
    expected = sb.truth.list_members
    assert victim["id"] not in {r["listId"] for r in expected}
    assert expected, "other lists keep their members"

    def key(r: dict) -> tuple:
        return (r["listId"], r["leadId"])

    assert len(got) == len(expected)
    assert by_key(got, key) == by_key(expected, key)
