"""The distributed task queue (team mode): Dramatiq on Redis delivers background jobs to `wb worker`s.

With ``WB_QUEUE_URL=redis://HOST:PORT/N`` a queued job (a row in the ``jobs`` table, see
``workbench.services.jobs``) is also sent as a message naming its id; any number of `wb worker` processes, on
any machine that reaches the same database, blob store and Redis, take messages one at a time.

- **Acknowledged after completion.** Dramatiq's Redis broker keeps a taken message in the worker's
  own list until the actor returns; a worker that dies (``kill -9``, a lost machine) stops sending
  heartbeats, and after ``WB_QUEUE_HEARTBEAT_S`` seconds another worker puts its messages back on the
  queue. The job then runs again: ``workbench.services.jobs`` makes every step idempotent (a capture skips
  URLs the case already holds, an analysis records each item once), so nothing is lost or doubled.
- **Retries with back-off** for passing trouble (the database or Redis unreachable): up to
  ``MAX_RETRIES`` deliveries, waiting ``MIN_BACKOFF_MS`` doubling to ``MAX_BACKOFF_MS``. A job that
  fails for a lasting reason (refused, bad input) is recorded as failed at once and not retried.
- **A time limit per job** (``jobs.JOB_TIMEOUT_S``): Dramatiq interrupts the job's thread; the job is
  recorded as failed ("time limit reached").
- **Progress** stays in the ``jobs`` table, so the app shows it as with the embedded runner.

Without ``WB_QUEUE_URL`` nothing here is imported: the app's own thread runs jobs (``jobs.Worker``).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, Retries, TimeLimit
from dramatiq.middleware.time_limit import TimeLimitExceeded

from archive.errors import ConfigError

__all__ = [
    "ACTOR",
    "QueueError",
    "MAX_RETRIES",
    "QUEUE",
    "broker",
    "run_worker",
    "send",
]

QUEUE = "wb-jobs"
ACTOR = "wb_job"
MAX_RETRIES = 5
MIN_BACKOFF_MS = 2_000
MAX_BACKOFF_MS = 300_000
# Dramatiq checks for dead workers on a random share of its Redis calls (out of a million); its default
# (0.1 %) can leave a dead worker's job waiting for many minutes on a quiet queue.
MAINTENANCE_CHANCE = 100_000


def heartbeat_timeout_ms() -> int:
    """How long a silent worker counts as alive (WB_QUEUE_HEARTBEAT_S, default 60 s)."""
    return int(float(os.environ.get("WB_QUEUE_HEARTBEAT_S", "60")) * 1000)


class QueueError(ConfigError):
    """The queue cannot be reached or used (a configuration or network problem)."""


@cache
def broker(url: str) -> RedisBroker:
    """The broker for ``url`` with the one actor, ``wb_job(job_id)``, declared on it (once per process)."""
    from workbench.services.jobs import JOB_TIMEOUT_S

    redis_broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=url,
        namespace="wb",
        heartbeat_timeout=heartbeat_timeout_ms(),
        maintenance_chance=MAINTENANCE_CHANCE,
        middleware=[
            TimeLimit(time_limit=JOB_TIMEOUT_S * 1000),
            Retries(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS),
            CurrentMessage(),
        ],
    )
    declare = dramatiq.actor(
        broker=redis_broker,
        actor_name=ACTOR,
        queue_name=QUEUE,
        max_retries=MAX_RETRIES,
        time_limit=JOB_TIMEOUT_S * 1000,
    )
    declare(_deliver)
    return redis_broker


def send(url: str, job_id: str) -> None:
    """Hand a queued job to the workers (after its row is committed, so any worker finds it)."""
    chosen = broker(url)
    chosen.enqueue(
        dramatiq.Message(queue_name=QUEUE, actor_name=ACTOR, args=(job_id,), kwargs={}, options={})
    )


def _deliver(job_id: str) -> None:
    """The actor: run one delivered job in this worker, as the account that queued it."""
    from workbench.services import jobs

    message = CurrentMessage.get_current_message()
    retries = int(message.options.get("retries", 0)) if message is not None else 0
    try:
        jobs.run_delivered(_home(), job_id, last_try=retries >= MAX_RETRIES)
    except TimeLimitExceeded:
        jobs.fail(_home(), job_id, "time limit reached")


@cache
def _home() -> Any:
    """This worker's home (its own folder; the database and blobs are the shared services)."""
    from archive.home import Home
    from workbench import TOOL_VERSION
    from workbench.services import config, unlock

    root = config.home_path(None)
    key = unlock.data_key(root, use_session=False)  # an encrypted home: WB_DATA_KEY_FILE
    return Home.open(
        root, config.key_path(), TOOL_VERSION, config.db_url(), config.blob_store(root), data_key=key
    )


def run_worker(url: str, threads: int = 1, on_ready: Callable[[], None] | None = None) -> int:
    """Take jobs until SIGTERM or SIGINT (`wb worker`); a job in hand is finished before stopping."""
    try:
        _home()  # fail now, not on the first job, when the home or database is wrong
    except Exception as exc:  # stage boundary: any reason the home cannot open stops the worker
        raise QueueError(f"cannot open the home: {exc}") from None
    try:
        broker(url).client.ping()
    except redis.exceptions.RedisError as exc:
        raise QueueError(f"the queue at WB_QUEUE_URL is unreachable: {exc}") from None
    worker = dramatiq.Worker(broker(url), queues={QUEUE}, worker_threads=max(1, threads), worker_timeout=1000)
    # One message in hand per thread: a busy worker does not hold jobs that an idle one could run.
    worker.queue_prefetch = max(1, threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    if on_ready is not None:
        on_ready()
    try:
        stop.wait()
    finally:
        worker.stop()
        broker(url).close()
    return 0
