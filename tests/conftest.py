"""Fixtures shared by every test directory.

- `sandbox_factory` / `sandbox`: local Marketo stand-ins on 127.0.0.1, any free port, stopped after
  the test.
- `postgres`: one throwaway PostgreSQL server for the session (tests/e2e/postgres_server.py).
- `meltano_bin` / `meltano_project`: the Meltano CLI and a temporary Meltano project made from the
  repository's meltano.yml, so end-to-end runs never write into the checkout.

Whether a missing tool skips or fails depends on CI: on a developer machine a test needing
PostgreSQL or Meltano is skipped with the reason; under CI=true (where .ci/run installs both) the
same absence is a failure, so CI can never go green by skipping its end-to-end tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.postgres_server import PostgresServer, find_bin_dir

if TYPE_CHECKING:
    from tap_marketo_bulk.sandbox import Sandbox

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}

# Sandbox timing for tests: Marketo refreshes job status once a minute, the tests can't wait that.
FAST_SANDBOX: dict[str, Any] = {
    "status_refresh_seconds": 0.02,
    "latency_seconds": 0.0,
    "max_calls_per_20s": 100_000,
}


def missing(reason: str) -> None:
    """Skip on a developer machine, fail under CI (where .ci/run must have installed it)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)", pytrace=False)
    pytest.skip(reason)


# ----- sandbox -----------------------------------------------------------------------------------


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """`sandbox_factory(leads=300, ...)` -> a started Sandbox; every one is stopped after the test.

    Keyword arguments are SandboxConfig fields; the port defaults to 0 (any free port) so tests
    can run side by side.
    """
    from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

    started: list[Sandbox] = []

    def make(**overrides: Any) -> Sandbox:
        overrides.setdefault("port", 0)
        overrides.setdefault("host", "127.0.0.1")
        instance = Sandbox(SandboxConfig(**overrides))
        instance.start()
        started.append(instance)
        return instance

    yield make
    for instance in reversed(started):
        instance.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A small, fast sandbox (seed 1) for tests that don't care about its shape."""
    return sandbox_factory(seed=1, leads=300, activities=1000, programs=4, **FAST_SANDBOX)


# ----- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for the whole session (database `marketo`, trust auth)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        missing(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin, $PG_BIN_DIR, PATH);"
            " `apt-get install postgresql` or run .ci/run"
        )
    server = PostgresServer(bin_dir=bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ----- Meltano -----------------------------------------------------------------------------------


def find_meltano() -> str | None:
    """$MELTANO_BIN (set by .ci/run), the repo's .venv-meltano, then PATH."""
    candidates = [
        os.environ.get("MELTANO_BIN", ""),
        str(REPO_ROOT / ".venv-meltano" / "bin" / "meltano"),
        shutil.which("meltano") or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def meltano_bin() -> str:
    found = find_meltano()
    if found is None:
        missing(
            "meltano CLI not found ($MELTANO_BIN, .venv-meltano/bin/meltano, PATH);"
            " `python3 -m venv .venv-meltano && .venv-meltano/bin/pip install meltano`"
        )
    assert found is not None
    return found


# Settings that must come from the test, never from the developer's shell.
_ISOLATED_PREFIXES = ("TAP_MARKETO_BULK_", "TARGET_POSTGRES_", "TARGET_JSONL_", "MELTANO_")


@dataclass
class MeltanoProject:
    """A Meltano project in a temporary directory, made from the repository's meltano.yml."""

    root: Path
    meltano: str

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_ISOLATED_PREFIXES)}
        # A virtualenv activated around pytest must not leak into the plugins' own venvs.
        env.pop("VIRTUAL_ENV", None)
        env.update(
            MELTANO_PROJECT_ROOT=str(self.root),
            MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
            # Plain, uncoloured logs: they end up in assertion messages.
            MELTANO_CLI_LOG_LEVEL="info",
            NO_COLOR="1",
        )
        env.update(extra or {})
        return env

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """`meltano ARGS` in the project; output captured (returned, not raised on failure)."""
        return subprocess.run(
            [self.meltano, *args],
            cwd=self.root,
            env=self.env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def check(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600) -> str:
        """`meltano ARGS`; fails the test with the tail of the log when it exits non-zero."""
        result = self.run(*args, env=env, timeout=timeout)
        if result.returncode != 0:
            lines = (result.stdout + result.stderr).splitlines()
            # A plugin's own error (e.g. the target's exception) comes long before meltano's
            # closing traceback: show the first error lines, then the tail.
            errors = [line for line in lines if re.search(r"(?i)\berror\b|exception", line)][:40]
            tail = "\n".join(lines[-80:])
            pytest.fail(
                f"meltano {' '.join(args)} exited {result.returncode}:\n"
                + "\n".join(errors) + "\n...\n" + tail,
                pytrace=False,
            )
        return result.stdout + result.stderr

    def install(self, *plugins: str) -> None:
        """Install named plugins (each once per session; a repeat is a no-op)."""
        todo = [p for p in plugins if p not in self._installed]
        if todo:
            self.check("install", *todo, timeout=1200)
            self._installed.update(todo)

    def __post_init__(self) -> None:
        self._installed: set[str] = set()


def make_project_file(target: Path) -> Path:
    """Copy meltano.yml to `target`, installing the tap from this checkout by absolute path."""
    text = (REPO_ROOT / "meltano.yml").read_text()
    # `-e .` is relative to the project root; the temporary project lives elsewhere.
    text, count = re.subn(r"(?m)^(\s*pip_url:\s*)-e\s+\.\s*$", rf"\g<1>-e {REPO_ROOT}", text)
    assert count == 1, "meltano.yml: expected exactly one `pip_url: -e .` (the tap)"
    target.mkdir(parents=True, exist_ok=True)
    path = target / "meltano.yml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def meltano_project(meltano_bin: str, tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """One temporary project for the session; tests call `.install(...)` for the plugins they use.

    The tap's editable install points at this checkout, so its code is always the code under test.
    """
    root = tmp_path_factory.mktemp("meltano-project")
    make_project_file(root)
    project = MeltanoProject(root=root, meltano=meltano_bin)
    project.install("tap-marketo-bulk")
    return project


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"python: {sys.executable}",
        f"meltano: {find_meltano() or 'not found'}; postgres bin: {find_bin_dir() or 'not found'};"
        f" CI={'true' if IN_CI else 'false'}",
    ]
