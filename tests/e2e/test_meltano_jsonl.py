"""End to end: `meltano --environment=dev run tap-marketo-bulk target-jsonl` with loopback only.

The sandbox and the Meltano run share a fresh network namespace whose only interface is `lo`
(`unshare --net`), so the run proves that nothing but 127.0.0.1 is needed once the plugins are
installed: no Meltano Hub, no PyPI, no telemetry. Where namespaces can't be made (not root and no
unprivileged user namespaces), the run happens in the test's own network with every HTTP(S) proxy
pointed at a closed port, which still makes any non-loopback request fail.

This file is also the program that runs inside the namespace: `python test_meltano_jsonl.py
--inside SPEC.json` (see `inside_namespace`).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.conftest import MeltanoProject

pytestmark = [pytest.mark.e2e, pytest.mark.meltano]

SANDBOX = {
    "seed": 5,
    "leads": 400,
    "activities": 1500,
    "programs": 5,
    "data_start": "2024-01-01T00:00:00Z",
    "data_end": "2024-03-31T23:59:59Z",
    "status_refresh_seconds": 0.02,
    "max_calls_per_20s": 100_000,
}
KEYS = {
    "leads": ("id",),
    "activities": ("marketoGUID",),
    "program_members": ("leadId", "programId"),
    "programs": ("id",),
    "activity_types": ("id",),
    "deleted_leads": ("id",),
}
RUN_TIMEOUT = 600


# ----- inside the namespace ----------------------------------------------------------------------

SIOCSIFFLAGS = 0x8914
IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x1, 0x8, 0x40


def loopback_up() -> None:
    """A new network namespace starts with `lo` down; raise it without needing iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING)
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, request)


def run_with_sandbox(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Start a sandbox, run Meltano against it, and report the truth next to the exit code."""
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(**spec["sandbox"]))
    sb.start()
    try:
        env = dict(spec["env"])
        env.update(
            TAP_MARKETO_BULK_BASE_URL=sb.base_url,
            TAP_MARKETO_BULK_CLIENT_ID=sb.client_id,
            TAP_MARKETO_BULK_CLIENT_SECRET=sb.client_secret,
        )
        started = time.monotonic()
        with open(spec["log"], "w") as log:
            try:
                returncode = subprocess.run(
                    spec["argv"], cwd=spec["cwd"], env=env, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT, check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                returncode = -1
        truth = {
            stream: [[str(r[c]) for c in columns] for r in getattr(sb.truth, stream)]
            for stream, columns in KEYS.items()
        }
        return {
            "returncode": returncode,
            "seconds": time.monotonic() - started,
            "truth_keys": truth,
        }
    finally:
        sb.stop()


def inside_namespace(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    if spec.get("netns"):
        loopback_up()
    result = run_with_sandbox(spec)
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# ----- the test ----------------------------------------------------------------------------------


def namespace_prefix() -> list[str] | None:
    """`unshare` arguments that give a child its own network namespace, or None if we can't."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    options = [["--net"]] if os.geteuid() == 0 else [["--map-root-user", "--net"]]
    for option in options:
        # The probe also raises `lo` inside: a namespace we can't bring loopback up in is useless.
        probe = subprocess.run(
            [unshare, *option, "--", sys.executable, str(Path(__file__).resolve()), "--probe"],
            capture_output=True, check=False, timeout=60,
        )
        if probe.returncode == 0:
            return [unshare, *option, "--"]
    return None


def test_meltano_dev_run_to_jsonl_loopback_only(
    meltano_project: MeltanoProject,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    meltano_project.install("target-jsonl")
    out_dir = tmp_path / "jsonl"
    prefix = namespace_prefix()
    env = meltano_project.env(
        {
            "TAP_MARKETO_BULK_START_DATE": str(SANDBOX["data_start"]),
            "TAP_MARKETO_BULK_END_DATE": str(SANDBOX["data_end"]),
            "TAP_MARKETO_BULK_MAX_CALLS_PER_20S": "100",
            "TARGET_JSONL_DESTINATION_PATH": str(out_dir),
            "TARGET_JSONL_DO_TIMESTAMP_FILE": "false",
        }
    )
    if prefix is None:
        # No namespace: make any non-loopback HTTP(S) request fail fast instead.
        dead = "http://127.0.0.1:9"
        env.update(HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead, https_proxy=dead,
                   NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    spec = {
        "sandbox": SANDBOX,
        "env": env,
        "argv": [meltano_project.meltano, "--environment=dev", "run", "tap-marketo-bulk",
                 "target-jsonl"],
        "cwd": str(meltano_project.root),
        "log": str(tmp_path / "meltano.log"),
        "result": str(tmp_path / "result.json"),
        "netns": prefix is not None,
    }
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    # Run this file as a program (under unshare when possible), with the test's own interpreter,
    # which has the tap and its sandbox installed.
    repo_root = Path(__file__).resolve().parents[2]
    child_env = {**os.environ, "PYTHONPATH": str(repo_root)}
    subprocess.run(
        [*(prefix or []), sys.executable, str(Path(__file__).resolve()), "--inside",
         str(spec_path)],
        env=child_env, check=True, timeout=RUN_TIMEOUT + 60, stdin=subprocess.DEVNULL,
    )
    result = json.loads((tmp_path / "result.json").read_text())
    log = (tmp_path / "meltano.log").read_text(errors="replace")
    record_property("network", "netns (lo only)" if prefix else "dead proxy")
    record_property("run_seconds", round(result["seconds"], 2))
    assert result["returncode"] == 0, "\n".join(log.splitlines()[-80:])

    problems = []
    for stream, columns in KEYS.items():
        expected = {tuple(k) for k in result["truth_keys"][stream]}
        path = out_dir / f"{stream}.jsonl"
        if not path.exists():
            problems.append(f"{stream}: no {path.name}")
            continue
        # Split on "\n" only: str.splitlines() would also split inside values on U+2028 and
        # friends, should a writer leave them unescaped.
        lines = path.read_text(encoding="utf-8").split("\n")
        records = [json.loads(line) for line in lines if line.strip()]
        keys = [tuple(str(r[c]) for c in columns) for r in records]
        if len(records) != len(expected) or set(keys) != expected or len(set(keys)) != len(keys):
            problems.append(
                f"{stream}: {len(records)} records ({len(set(keys))} keys) for {len(expected)}"
                f" in the sandbox; missing {sorted(expected - set(keys))[:5]}"
            )
    assert not problems, "\n".join(problems)
    print(f"meltano run to target-jsonl: {result['seconds']:.1f} s"
          f" ({'network namespace' if prefix else 'dead proxy'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--inside", help="spec JSON written by the test")
    mode.add_argument("--probe", action="store_true", help="only raise lo (namespace check)")
    options = parser.parse_args()
    if options.probe:
        loopback_up()
        sys.exit(0)
    sys.exit(inside_namespace(options.inside))
