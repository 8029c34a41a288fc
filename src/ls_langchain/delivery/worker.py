"""The background worker: ships outbox records in batches, one bulk import at a time per server, exactly once.

The hook thread only appends to the outbox and nudges the worker. The worker wakes at ``flush_at`` records or
every ``flush_interval`` seconds, takes the server's file lock (so no two imports reach one Label Studio at once,
from this process or any other sharing the outbox), first settles any batch whose outcome is unknown by asking the
server, then claims the oldest records and exports them. Transient failures back off exponentially with jitter
(tenacity); a refusal (401/403/400) is reported once and retried only after ``retry_rejected_after``.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from ls_langchain.delivery.outbox import Outbox, OutboxItem
from ls_langchain.errors import StudioError

__all__ = ["DeliveryWorker", "Exporter"]

logger = logging.getLogger("ls_langchain")


class Exporter(Protocol):
    """Sends stored records to one destination; knows what they mean, unlike the worker."""

    #: Identifies the destination (server and project) in the outbox.
    target: str
    #: What must never receive two imports at once: the server's URL.
    server: str

    def export(self, items: Sequence[OutboxItem]) -> int | None:
        """Send one batch in one request; returns the highest id the server gave the new tasks."""

    def delivered(self, items: Sequence[OutboxItem], watermark: int | None) -> set[str]:
        """Which of these records the server already holds (it made them after ``watermark``)."""


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, StudioError) and exc.transient


class _Backoff:
    """Exponential backoff with jitter, except that a server's Retry-After wins."""

    def __init__(self, max_delay: float) -> None:
        self._exponential = wait_exponential_jitter(multiplier=0.5, max=max_delay, jitter=0.5)

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        return float(retry_after) if retry_after else float(self._exponential(state))


@contextlib.contextmanager
def _server_lock(directory: os.PathLike[str] | str, server: str, stop: threading.Event) -> Iterator[bool]:
    """Hold the cross-process lock of one server; yields False if ``stop`` was set before it was free."""
    name = hashlib.sha256(server.encode()).hexdigest()[:16]
    path = os.path.join(directory, f"server-{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop.wait(0.02):
                    yield False
                    return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class _Rejections:
    """How many splits one batch's refusals have cost; past a bound, the rest is held without more requests."""

    limit = 16

    def __init__(self) -> None:
        self._splits = 0

    def count(self) -> None:
        self._splits += 1

    def exhausted(self) -> bool:
        return self._splits >= self.limit


#: How many record ids a worker remembers to drop a run submitted twice (by two handlers of one project).
_RECENT_IDS = 4096

_live_workers: weakref.WeakSet[DeliveryWorker] = weakref.WeakSet()


class DeliveryWorker:
    """One background thread per (outbox, destination) in a process; started lazily, restarted after fork."""

    def __init__(
        self,
        outbox: Outbox,
        exporter: Exporter,
        *,
        flush_at: float = 500,
        flush_interval: float = 1.0,
        retry_rejected_after: float = 30.0,
        max_backoff: float = 10.0,
    ) -> None:
        self.outbox = outbox
        self.exporter = exporter
        self.flush_at = int(flush_at)
        self.flush_interval = flush_interval
        self.retry_rejected_after = retry_rejected_after
        self.max_backoff = max_backoff
        self._reported: str | None = None
        self._recent: set[str] = set()
        self._recent_order: collections.deque[str] = collections.deque()
        self._held_at: float | None = None
        self._reset()
        _live_workers.add(self)

    def _reset(self) -> None:
        """Fresh synchronization state and no thread: at construction, and in a forked child."""
        self._pid = os.getpid()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._unsent = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():
            self._reset()
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(target=self._run, name="ls-langchain-delivery", daemon=True)
                    self._thread.start()

    def submit(self, record_id: str, body: str) -> None:
        """Store one record durably and return; the thread ships it later. Raises OutboxFullError when full.

        Handlers of one process share this worker, and a run is seen by all of them at once: the ids submitted
        lately are enough to store it once. (Another process never sees the same run.)
        """
        if record_id in self._recent:
            return
        self.outbox.append(self.exporter.target, record_id, body)
        self._recent.add(record_id)
        self._recent_order.append(record_id)
        if len(self._recent_order) > _RECENT_IDS:
            self._recent.discard(self._recent_order.popleft())
        self._ensure_thread()
        self._unsent += 1
        if self._unsent >= self.flush_at:
            self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record of this destination waiting now (whoever logged it) is in Label Studio."""
        deadline = None if timeout is None else time.monotonic() + timeout
        up_to = self.outbox.last_seq(self.exporter.target)
        self._ensure_thread()
        self._wake.set()
        while self.outbox.count(self.exporter.target, up_to=up_to) > 0:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if self._stop.is_set() and not (self._thread and self._thread.is_alive()):
                return False
            with self._progress:
                self._progress.wait(0.05 if remaining is None else min(0.05, remaining))
            self._wake.set()
        return True

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush within ``timeout``, then stop the thread; what is not sent stays in the outbox for later."""
        done = self.flush(timeout)
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        _live_workers.discard(self)
        return done

    @property
    def closed(self) -> bool:
        return self._stop.is_set() and self._pid == os.getpid()

    def pending(self) -> int:
        return self.outbox.count(self.exporter.target)

    # The thread.

    def _run(self) -> None:
        delay = self.flush_interval
        while not self._stop.is_set():
            self._wake.wait(timeout=delay)
            self._wake.clear()
            if self._stop.is_set():
                break
            delay = self._deliver_pending()

    def _deliver_pending(self) -> float:
        """Send batches until none is left; returns how long to sleep before the next round."""
        if self._held_at is None or time.monotonic() - self._held_at >= self.retry_rejected_after:
            self._held_at = None
            self.outbox.release_held(self.exporter.target)
        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            wait=_Backoff(self.max_backoff),
            sleep=self._sleep,
            stop=lambda _state: self._stop.is_set(),
            before_sleep=self._note_retry,
            reraise=True,
        )
        try:
            while retrying(self._deliver_one_batch):
                pass
        except StudioError as exc:
            self.report(exc)
            return self.retry_rejected_after
        except Exception as exc:  # never let the thread die: a bug here must not stop delivery for good
            logger.exception("ls-langchain: unexpected error while delivering to %s", self.exporter.server)
            self.outbox.record_error(self.exporter.target, f"{type(exc).__name__}: {exc}")
            return self.retry_rejected_after
        return self.flush_interval

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the server's cross-process lock: nothing else sends to it (or creates a project there) meanwhile."""
        with _server_lock(self.outbox.directory, self.exporter.server, threading.Event()):
            yield

    def _sleep(self, seconds: float) -> None:
        """Back off, but wake at once when the worker is closed."""
        self._stop.wait(seconds)

    def _deliver_one_batch(self) -> bool:
        """Settle unknown outcomes, then send the next batch; returns whether anything was sent."""
        target = self.exporter.target
        with _server_lock(self.outbox.directory, self.exporter.server, self._stop) as locked:
            if not locked:
                return False
            self._settle_unknown()
            items = self.outbox.claim(target, self.flush_at)
            if not items:
                return False
            self._unsent = max(0, self._unsent - len(items))
            # If this raises, the items stay claimed: the next round asks the server what it got.
            self._export(items, _Rejections())
        self._delivered()
        return True

    def _export(self, items: Sequence[OutboxItem], rejections: _Rejections) -> None:
        """Send a batch; when the server refuses its content, send halves, and hold the records refused alone."""
        try:
            watermark = self.exporter.export(items)
        except StudioError as exc:
            if not exc.content_rejected:
                raise
            if len(items) == 1 or rejections.exhausted():
                self.outbox.hold(items)
                self._held_at = time.monotonic()
                self.report(exc)
                return
            rejections.count()
            middle = len(items) // 2
            self._export(items[:middle], rejections)
            self._export(items[middle:], rejections)
            return
        self.outbox.complete(self.exporter.target, items, watermark)

    def _settle_unknown(self) -> None:
        """Records claimed by a send that never reported back: keep those the server has, re-queue the rest."""
        target = self.exporter.target
        items = self.outbox.claimed(target)
        if not items:
            return
        present = self.exporter.delivered(items, self.outbox.watermark(target))
        self.outbox.complete(target, [i for i in items if i.record_id in present], None)
        self.outbox.release([i for i in items if i.record_id not in present])
        if present:
            logger.info("ls-langchain: %d records were already in Label Studio; not sent again", len(present))

    def _delivered(self) -> None:
        if self._reported is not None:
            logger.warning("ls-langchain: delivery to %s works again", self.exporter.server)
            self._reported = None
        with self._progress:
            self._progress.notify_all()

    def _note_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if error is not None:
            self.outbox.record_error(self.exporter.target, str(error))
            if state.attempt_number == 3:
                self.report(error)

    def report(self, error: BaseException) -> None:
        """Log an error once, however many times it repeats, and keep it in the outbox for `status`."""
        message = str(error)
        self.outbox.record_error(self.exporter.target, message)
        if message != self._reported:
            self._reported = message
            pending = self.pending()
            logger.error("ls-langchain: %s (%d records kept in %s)", message, pending, self.outbox.path)


def close_all(timeout: float) -> int:
    """Close every live worker within ``timeout`` in all; returns how many records are still unsent."""
    deadline = time.monotonic() + timeout
    unsent = 0
    for worker in list(_live_workers):
        if worker._pid != os.getpid():
            continue
        worker.close(max(0.0, deadline - time.monotonic()))
        unsent += worker.pending()
    return unsent
