"""target-snowflake as Meltano reads meltano.yml (no Snowflake account is reachable here, so nothing
is loaded): the prod environment's settings, credentials from environment variables, the password
redacted, the deletion contract's settings at their values."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_project_file

pytestmark = [pytest.mark.e2e, pytest.mark.meltano]


def test_meltano_reads_the_target_snowflake_definition(meltano_bin: str, tmp_path: Path) -> None:
    make_project_file(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TARGET_", "MELTANO_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        NO_COLOR="1",
        TARGET_SNOWFLAKE_ACCOUNT="myorg-account1",
        TARGET_SNOWFLAKE_USER="LOADER",
        TARGET_SNOWFLAKE_PASSWORD="never-shown-password",
    )
    done = subprocess.run(
        [meltano_bin, "--environment=prod", "config", "list", "target-snowflake", "--all"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout + done.stderr
    lines = {line.split(" ", 1)[0]: line for line in out.splitlines() if " [env: " in line}
    assert "'myorg-account1'" in lines["account"] and "environment" in lines["account"]
    assert "(redacted)" in lines["password"] and "never-shown-password" not in out
    assert "current value: 'MARKETO'" in lines["default_target_schema"]
    assert "current value: True" in lines["process_activate_version_messages"]
    assert "current value: False" in lines["hard_delete"]
    assert "current value: True" in lines["add_record_metadata"]
    assert "current value: 'upsert'" in lines["load_method"]
