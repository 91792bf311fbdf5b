"""Typed settings, read from the environment in one place (prefix ``PARCELFLOW_``).

Precedence: a command-line option beats the environment, which beats the
defaults named here.
"""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_BROKER", "DEFAULT_DB", "EngineSettings", "Settings"]

DEFAULT_DB = "sqlite:///parcelflow.db"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


class EngineSettings(BaseSettings):
    """How the local engine runs: concurrency, pool, leases, retries.

    Every field can be set as ``PARCELFLOW_<NAME>`` (e.g. ``PARCELFLOW_LEASE_S=60``).
    """

    model_config = SettingsConfigDict(env_prefix="PARCELFLOW_", frozen=True, extra="ignore")

    # Enough jobs in flight that group commits are large (each commit has a fixed
    # cost); CPU-bound work is still bounded separately by ``processes``.
    concurrency: int = Field(128, ge=1, description="jobs in flight at once")
    processes: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=0,
        description="process-pool size for CPU-bound stages (0: run them in-line)",
    )
    lease_s: float = Field(30.0, gt=0, description="seconds a claim holds without a heartbeat")
    heartbeat_s: float = Field(10.0, gt=0, description="seconds between lease extensions")
    grace_s: float = Field(10.0, ge=0, description="seconds in-flight jobs get after a stop")
    admit_batch: int = Field(256, ge=1, description="submissions admitted per transaction")
    commit_batch: int = Field(512, ge=1, description="most job outcomes per commit")
    commit_linger_s: float = Field(
        0.02, ge=0, description="seconds a commit waits for the outcomes of running jobs"
    )
    max_attempts: int = Field(5, ge=1, description="attempts before a transient failure is dead")
    retry_base_s: float = Field(0.5, ge=0, description="ceiling of the first retry delay")
    retry_cap_s: float = Field(60.0, ge=0, description="largest retry delay ceiling")
    max_crashes: int = Field(3, ge=1, description="worker crashes before a job is poison")
    stall_s: float = Field(
        15.0, gt=0, description="Celery: seconds with no job ending before ready jobs are re-sent"
    )


class Settings(BaseSettings):
    """Where things are: the database."""

    model_config = SettingsConfigDict(env_prefix="PARCELFLOW_", frozen=True, extra="ignore")

    db: str = Field(DEFAULT_DB, description="database URL (sqlite:///FILE or postgresql://...)")
    broker: str = Field(DEFAULT_BROKER, description="Celery broker URL (redis:// or amqp://)")
