"""The Celery application, its settings, and the shard task.

Each setting below is one that the delivery guarantees depend on; parcelflow
sets them so a deployment cannot forget one:

* ``task_acks_late``: a shard message is acknowledged after the shard ran, so a
  worker that dies mid-shard does not lose it.
* ``task_reject_on_worker_lost``: a child process killed mid-shard (OOM, a
  crashing extractor) gets its message requeued at once, not acknowledged.
* ``worker_prefetch_multiplier = 1``: a worker reserves one shard per child at
  a time; shards wait in the broker where any free worker can take them.
* ``broker_transport_options.visibility_timeout`` (Redis): how long an
  unacknowledged shard stays invisible before redelivery; it must exceed the
  longest shard, or a slow shard would run twice (harmless to the ledger, but
  wasted). RabbitMQ's equivalent is the server's ``consumer_timeout`` (30 min by
  default), which a shard must also stay under.
* ``worker_max_tasks_per_child`` / ``worker_max_memory_per_child``: OCR and PDF
  libraries leak; children are recycled before they grow without bound.
* ``worker_cancel_long_running_tasks_on_connection_loss``: when the broker
  connection drops, the unacknowledged shards will be redelivered, so the
  running copies are cancelled instead of racing the redelivered ones.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject
from celery.signals import worker_process_init
from sqlalchemy.exc import DBAPIError

from parcelflow.core.engine import Engine
from parcelflow.core.ledger import Ledger
from parcelflow.core.pipeline import get_pipeline, pipeline_names
from parcelflow.core.policies.retry import RetryPolicy
from parcelflow.errors import ConfigError, first_line
from parcelflow.interfaces import metrics
from parcelflow.settings import EngineSettings
from parcelflow.stores import Store, open_store

__all__ = ["QUEUE", "SHARD_TASK", "create_app", "prepare_worker", "shard_settings"]

log = logging.getLogger(__name__)

QUEUE = "parcelflow"
SHARD_TASK = "parcelflow.shard"
# Redis redelivers an unacknowledged shard after this long; keep it above the
# longest shard (PARCELFLOW_SHARD_TIMEOUT_S).
DEFAULT_SHARD_TIMEOUT_S = 3600.0
_MAX_TASKS_PER_CHILD = 200
_SHARD_COMMIT_LINGER_S = 0.05
_MAX_MEMORY_PER_CHILD_KIB = 2_000_000

_stores: dict[str, Store] = {}


def shard_settings() -> EngineSettings:
    """Engine settings inside a worker child.

    Celery's prefork children are the CPU parallelism here (one per core), and
    they are daemon processes, which may not start a process pool of their own:
    stages run on one thread of the child, jobs of a shard still overlap their
    I/O. A shard claims up to ``PARCELFLOW_CONCURRENCY`` (128) of its jobs at
    once, so a shard of the default 100 is claimed in one transaction and its
    stage thread never waits for a refill: claiming 32 ahead instead cost ~10%
    of the throughput on light documents. If the child dies, every job it had
    claimed is charged the crash and then runs alone, so only the culprit is
    charged again. Since the stages take turns, jobs end a few at a time; a
    commit waits up to 50 ms (unless ``PARCELFLOW_COMMIT_LINGER_S`` says
    otherwise) so that several share it.
    """
    base = EngineSettings()
    update: dict[str, float | int] = {"processes": 0}
    if "commit_linger_s" not in base.model_fields_set:
        update["commit_linger_s"] = _SHARD_COMMIT_LINGER_S
    return base.model_copy(update=update)


def _store(db: str) -> Store:
    url = os.environ.get("PARCELFLOW_WORKER_DB") or db
    if url not in _stores:
        _stores[url] = open_store(url)  # one per child process, opened after the fork
    return _stores[url]


def prepare_worker() -> None:
    """Ready a worker before it starts its children, so no shard pays for start-up.

    Every pipeline's stage modules (and the libraries they import lazily: PDFium,
    the lease rules' compiled patterns) and prometheus-client are imported here,
    once, and the children inherit them when they fork; each child opens its
    ledger connection as it starts. Without this the first shard in every child
    spent ~0.3 s importing and connecting while its jobs waited.
    """
    for name in pipeline_names():
        for module in get_pipeline(name).stage_modules():
            importlib.import_module(module)
    metrics.preload()
    worker_process_init.connect(_open_ledger, weak=False)


def _open_ledger(**_: Any) -> None:
    url = os.environ.get("PARCELFLOW_WORKER_DB")
    if not url:
        return  # the ledger's URL arrives with the first shard
    try:
        _store(url)
    except Exception as exc:  # the first shard tries again, and requeues if it must
        log.warning("could not open the ledger at start-up: %s", first_line(exc))


def run_shard(
    task: Task[Any, Any],
    pipeline: str,
    batch: str,
    ids: list[int],
    options: dict[str, Any],
    db: str,
) -> dict[str, Any]:
    """Run the jobs ``ids`` of ``pipeline`` to their end, claiming each through the ledger."""
    settings = shard_settings()
    flow = get_pipeline(pipeline)
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        base=settings.retry_base_s,
        cap=settings.retry_cap_s,
        max_crashes=settings.max_crashes,
    )
    try:
        ledger = Ledger(_store(db), lease_s=settings.lease_s, policy=policy)
        engine = Engine(ledger, flow, flow.options(**options), settings)
        engine.observer = metrics.JobObserver()
        summary = asyncio.run(engine.drain(ids=ids, batch=batch))
    except (DBAPIError, ConfigError) as exc:
        # The ledger is unreachable: put the shard back rather than lose it.
        log.warning(
            "shard of %d %s jobs: ledger unavailable (%s); requeued",
            len(ids),
            pipeline,
            first_line(exc),
        )
        raise Reject(str(exc), requeue=True) from exc
    metrics.observe_shard(pipeline, summary)
    return summary.as_json()


def create_app(broker_url: str, *, shard_timeout_s: float | None = None) -> Celery:
    """A Celery app on ``broker_url`` (``redis://`` or ``amqp://``) with parcelflow's settings."""
    timeout = shard_timeout_s or float(
        os.environ.get("PARCELFLOW_SHARD_TIMEOUT_S", DEFAULT_SHARD_TIMEOUT_S)
    )
    app = Celery("parcelflow", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": int(timeout * 2)},
        worker_max_tasks_per_child=_MAX_TASKS_PER_CHILD,
        worker_max_memory_per_child=_MAX_MEMORY_PER_CHILD_KIB,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    app.task(name=SHARD_TASK, bind=True)(run_shard)
    return app
