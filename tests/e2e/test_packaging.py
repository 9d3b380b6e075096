"""The distribution: `python -m build` makes an sdist and, from it, a wheel holding the whole
package (sandbox included), the version written in tap_marketo_bulk/__init__.py, both console
scripts, and only runtime dependencies outside the `test` extra.

Built offline (`--no-isolation`, with the setuptools and build the test extras bring).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_ONLY = {"pytest", "requests-mock", "psycopg", "ruff", "build", "setuptools"}


@dataclass
class Dist:
    wheel: Path
    sdist: Path


def build_dist(out: Path) -> Dist:
    """`python -m build` of this checkout into `out` (the sdist, then the wheel from the sdist)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    print(f"python -m build: {time.monotonic() - started:.1f} s")
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return Dist(wheel=wheels[0], sdist=sdists[0])


def package_files() -> set[str]:
    """Files of the package as the checkout has them (what the wheel must hold)."""
    return {
        p.relative_to(REPO_ROOT).as_posix()
        for p in (REPO_ROOT / "tap_marketo_bulk").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def test_sdist_and_wheel_hold_the_package_and_only_runtime_dependencies(tmp_path: Path) -> None:
    from tap_marketo_bulk import __version__

    dist = build_dist(tmp_path)
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = wheel.read(metadata_name).decode()
        entry_points = wheel.read(metadata_name.replace("METADATA", "entry_points.txt")).decode()
    missing = package_files() - names
    assert not missing, f"not in the wheel: {sorted(missing)}"
    assert "tap_marketo_bulk/sandbox/README.md" in names
    assert f"\nVersion: {__version__}\n" in metadata
    assert dist.wheel.name.startswith(f"tap_marketo_bulk-{__version__}-")
    # Requirement names of the runtime dependencies (those without an `extra ==` marker).
    requirement = re.compile(r"^Requires-Dist: ([A-Za-z0-9_.-]+)(?!.*extra ==)", re.MULTILINE)
    runtime = {name.lower().replace("_", "-") for name in requirement.findall(metadata)}
    assert "singer-sdk" in runtime
    assert not runtime & TEST_ONLY
    test_extra = re.findall(r"^Requires-Dist: ([A-Za-z0-9_.-]+).*extra == .test.", metadata, re.M)
    assert "pytest" in test_extra and "build" in test_extra
    assert "tap-marketo-bulk = tap_marketo_bulk.tap:TapMarketoBulk.cli" in entry_points
    assert "tap-marketo-bulk-sandbox = tap_marketo_bulk.sandbox.cli:main" in entry_points

    with tarfile.open(dist.sdist) as sdist:
        root = f"tap_marketo_bulk-{__version__}/"
        in_sdist = {n.removeprefix(root) for n in sdist.getnames()}
    assert {"pyproject.toml", "README.md", "PKG-INFO"} <= in_sdist
    assert not package_files() - in_sdist
