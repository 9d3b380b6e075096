from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tap_marketo_bulk.sandbox import Sandbox, SandboxConfig

from .client import MarketoHttp

SMALL = {"seed": 7, "leads": 600, "activities": 3000, "programs": 6, "members_per_program": 20,
         "status_refresh_seconds": 0.02}


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start a small sandbox with config overrides; stopped after the test."""
    started: list[Sandbox] = []

    def make(**overrides: Any) -> Sandbox:
        sandbox = Sandbox(SandboxConfig(**{**SMALL, **overrides})).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sb(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def api(sb: Sandbox) -> MarketoHttp:
    return MarketoHttp(sb)
