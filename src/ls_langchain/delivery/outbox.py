"""The durable outbox: records wait here, on disk in SQLite (WAL mode), until Label Studio has them.

A record is appended by the callback hook and deleted only once an import that holds it succeeded, so a
``kill -9`` at any moment loses nothing. Records being sent are ``claimed`` with the task-id watermark seen before
the send, so a batch whose outcome is unknown can be checked against the server before it is sent again. Records
that cannot go until someone acts are ``held`` with their reason; ``ls-langchain outbox`` lists, retries, drops
or redirects them.

The hook never waits on the file for more than a few milliseconds: while another process holds SQLite's write
lock, records wait in a bounded buffer in memory and are written as soon as the lock is free.
"""

from __future__ import annotations

import collections
import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ls_langchain.errors import ConfigurationError, OutboxFullError

__all__ = ["OUTBOX_DIR_ENV", "HeldGroup", "Outbox", "OutboxItem", "TargetStatus", "Waiting", "default_outbox_dir"]

OUTBOX_DIR_ENV = "LS_LANGCHAIN_OUTBOX_DIR"
_FILE_NAME = "outbox.sqlite3"
# records.claimed: waiting to be sent, in a send whose outcome is not recorded yet, or held with a reason.
_PENDING, _SENDING, _HELD = 0, 1, 2
# Every index costs the hook's insert a B-tree update, so there is none: the worker's queries walk the table in seq
# (rowid) order, which is the order it sends in anyway, and the worker keeps a run from being stored twice.
# ``route`` says whose key sends a record (a hash of it, never the key); ``reason`` and ``held_until`` say why a
# record is held and when it is tried again (NULL: when someone acts).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    record_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0,
    route TEXT NOT NULL DEFAULT '',
    reason TEXT,
    held_until REAL
);
CREATE TABLE IF NOT EXISTS targets (
    target TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    watermark INTEGER,
    delivered INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_at REAL
);
CREATE TABLE IF NOT EXISTS drops (
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (target, reason)
);
"""
# Columns added since the first release, for outbox files written by older versions.
_ADDED_COLUMNS = {
    "route": "TEXT NOT NULL DEFAULT ''",
    "reason": "TEXT",
    "held_until": "REAL",
}
#: How long the hook waits for SQLite's write lock before it keeps the record in memory instead.
_HOOK_WAIT = 0.005
#: How often the hook tries the file again while it stays locked (the worker also tries every round).
_HOOK_RETRY = 0.05
#: How many records wait in memory while the file is locked; past that a run is dropped and counted.
_BUFFER_LIMIT = 10_000
_INSERT = "INSERT INTO records (target, record_id, body, created, route) VALUES (?, ?, ?, ?, ?)"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def default_outbox_dir() -> Path:
    """``$LS_LANGCHAIN_OUTBOX_DIR``, else the per-user data dir of the platform."""
    configured = os.environ.get(OUTBOX_DIR_ENV)
    return Path(configured) if configured else Path(platformdirs.user_data_dir("ls-langchain", appauthor=False))


@dataclass(frozen=True)
class OutboxItem:
    """One stored record: its place in the log order, its id, its JSON body and whose key sends it."""

    seq: int
    record_id: str
    body: str
    route: str = ""


@dataclass(frozen=True)
class TargetStatus:
    """What ``ls-langchain outbox status`` shows for one project."""

    target: str
    spec: str
    pending: int
    oldest: float | None
    delivered: int
    dropped: int
    last_error: str | None
    last_error_at: float | None
    held: int = 0


@dataclass(frozen=True)
class HeldGroup:
    """Records of one target held for one reason."""

    target: str
    reason: str
    count: int


@dataclass(frozen=True)
class Waiting:
    """Where the records a flush waits for stand: still to be sent, held, and the next automatic retry of a hold."""

    active: int
    held: int
    next_retry: float | None


def _unusable(directory: Path, exc: BaseException) -> ConfigurationError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return ConfigurationError(
        f"The outbox folder {directory} cannot be used ({reason}): pass outbox_dir= or set {OUTBOX_DIR_ENV} "
        "to a folder this user can write."
    )


class Outbox:
    """A SQLite file shared by every handler (and process) that points at it; safe from many threads.

    ``create=False`` opens an existing outbox only (for ``outbox status``): a missing one raises
    ``FileNotFoundError`` rather than being made.
    """

    def __init__(self, directory: Path | None = None, *, max_records: int = 1_000_000, create: bool = True) -> None:
        self.directory = Path(directory) if directory is not None else default_outbox_dir()
        self.path = self.directory / _FILE_NAME
        if not create and not self.path.is_file():
            raise FileNotFoundError(self.path)
        try:
            # Private when made here (prompts and answers are in it): the folder 0700, the file 0600, and SQLite
            # gives its -wal and -shm files the database file's mode. Existing ones keep the mode they have.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if create:
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise _unusable(self.directory, exc) from exc
        self.max_records = max_records
        self._lock = threading.Lock()
        self._hook_lock = threading.Lock()
        self._buffer: collections.deque[tuple[str, str, str, float, str]] = collections.deque()
        self._lost: collections.Counter[tuple[str, str]] = collections.Counter()
        self._retry_at = 0.0
        self._pid = os.getpid()
        self._db, self._hook_db = self._connect()
        # Kept in memory so the hot path need not count rows; other processes' records are seen at the next count.
        self._size = self.count()

    def _connect(self) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        """The worker's connection (waits up to 30 s for a lock) and the hook's (waits a few milliseconds)."""
        try:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives the process being killed; only an OS crash can lose the last ones.
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._add_columns(db)
            hook_db = sqlite3.connect(self.path, timeout=_HOOK_WAIT, isolation_level=None, check_same_thread=False)
            hook_db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            raise ConfigurationError(
                f"The outbox {self.path} cannot be read ({exc}): move the file away to start a new one."
            ) from exc
        except (sqlite3.Error, OSError) as exc:
            raise _unusable(self.directory, exc) from exc
        return db, hook_db

    @staticmethod
    def _add_columns(db: sqlite3.Connection) -> None:
        """Bring an outbox written by an older version up to this one's columns."""
        present = {row[1] for row in db.execute("PRAGMA table_info(records)")}
        for name, definition in _ADDED_COLUMNS.items():
            if name not in present:
                try:
                    db.execute(f"ALTER TABLE records ADD COLUMN {name} {definition}")
                except sqlite3.OperationalError as exc:  # another process added it meanwhile
                    if "duplicate column" not in str(exc):
                        raise

    def _conn(self) -> sqlite3.Connection:
        """The connection of this process; a forked child opens its own instead of sharing the parent's."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._hook_lock = threading.Lock()
            self._db, self._hook_db = self._connect()
        return self._db

    def register(self, target: str, spec: str) -> None:
        """Remember how to reach a target (never with its API key), so `status` can show it."""
        with self._lock:
            self._conn().execute(
                "INSERT INTO targets (target, spec) VALUES (?, ?) "
                "ON CONFLICT (target) DO UPDATE SET spec = excluded.spec",
                (target, spec),
            )

    def append(self, target: str, record_id: str, body: str, route: str = "") -> None:
        """Store a record durably, or keep it in memory while another process holds the file's write lock.

        Never waits more than a few milliseconds. Raises ``OutboxFullError`` when the outbox is full; a record
        that finds the memory buffer full too is dropped and counted. Callers keep a run from being stored twice.
        """
        if self._size >= self.max_records:
            self._size = self.count()
            if self._size >= self.max_records:
                raise OutboxFullError(f"the outbox {self.path} holds {self._size} undelivered records")
        row = (target, record_id, body, time.time(), route)
        self._conn()
        with self._hook_lock:
            self._buffer.append(row)
            # While the file stays locked, try it again only now and then, so each call costs microseconds.
            if len(self._buffer) > 1 and time.monotonic() < self._retry_at:
                written = False
            else:
                written = self._write_buffer()
                self._retry_at = 0.0 if written else time.monotonic() + _HOOK_RETRY
            if not written and len(self._buffer) > _BUFFER_LIMIT:
                self._buffer.pop()
                self._lost[(target, "the outbox file stayed locked by another process")] += 1

    def _write_buffer(self) -> bool:
        """Write what waits in memory, in order, in one transaction; False if the file is locked (kept for later)."""
        rows = list(self._buffer)
        db = self._hook_db
        if len(rows) == 1 and not self._lost:  # the usual case: one statement, its own transaction
            try:
                try:
                    db.execute(_INSERT, rows[0])
                except UnicodeEncodeError:  # a lone surrogate, which UTF-8 cannot hold: stored as U+FFFD instead
                    db.execute(_INSERT, _storable_row(rows[0]))
            except sqlite3.OperationalError:
                return False
            self._size += 1
            self._buffer.clear()
            return True
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        try:
            db.execute("SAVEPOINT hook")
            try:
                db.executemany(_INSERT, rows)
            except UnicodeEncodeError:
                db.execute("ROLLBACK TO hook")
                db.executemany(_INSERT, [_storable_row(row) for row in rows])
            for (target, reason), count in self._lost.items():
                self._count_drops(db, target, reason, count)
            db.execute("COMMIT")
        except sqlite3.OperationalError:
            db.execute("ROLLBACK")
            return False
        self._size += len(rows)
        self._buffer.clear()
        self._lost.clear()
        return True

    def flush_buffer(self) -> int:
        """Try to write the records kept in memory (the worker calls this every round); returns how many still wait."""
        with self._hook_lock:
            if self._buffer or self._lost:
                self._conn()
                self._write_buffer()
            return len(self._buffer)

    @property
    def buffered(self) -> int:
        """Records kept in memory because the file was locked when they came."""
        return len(self._buffer)

    def count(self, target: str | None = None, *, up_to: int | None = None) -> int:
        """Records not yet delivered, for one target or all, optionally only those logged up to ``up_to``."""
        query, params = "SELECT COUNT(*) FROM records WHERE 1", list[str | int]()
        if target is not None:
            query, params = query + " AND target = ?", [target]
        if up_to is not None:
            query, params = query + " AND seq <= ?", [*params, up_to]
        with self._lock:
            return int(self._conn().execute(query, params).fetchone()[0])

    def waiting(self, target: str, *, up_to: int, route: str | None = None) -> Waiting:
        """The records of a target logged up to ``up_to`` (through ``route`` only, if given) not delivered yet."""
        query = (
            "SELECT COALESCE(SUM(claimed != ?), 0), COALESCE(SUM(claimed = ?), 0), "
            "MIN(CASE WHEN claimed = ? THEN held_until END) FROM records WHERE target = ? AND seq <= ?"
        )
        params: list[str | int] = [_HELD, _HELD, _HELD, target, up_to]
        if route is not None:
            query, params = query + " AND route = ?", [*params, route]
        with self._lock:
            active, held, next_retry = self._conn().execute(query, params).fetchone()
        return Waiting(int(active), int(held), next_retry)

    def last_seq(self, target: str) -> int:
        """The sequence number of the newest undelivered record of a target (0 when none waits)."""
        with self._lock:
            row = self._conn().execute("SELECT MAX(seq) FROM records WHERE target = ?", (target,)).fetchone()
        return int(row[0] or 0)

    @staticmethod
    def _count_drops(db: sqlite3.Connection, target: str, reason: str, count: int) -> None:
        db.execute("UPDATE targets SET dropped = dropped + ? WHERE target = ?", (count, target))
        db.execute(
            "INSERT INTO drops (target, reason, count) VALUES (?, ?, ?) "
            "ON CONFLICT (target, reason) DO UPDATE SET count = count + excluded.count",
            (target, reason, count),
        )

    def note_dropped(self, target: str, count: int = 1, reason: str = "the outbox was full") -> None:
        """Count runs that were never stored, with why."""
        with self._lock:
            self._count_drops(self._conn(), target, reason, count)

    def drops(self, target: str) -> dict[str, int]:
        """How many runs of a target were dropped, per reason."""
        with self._lock:
            rows = self._conn().execute("SELECT reason, count FROM drops WHERE target = ?", (target,)).fetchall()
        return {str(reason): int(count) for reason, count in rows}

    def claimed(self, target: str) -> list[OutboxItem]:
        """Records claimed by a send whose outcome nobody recorded (the sender died or lost its connection)."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT seq, record_id, body, route FROM records WHERE target = ? AND claimed = ? ORDER BY seq",
                    (target, _SENDING),
                )
                .fetchall()
            )
        return [OutboxItem(*row) for row in rows]

    def claim(self, target: str, limit: int, *, max_bytes: int | None = None) -> list[OutboxItem]:
        """Mark the oldest pending records of a target as being sent, and return them in log order.

        With ``max_bytes``, the batch stops before the record that would take it past that many characters of
        JSON (it always holds at least one record).
        """
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    "SELECT seq, record_id, body, route FROM records WHERE target = ? AND claimed = ? "
                    "ORDER BY seq LIMIT ?",
                    (target, _PENDING, limit),
                ).fetchall()
                if max_bytes is not None:
                    rows = _within(rows, max_bytes)
                if rows:
                    db.execute(
                        f"UPDATE records SET claimed = ? WHERE seq IN ({','.join('?' * len(rows))})",
                        [_SENDING, *(row[0] for row in rows)],
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return [OutboxItem(*row) for row in rows]

    def in_line(self, seqs: Sequence[int]) -> int:
        """How many of these records still wait to be sent or are being sent (neither delivered nor held)."""
        if not seqs:
            return 0
        with self._lock:
            row = (
                self._conn()
                .execute(
                    f"SELECT COUNT(*) FROM records WHERE claimed != ? AND seq IN ({','.join('?' * len(seqs))})",
                    [_HELD, *seqs],
                )
                .fetchone()
            )
        return int(row[0])

    def release(self, items: Sequence[OutboxItem]) -> None:
        """Put claimed records back in line, unsent."""
        with self._lock:
            self._conn().executemany("UPDATE records SET claimed = ? WHERE seq = ?", [(_PENDING, i.seq) for i in items])

    def hold(self, items: Sequence[OutboxItem], reason: str, *, retry_after: float | None = None) -> None:
        """Set records aside with why, so they do not block the others; tried again after ``retry_after`` seconds,
        or (when None) once someone acts: ``release_held``, a new worker, ``ls-langchain outbox retry``."""
        until = None if retry_after is None else time.time() + retry_after
        with self._lock:
            self._conn().executemany(
                "UPDATE records SET claimed = ?, reason = ?, held_until = ? WHERE seq = ?",
                [(_HELD, reason, until, i.seq) for i in items],
            )

    def release_due(self, target: str) -> int:
        """Put back in line the held records of a target whose time to be tried again has come."""
        with self._lock:
            cursor = self._conn().execute(
                "UPDATE records SET claimed = ? WHERE target = ? AND claimed = ? AND held_until <= ?",
                (_PENDING, target, _HELD, time.time()),
            )
            return cursor.rowcount

    def release_held(self, target: str | None = None) -> int:
        """Put held records back in line, of one target or all (the key, config or package may have changed)."""
        query, params = "UPDATE records SET claimed = ? WHERE claimed = ?", list[str | int]([_PENDING, _HELD])
        if target is not None:
            query, params = query + " AND target = ?", [*params, target]
        with self._lock:
            return self._conn().execute(query, params).rowcount

    def drop_held(self, target: str) -> int:
        """Delete the held records of a target, counting them as dropped with their reason."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                groups = db.execute(
                    "SELECT reason, COUNT(*) FROM records WHERE target = ? AND claimed = ? GROUP BY reason",
                    (target, _HELD),
                ).fetchall()
                db.execute("DELETE FROM records WHERE target = ? AND claimed = ?", (target, _HELD))
                for reason, count in groups:
                    self._count_drops(db, target, f"dropped by hand: {reason}", int(count))
                self._size = max(0, self._size - sum(int(count) for _, count in groups))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return sum(int(count) for _, count in groups)

    def move(self, target: str, new_target: str, new_spec: str) -> int:
        """Send a target's waiting and held records to another target instead (the project was deleted, say)."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO targets (target, spec) VALUES (?, ?) ON CONFLICT (target) DO NOTHING",
                    (new_target, new_spec),
                )
                moved = db.execute(
                    "UPDATE records SET target = ?, claimed = ?, reason = NULL, held_until = NULL "
                    "WHERE target = ? AND claimed != ?",
                    (new_target, _PENDING, target, _SENDING),
                ).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return moved

    def complete(self, target: str, items: Sequence[OutboxItem], watermark: int | None) -> None:
        """Forget delivered records and remember the highest task id seen, in one transaction."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("DELETE FROM records WHERE seq = ?", [(i.seq,) for i in items])
                self._size = max(0, self._size - len(items))
                db.execute(
                    "UPDATE targets SET delivered = delivered + ?, watermark = COALESCE(?, watermark), "
                    "last_error = NULL, last_error_at = NULL WHERE target = ?",
                    (len(items), watermark, target),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def watermark(self, target: str) -> int | None:
        """The highest Label Studio task id this target's deliveries have seen."""
        with self._lock:
            row = self._conn().execute("SELECT watermark FROM targets WHERE target = ?", (target,)).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def record_error(self, target: str, message: str) -> None:
        with self._lock:
            self._conn().execute(
                "UPDATE targets SET last_error = ?, last_error_at = ? WHERE target = ?", (message, time.time(), target)
            )

    def status(self) -> list[TargetStatus]:
        """Pending records, oldest age and last error of every target in the outbox."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT t.target, t.spec, COUNT(r.seq), MIN(r.created), t.delivered, t.dropped, t.last_error, "
                    "t.last_error_at, COALESCE(SUM(r.claimed = ?), 0) FROM targets t "
                    "LEFT JOIN records r ON r.target = t.target GROUP BY t.target ORDER BY t.target",
                    (_HELD,),
                )
                .fetchall()
            )
        return [TargetStatus(*row) for row in rows]

    def held_groups(self) -> list[HeldGroup]:
        """Held records per target and reason."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT target, COALESCE(reason, 'held'), COUNT(*) FROM records WHERE claimed = ? "
                    "GROUP BY target, reason ORDER BY target, COUNT(*) DESC",
                    (_HELD,),
                )
                .fetchall()
            )
        return [HeldGroup(*row) for row in rows]

    def close(self) -> None:
        self.flush_buffer()
        with self._lock:
            self._db.close()
            self._hook_db.close()


def _within(rows: list[tuple[int, str, str, str]], max_bytes: int) -> list[tuple[int, str, str, str]]:
    """The first rows whose bodies fit in ``max_bytes`` together, at least one."""
    total = 0
    for index, row in enumerate(rows):
        total += len(row[2])
        if total > max_bytes and index > 0:
            return rows[:index]
    return rows


def _storable_row(row: tuple[str, str, str, float, str]) -> tuple[str, str, str, float, str]:
    """A record's row with text UTF-8 can hold: lone surrogates (which Python strings allow) become U+FFFD."""
    target, record_id, body, created, route = row
    return target, _LONE_SURROGATE.sub("\ufffd", record_id), _LONE_SURROGATE.sub("\ufffd", body), created, route
