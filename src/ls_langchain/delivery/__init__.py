"""Durable, batched, exactly-once delivery: the outbox (SQLite) and the worker that empties it.

Handlers get their worker from ``worker_for``: one worker per outbox file and destination in a process, however
many handlers point there, so handlers made per request cost no extra thread.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from pathlib import Path

from ls_langchain.delivery.outbox import OUTBOX_DIR_ENV, Outbox, OutboxItem, default_outbox_dir
from ls_langchain.delivery.worker import DEFAULT_MAX_BATCH_BYTES, DeliveryWorker, Exporter, close_all

__all__ = [
    "DEFAULT_MAX_BATCH_BYTES",
    "OUTBOX_DIR_ENV",
    "DeliveryWorker",
    "Exporter",
    "Outbox",
    "OutboxItem",
    "default_outbox_dir",
    "worker_for",
]

_EXIT_TIMEOUT_ENV = "LS_LANGCHAIN_EXIT_TIMEOUT"
_registry_lock = threading.Lock()
_outboxes: dict[Path, Outbox] = {}
_workers: dict[tuple[Path, str], DeliveryWorker] = {}
_exit_hook_installed = False


def _exit_timeout() -> float:
    try:
        return float(os.environ.get(_EXIT_TIMEOUT_ENV, "5"))
    except ValueError:
        return 5.0


def _flush_at_exit() -> None:
    """Give the workers a bounded time to send what is left; say on stderr what stays in the outbox."""
    unsent = close_all(_exit_timeout())
    if unsent:
        paths = ", ".join(sorted({str(outbox.path) for outbox in _outboxes.values()}))
        print(
            f"ls-langchain: at exit, {unsent} records were still waiting for Label Studio in {paths}; the next "
            "handler for the same project sends them (or run `ls-langchain outbox flush`).",
            file=sys.stderr,
        )


def worker_for(directory: Path | None, exporter: Exporter, **settings: float) -> DeliveryWorker:
    """The process's worker for this outbox and destination, made on first use; it sends the records of
    ``exporter.route`` with ``exporter`` from now on."""
    global _exit_hook_installed
    path = (Path(directory) if directory is not None else default_outbox_dir()).resolve()
    with _registry_lock:
        outbox = _outboxes.get(path)
        if outbox is None:
            outbox = _outboxes[path] = Outbox(path)
        key = (path, exporter.target)
        worker = _workers.get(key)
        if worker is None or worker.closed:
            worker = _workers[key] = DeliveryWorker(outbox, exporter, **settings)
        else:
            worker.add(exporter)
        if not _exit_hook_installed:
            atexit.register(_flush_at_exit)
            _exit_hook_installed = True
    return worker
