"""The background worker: ships outbox records in batches, one bulk import at a time per server, exactly once.

The hook thread only appends to the outbox and nudges the worker. The worker wakes at ``flush_at`` records or
every ``flush_interval`` seconds, takes the server's file lock (so no two imports reach one Label Studio at once,
from this process or any other sharing the outbox), first settles any batch whose outcome is unknown by asking the
server, then claims the oldest records and exports them, each with the exporter of the key that logged it.
Transient failures back off exponentially with jitter (tenacity). What cannot go now is held with its reason, so
it never holds up the rest: a refused key's records or a refused record (401/403/400) until
``retry_rejected_after``, a record the exporter cannot read, a deleted project's records, or a record whose import
timed out ``LONE_TIMEOUTS`` times when sent alone, until someone acts.
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
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from ls_langchain.delivery.outbox import Outbox, OutboxItem
from ls_langchain.errors import RecordsHeldError, StudioError, StudioUnreachableError

__all__ = ["DEFAULT_MAX_BATCH_BYTES", "LONE_TIMEOUTS", "DeliveryWorker", "Exporter"]

logger = logging.getLogger("ls_langchain")


class Exporter(Protocol):
    """Sends stored records to one destination; knows what they mean, unlike the worker."""

    #: Identifies the destination (server and project) in the outbox.
    target: str
    #: What must never receive two imports at once: the server's URL.
    server: str
    #: Whose key sends: a hash of it (never the key), so each record goes out with the key that logged it.
    route: str

    def export(self, items: Sequence[OutboxItem]) -> int | None:
        """Send one batch in one request; returns the highest id the server gave the new tasks.

        Raises ``RecordsHeldError`` before sending anything for records that cannot go until someone acts."""

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


class _Recheck:
    """Records sent again after an import that timed out, to be asked about ``left`` more times, ``every`` seconds
    apart, in case that import lands late."""

    #: How many times such records are asked about again.
    times = 2

    def __init__(self, items: Sequence[OutboxItem], watermark: int | None, every: float) -> None:
        self.items = list(items)
        self.watermark = watermark
        self.every = every
        self.due = time.monotonic() + every
        self.left = self.times


class _Rejections:
    """How many splits one batch's refusals have cost; past a bound, the rest is held without more requests."""

    limit = 16

    def __init__(self) -> None:
        self._splits = 0

    def count(self) -> None:
        self._splits += 1

    def exhausted(self) -> bool:
        return self._splits >= self.limit


#: The most characters of records one import carries: far below Label Studio's request limit
#: (DATA_UPLOAD_MAX_MEMORY_SIZE, 250 MiB by default), and small enough to be stored well within the timeout.
DEFAULT_MAX_BATCH_BYTES = 20_000_000

#: How many times a record's import may time out with the record sent alone (and not be stored) before it is held:
#: a record the server cannot store in time would otherwise be sent again forever.
LONE_TIMEOUTS = 3

#: How many record ids a worker remembers to drop a run submitted twice (by two handlers of one project).
_RECENT_IDS = 4096

_live_workers: weakref.WeakSet[DeliveryWorker] = weakref.WeakSet()


class DeliveryWorker:
    """One background thread per (outbox, destination) in a process; started lazily, restarted after fork.

    Every handler of the destination adds its exporter (one per key); a record is sent by the exporter of the
    route it was logged through, and a record whose route has no exporter in this process (left by a process that
    ended) by the newest one.
    """

    def __init__(
        self,
        outbox: Outbox,
        exporter: Exporter,
        *,
        flush_at: float = 500,
        flush_interval: float = 1.0,
        retry_rejected_after: float = 30.0,
        max_backoff: float = 10.0,
        max_batch_bytes: float = DEFAULT_MAX_BATCH_BYTES,
    ) -> None:
        self.outbox = outbox
        self.exporter = exporter
        self.exporters: dict[str, Exporter] = {exporter.route: exporter}
        self.flush_at = int(flush_at)
        self.flush_interval = flush_interval
        self.retry_rejected_after = retry_rejected_after
        self.max_backoff = max_backoff
        self.max_batch_bytes = int(max_batch_bytes)
        self._reported: str | None = None
        self._recent: set[str] = set()
        self._recent_order: collections.deque[str] = collections.deque()
        self._next_release: float | None = None
        # After an import timed out: the most records a batch holds now, and how long the server may still be
        # storing that import (the unknown-outcome check waits for its answers to stop changing).
        self._batch_limit = self.flush_at
        self._in_flight_for = 0.0
        # Records sent again after an import that timed out: that import may still land late, making copies; they
        # are checked again (and copies deleted) a few times, a wait apart, before a flush counts them as delivered.
        self._rechecks: list[_Recheck] = []
        # Record seq -> how many of its imports, sent alone, got no answer in time; and what the last one said.
        self._lone_timeouts: collections.Counter[int] = collections.Counter()
        self._last_timeout = ""
        # A new worker is a new chance (a new key, version or config): what was held is tried again.
        outbox.release_held(exporter.target)
        self._reset()
        _live_workers.add(self)

    def add(self, exporter: Exporter) -> None:
        """Send the records of ``exporter.route`` with this exporter; it also becomes the one for orphans."""
        self.exporters[exporter.route] = exporter
        self.exporter = exporter

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

    def submit(self, record_id: str, body: str, route: str | None = None) -> None:
        """Store one record durably and return; the thread ships it later. Raises OutboxFullError when full.

        Handlers of one process share this worker, and a run is seen by all of them at once: the ids submitted
        lately are enough to store it once. (Another process never sees the same run.)
        """
        if record_id in self._recent:
            return
        self.outbox.append(self.exporter.target, record_id, body, self.exporter.route if route is None else route)
        self._recent.add(record_id)
        self._recent_order.append(record_id)
        if len(self._recent_order) > _RECENT_IDS:
            self._recent.discard(self._recent_order.popleft())
        self._ensure_thread()
        self._unsent += 1
        if self._unsent >= self.flush_at:
            self._wake.set()

    def flush(self, timeout: float | None = None, *, route: str | None = None) -> bool:
        """Wait until every record of this destination waiting now (only ``route``'s, if given) is in Label Studio.

        Returns False when ``timeout`` runs out, and as soon as all that is left is held until someone acts (or
        until after the deadline): waiting longer would change nothing.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._ensure_thread()
        while self.outbox.flush_buffer():  # runs kept in memory while the file was locked come first
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._stop.wait(0.02)
        up_to = self.outbox.last_seq(self.exporter.target)
        self._wake.set()
        while True:
            waiting = self.outbox.waiting(self.exporter.target, up_to=up_to, route=route)
            remaining = None if deadline is None else deadline - time.monotonic()
            if waiting.active == 0 and not self.rechecking:
                if waiting.held == 0:
                    return True
                retry_in = None if waiting.next_retry is None else waiting.next_retry - time.time()
                if retry_in is None or (remaining is not None and retry_in > remaining):
                    return False
            if remaining is not None and remaining <= 0:
                return False
            if self._stop.is_set() and not (self._thread and self._thread.is_alive()):
                return False
            with self._progress:
                self._progress.wait(0.05 if remaining is None else min(0.05, remaining))
            self._wake.set()

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

    @property
    def rechecking(self) -> bool:
        """Whether records sent again after a timed-out import are still being checked for late copies."""
        return bool(self._rechecks)

    def pending(self) -> int:
        """Records of this destination not delivered yet, held ones included."""
        return self.outbox.count(self.exporter.target) + self.outbox.buffered

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
        self.outbox.flush_buffer()
        if self._next_release is not None and time.time() >= self._next_release:
            self._next_release = None
            self.outbox.release_due(self.exporter.target)
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
        if self._rechecks:
            return max(0.0, min(min(r.due for r in self._rechecks) - time.monotonic(), self.flush_interval))
        return self.flush_interval

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the server's cross-process lock: nothing else sends to it (or creates a project there) meanwhile."""
        with _server_lock(self.outbox.directory, self.exporter.server, threading.Event()):
            yield

    def _sleep(self, seconds: float) -> None:
        """Back off, but wake at once when the worker is closed."""
        self._stop.wait(seconds)

    def _exporter_for(self, route: str) -> Exporter:
        return self.exporters.get(route, self.exporter)

    def _deliver_one_batch(self) -> bool:
        """Settle unknown outcomes, then send the next batch; returns whether anything was sent."""
        target = self.exporter.target
        with _server_lock(self.outbox.directory, self.exporter.server, self._stop) as locked:
            if not locked:
                return False
            self._recheck_due()
            self._settle_unknown()
            items = self.outbox.claim(target, min(self.flush_at, self._batch_limit), max_bytes=self.max_batch_bytes)
            if not items:
                return False
            self._unsent = max(0, self._unsent - len(items))
            # If this raises, the items stay claimed: the next round asks the server what it got.
            delivered = sum(
                self._export(self._exporter_for(route), group, _Rejections())
                for route, group in _by_route(items).items()
            )
        if delivered:
            self._batch_limit = min(self.flush_at, self._batch_limit * 2)
        self._delivered(delivered)
        return True

    def _hold(self, items: Sequence[OutboxItem], reason: str, retry_after: float | None) -> None:
        self.outbox.hold(items, reason, retry_after=retry_after)
        if retry_after is not None:
            due = time.time() + retry_after
            self._next_release = due if self._next_release is None else min(self._next_release, due)

    def _export(self, exporter: Exporter, items: Sequence[OutboxItem], rejections: _Rejections) -> int:
        """Send a batch; hold what cannot go, and when the server refuses the content, send halves and hold the
        records refused alone. Returns how many records were delivered."""
        started = time.monotonic()
        try:
            watermark = exporter.export(items)
        except RecordsHeldError as exc:
            held = [item for item in items if item.seq in exc.reasons] if exc.reasons else list(items)
            for reason, group in _by_reason(held, exc.reasons, str(exc)).items():
                self._hold(group, reason, exc.retry_after)
            self.report(exc)
            rest = [item for item in items if exc.reasons and item.seq not in exc.reasons]
            return self._export(exporter, rest, rejections) if rest else 0
        except StudioError as exc:
            if exc.timed_out:
                raise self._timed_out(items, exc, time.monotonic() - started) from exc
            if exc.transient:
                raise
            if not exc.content_rejected or len(items) == 1 or rejections.exhausted():
                # A refused key or a refused record: the server stored nothing, so they wait aside, not in line.
                self._hold(items, str(exc), self.retry_rejected_after)
                self.report(exc)
                return 0
            rejections.count()
            middle = len(items) // 2
            return self._export(exporter, items[:middle], rejections) + self._export(
                exporter, items[middle:], rejections
            )
        self.outbox.complete(self.exporter.target, items, watermark)
        for item in items if self._lone_timeouts else ():
            self._lone_timeouts.pop(item.seq, None)
        return len(items)

    def _timed_out(self, items: Sequence[OutboxItem], error: StudioError, waited: float) -> StudioError:
        """An import whose answer did not come: the next batches are half as big (a batch too big to be stored in
        time is split like a refused one), and its outcome is only decided once the server has had as long again
        to finish it as the client waited (at least a second) after it answers again."""
        count = len(items)
        self._in_flight_for = max(self._in_flight_for, waited, 1.0)
        self._batch_limit = max(1, count // 2)
        if count == 1:
            self._lone_timeouts[items[0].seq] += 1
            self._last_timeout = str(error)
        timed_out = StudioUnreachableError(
            f"{error} An import of {count} records got no answer in time: batches of at most {self._batch_limit} "
            "now; what it stored is checked before anything is sent again."
        )
        timed_out.timed_out = True
        return timed_out

    def _settle_unknown(self) -> None:
        """Records claimed by a send that never reported back: keep those the server has, re-queue the rest (or hold
        a record whose import timed out ``LONE_TIMEOUTS`` times alone).

        A route whose key is refused keeps its records claimed (they may be in Label Studio) without holding up
        the other routes; an import still in flight is waited for again at the next check (an access token may
        have expired during the wait, and the next request has a fresh one)."""
        target = self.exporter.target
        items = self.outbox.claimed(target)
        settled = True
        for route, group in _by_route(items).items():
            try:
                present = self._stored(self._exporter_for(route), group)
            except StudioError as exc:
                if exc.transient:
                    raise
                self.report(exc)
                settled = False
                continue
            self.outbox.complete(target, [i for i in group if i.record_id in present], None)
            absent = [i for i in group if i.record_id not in present]
            stuck = [i for i in absent if self._lone_timeouts[i.seq] >= LONE_TIMEOUTS]
            resent = [i for i in absent if i not in stuck]
            self.outbox.release(resent)
            if resent and self._in_flight_for:  # the import may yet land, after they were sent again
                self._rechecks.append(_Recheck(resent, self.outbox.watermark(target), self._in_flight_for))
            if stuck:
                self._hold(stuck, _stuck_reason(self._last_timeout), None)
            for item in group:
                if item in stuck or item.record_id in present:
                    self._lone_timeouts.pop(item.seq, None)
            if present:
                logger.info("ls-langchain: %d records were already in Label Studio; not sent again", len(present))
        if settled:
            self._in_flight_for = 0.0

    def _recheck_due(self) -> None:
        """Ask again about records sent again after a timed-out import, once they are in: the late import may have
        landed meanwhile, and the exporter deletes every copy beyond one whole task per record."""
        now = time.monotonic()
        for recheck in list(self._rechecks):
            if recheck.due > now:
                continue
            if self.outbox.in_line([item.seq for item in recheck.items]):
                recheck.due = now + 0.1  # some are still to be sent again: checked once they are in
                continue
            try:
                self._exporter_for(recheck.items[0].route).delivered(recheck.items, recheck.watermark)
            except StudioError as exc:
                if exc.transient:
                    raise
                self.report(exc)
                recheck.due = now + recheck.every
                continue
            recheck.left -= 1
            recheck.due = now + recheck.every
            if recheck.left == 0:
                self._rechecks.remove(recheck)
        if not self._rechecks:
            with self._progress:
                self._progress.notify_all()

    def _stored(self, exporter: Exporter, items: Sequence[OutboxItem]) -> set[str]:
        """Which records the server holds; after a timed-out import, asked again until two answers a while apart
        agree, since the server may still be storing that import and "not yet" must not be read as "lost"."""
        present = exporter.delivered(items, self.outbox.watermark(exporter.target))
        while self._in_flight_for and len(present) < len({item.record_id for item in items}):
            if self._stop.wait(self._in_flight_for):  # closing: leave them claimed, to be checked next time
                raise StudioUnreachableError("Stopped while Label Studio may still be storing an import.")
            again = exporter.delivered(items, self.outbox.watermark(exporter.target))
            if again == present:
                break
            present = again
        return present

    def _delivered(self, count: int) -> None:
        if count and self._reported is not None:
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
        with self._progress:
            self._progress.notify_all()


def _by_route(items: Sequence[OutboxItem]) -> dict[str, list[OutboxItem]]:
    """Items grouped by route, each group in log order."""
    groups: dict[str, list[OutboxItem]] = {}
    for item in items:
        groups.setdefault(item.route, []).append(item)
    return groups


def _stuck_reason(last_timeout: str) -> str:
    """Why a record whose import timed out every time it was sent alone is held."""
    return (
        f"{last_timeout} Sent alone {LONE_TIMEOUTS} times, it was never stored in time: raise LS_LANGCHAIN_TIMEOUT "
        "or make the record smaller, then `ls-langchain outbox retry`."
    )


def _by_reason(items: Sequence[OutboxItem], reasons: Mapping[int, str], default: str) -> dict[str, list[OutboxItem]]:
    groups: dict[str, list[OutboxItem]] = {}
    for item in items:
        groups.setdefault(reasons.get(item.seq, default), []).append(item)
    return groups


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
