"""The durable outbox: records wait here, on disk in SQLite (WAL mode), until Label Studio has them.

A record is appended by the callback hook and deleted only once an import that holds it succeeded, so a
``kill -9`` at any moment loses nothing. Records being sent are ``claimed`` with the task-id watermark seen before
the send, so a batch whose outcome is unknown can be checked against the server before it is sent again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ls_langchain.errors import OutboxFullError

__all__ = ["OUTBOX_DIR_ENV", "Outbox", "OutboxItem", "TargetStatus", "default_outbox_dir"]

OUTBOX_DIR_ENV = "LS_LANGCHAIN_OUTBOX_DIR"
_FILE_NAME = "outbox.sqlite3"
# records.claimed: waiting to be sent, in a send whose outcome is not recorded yet, or refused by the server.
_PENDING, _SENDING, _HELD = 0, 1, 2
# Every index costs the hook's insert a B-tree update, so there is none: the worker's queries walk the table in seq
# (rowid) order, which is the order it sends in anyway, and the worker keeps a run from being stored twice.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    record_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0
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
"""


def default_outbox_dir() -> Path:
    """``$LS_LANGCHAIN_OUTBOX_DIR``, else the per-user data dir of the platform."""
    configured = os.environ.get(OUTBOX_DIR_ENV)
    return Path(configured) if configured else Path(platformdirs.user_data_dir("ls-langchain", appauthor=False))


@dataclass(frozen=True)
class OutboxItem:
    """One stored record: its place in the log order, its id and its JSON body."""

    seq: int
    record_id: str
    body: str


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


class Outbox:
    """A SQLite file shared by every handler (and process) that points at it; safe from many threads."""

    def __init__(self, directory: Path | None = None, *, max_records: int = 1_000_000) -> None:
        self.directory = Path(directory) if directory is not None else default_outbox_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / _FILE_NAME
        self.max_records = max_records
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._db = self._connect()
        # Kept in memory so the hot path need not count rows; other processes' records are seen at the next count.
        self._size = self.count()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives the process being killed; only an OS crash can lose the last ones.
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        return db

    def _conn(self) -> sqlite3.Connection:
        """The connection of this process; a forked child opens its own instead of sharing the parent's."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._db = self._connect()
        return self._db

    def register(self, target: str, spec: str) -> None:
        """Remember how to reach a target (never with its API key), so `status` can show it."""
        with self._lock:
            self._conn().execute(
                "INSERT INTO targets (target, spec) VALUES (?, ?) "
                "ON CONFLICT (target) DO UPDATE SET spec = excluded.spec",
                (target, spec),
            )

    def append(self, target: str, record_id: str, body: str) -> int:
        """Store a record durably; returns its sequence number. Callers keep a run from being stored twice."""
        if self._size >= self.max_records:
            self._size = self.count()
            if self._size >= self.max_records:
                raise OutboxFullError(f"the outbox {self.path} holds {self._size} undelivered records")
        with self._lock:
            self._size += 1
            cursor = self._conn().execute(
                "INSERT INTO records (target, record_id, body, created) VALUES (?, ?, ?, ?)",
                (target, record_id, body, time.time()),
            )
            return int(cursor.lastrowid or 0)

    def count(self, target: str | None = None, *, up_to: int | None = None) -> int:
        """Records not yet delivered, for one target or all, optionally only those logged up to ``up_to``."""
        query, params = "SELECT COUNT(*) FROM records WHERE 1", list[str | int]()
        if target is not None:
            query, params = query + " AND target = ?", [target]
        if up_to is not None:
            query, params = query + " AND seq <= ?", [*params, up_to]
        with self._lock:
            return int(self._conn().execute(query, params).fetchone()[0])

    def last_seq(self, target: str) -> int:
        """The sequence number of the newest undelivered record of a target (0 when none waits)."""
        with self._lock:
            row = self._conn().execute("SELECT MAX(seq) FROM records WHERE target = ?", (target,)).fetchone()
        return int(row[0] or 0)

    def note_dropped(self, target: str, count: int = 1) -> None:
        with self._lock:
            self._conn().execute("UPDATE targets SET dropped = dropped + ? WHERE target = ?", (count, target))

    def claimed(self, target: str) -> list[OutboxItem]:
        """Records claimed by a send whose outcome nobody recorded (the sender died or lost its connection)."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT seq, record_id, body FROM records WHERE target = ? AND claimed = ? ORDER BY seq",
                    (target, _SENDING),
                )
                .fetchall()
            )
        return [OutboxItem(*row) for row in rows]

    def claim(self, target: str, limit: int) -> list[OutboxItem]:
        """Mark the oldest pending records of a target as being sent, and return them in log order."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    "SELECT seq, record_id, body FROM records WHERE target = ? AND claimed = ? ORDER BY seq LIMIT ?",
                    (target, _PENDING, limit),
                ).fetchall()
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

    def release(self, items: Sequence[OutboxItem]) -> None:
        """Put claimed records back in line, unsent."""
        with self._lock:
            self._conn().executemany("UPDATE records SET claimed = ? WHERE seq = ?", [(_PENDING, i.seq) for i in items])

    def hold(self, items: Sequence[OutboxItem]) -> None:
        """Set aside records the server refused, so they do not block the others; kept until ``release_held``."""
        with self._lock:
            self._conn().executemany("UPDATE records SET claimed = ? WHERE seq = ?", [(_HELD, i.seq) for i in items])

    def release_held(self, target: str) -> int:
        """Put every refused record of a target back in line (the key or config may have been fixed)."""
        with self._lock:
            cursor = self._conn().execute(
                "UPDATE records SET claimed = ? WHERE target = ? AND claimed = ?", (_PENDING, target, _HELD)
            )
            return cursor.rowcount

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
                    "t.last_error_at FROM targets t LEFT JOIN records r ON r.target = t.target "
                    "GROUP BY t.target ORDER BY t.target"
                )
                .fetchall()
            )
        return [TargetStatus(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
