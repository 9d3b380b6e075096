"""The console script prints its connection details and serves until SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import requests


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tap_marketo_bulk.sandbox.cli", "--port", "0", "--leads", "50",
         "--activities", "100", "--programs", "2", *args],
        stdout=subprocess.PIPE, text=True,
    )


def test_json_line_then_serves_until_sigterm() -> None:
    process = _start("--json", "--status-refresh-seconds", "0.02")
    try:
        details = json.loads(process.stdout.readline())
        assert set(details) >= {"base_url", "client_id", "client_secret"}
        assert details["base_url"].startswith("http://127.0.0.1:")
        token = requests.post(details["base_url"] + "/identity/oauth/token", timeout=5, params={
            "grant_type": "client_credentials", "client_id": details["client_id"],
            "client_secret": details["client_secret"]}).json()["access_token"]
        answer = requests.get(details["base_url"] + "/rest/v1/activities/types.json", timeout=5,
                              headers={"Authorization": f"Bearer {token}"}).json()
        assert answer["success"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_plain_lines() -> None:
    process = _start()
    try:
        lines = [process.stdout.readline().strip() for _ in range(3)]
        assert [line.split("=", 1)[0] for line in lines] == ["base_url", "client_id",
                                                             "client_secret"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
