"""Fixtures of the acceptance tests: the CLI against a fresh database per test."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import FAULTS, Cli, base_env, kill_group


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI with a fresh database in this test's folder."""
    return Cli(tmp_path)


@pytest.fixture
def fault_cli(tmp_path: Path) -> Cli:
    """The CLI with the ``fault`` pipeline loaded and quick retries."""
    env = base_env(PARCELFLOW_PLUGINS=FAULTS, PARCELFLOW_RETRY_BASE_S="0.05")
    return Cli(tmp_path, env)


@pytest.fixture
def reaper() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test started; any still alive at the end are killed with their group."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            kill_group(proc)
