"""What the backend remembers per Label Studio project, shared by every worker and replica.

Two stores keep the same things: the prompt people submitted last, the extra params given at ``/setup`` (which may
hold an API key), the labeling config, the model versions handed out, and the few-shot examples (the live pool,
one per task, and the snapshot predictions use; see ``examples``). ``SQLiteState`` is one file under
``MODEL_DIR`` (WAL, a short connection per call, private to its owner): the uvicorn or gunicorn workers of one
host share it. ``RedisState`` (``STATE_URL=redis://...``, in ``redis_state.py``) is shared by replicas on several
hosts; ``stores.open_state`` picks one. This module imports neither of the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ls_langchain.predictor.examples import Example, snapshot_version

__all__ = [
    "STATE_FILE_NAME",
    "ProjectRecord",
    "ProjectState",
    "SQLiteState",
    "most_recent",
    "snapshot_json",
    "snapshot_of",
]

#: The SQLite file under ``MODEL_DIR``.
STATE_FILE_NAME = "ls_langchain_predictor.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    project TEXT PRIMARY KEY,
    prompt TEXT,
    extra_params TEXT NOT NULL DEFAULT '{}',
    label_config TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    project TEXT NOT NULL,
    model_version TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (project, model_version)
);
CREATE TABLE IF NOT EXISTS examples (
    project TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    annotation_id INTEGER,
    example TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (project, task_id)
);
CREATE TABLE IF NOT EXISTS example_pools (
    project TEXT PRIMARY KEY,
    version TEXT,
    examples TEXT NOT NULL DEFAULT '[]',
    pending INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class ProjectRecord:
    """One project's stored state; empty for a project the backend has not seen."""

    prompt: str | None = None
    extra_params: dict[str, Any] = field(default_factory=dict)
    label_config: str | None = None


class ProjectState(Protocol):
    """Per-project prompt, extra params, labeling config and model versions."""

    def get(self, project: str) -> ProjectRecord: ...

    def save_setup(self, project: str, extra_params: dict[str, Any], label_config: str) -> None:
        """Remember what ``/setup`` was given; the stored prompt stays."""

    def save_prompt(self, project: str, prompt: str) -> None:
        """Remember the prompt people submitted last for this project."""

    def add_version(self, project: str, model_version: str) -> None: ...

    def versions(self, project: str) -> list[str]:
        """Every model version handed out for the project, oldest first."""

    def save_example(self, project: str, example: Example) -> int:
        """Keep ``example`` as its task's (replacing an older one); returns the changes not yet published."""

    def drop_examples(self, project: str, annotation_ids: Sequence[int]) -> int:
        """Forget the examples these annotations made; returns the changes not yet published."""

    def replace_examples(self, project: str, examples: Sequence[Example]) -> None:
        """Make ``examples`` the whole live pool (``ls-langchain learn``)."""

    def publish_examples(self, project: str, limit: int) -> str:
        """Publish the ``limit`` most recent examples as the snapshot predictions use (the older ones are dropped
        from the pool); returns the snapshot's version."""

    def pool_version(self, project: str) -> str | None:
        """The version of the published snapshot (None before the first)."""

    def published_examples(self, project: str) -> list[Example]:
        """The published snapshot, most recent first."""


def most_recent(examples: Sequence[Example], limit: int) -> list[Example]:
    """The pool's bound: the ``limit`` most recent examples, most recent first (then by task, for one order)."""
    return sorted(examples, key=lambda example: (-example.updated_at, example.task_id))[:limit]


def snapshot_json(examples: Sequence[Example]) -> tuple[str, str]:
    """A snapshot as stored: its version and its examples as one JSON list."""
    return snapshot_version(examples), "[" + ",".join(example.to_json() for example in examples) + "]"


def snapshot_of(text: str | None) -> list[Example]:
    return [Example(**item) for item in json.loads(text or "[]")]


class SQLiteState:
    """``ProjectState`` in one SQLite file under ``model_dir``, shared by the workers of one host."""

    def __init__(self, model_dir: str | Path) -> None:
        directory = Path(model_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / STATE_FILE_NAME
        self.path.touch(mode=0o600, exist_ok=True)
        os.chmod(self.path, 0o600)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10.0)
        try:
            with db:
                yield db
        finally:
            db.close()

    def get(self, project: str) -> ProjectRecord:
        with self._connect() as db:
            row = db.execute(
                "SELECT prompt, extra_params, label_config FROM projects WHERE project = ?", (project,)
            ).fetchone()
        if row is None:
            return ProjectRecord()
        return ProjectRecord(prompt=row[0], extra_params=json.loads(row[1]), label_config=row[2])

    def save_setup(self, project: str, extra_params: dict[str, Any], label_config: str) -> None:
        """Remember what ``/setup`` was given; the stored prompt stays."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO projects (project, extra_params, label_config, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(project) DO UPDATE SET extra_params = excluded.extra_params, "
                "label_config = excluded.label_config, updated_at = excluded.updated_at",
                (project, json.dumps(extra_params), label_config, time.time()),
            )

    def save_prompt(self, project: str, prompt: str) -> None:
        """Remember the prompt people submitted last for this project."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO projects (project, prompt, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(project) DO UPDATE SET prompt = excluded.prompt, updated_at = excluded.updated_at",
                (project, prompt, time.time()),
            )

    def add_version(self, project: str, model_version: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO versions (project, model_version, created_at) VALUES (?, ?, ?)",
                (project, model_version, time.time()),
            )

    def versions(self, project: str) -> list[str]:
        """Every model version handed out for the project, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT model_version FROM versions WHERE project = ? ORDER BY created_at, model_version", (project,)
            ).fetchall()
        return [row[0] for row in rows]

    # few-shot examples

    @staticmethod
    def _pending(db: sqlite3.Connection, project: str, more: int) -> int:
        db.execute(
            "INSERT INTO example_pools (project, pending) VALUES (?, ?) "
            "ON CONFLICT(project) DO UPDATE SET pending = pending + excluded.pending",
            (project, more),
        )
        row = db.execute("SELECT pending FROM example_pools WHERE project = ?", (project,)).fetchone()
        return int(row[0])

    def save_example(self, project: str, example: Example) -> int:
        """Keep ``example`` as its task's (replacing an older one); returns the changes not yet published."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO examples (project, task_id, annotation_id, example, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (project, example.task_id, example.annotation_id, example.to_json(), example.updated_at),
            )
            return self._pending(db, project, 1)

    def drop_examples(self, project: str, annotation_ids: Sequence[int]) -> int:
        """Forget the examples these annotations made; returns the changes not yet published."""
        with self._connect() as db:
            dropped = db.executemany(
                "DELETE FROM examples WHERE project = ? AND annotation_id = ?",
                [(project, int(annotation_id)) for annotation_id in annotation_ids],
            ).rowcount
            return self._pending(db, project, max(dropped, 0))

    def replace_examples(self, project: str, examples: Sequence[Example]) -> None:
        """Make ``examples`` the whole live pool (``ls-langchain learn``)."""
        with self._connect() as db:
            db.execute("DELETE FROM examples WHERE project = ?", (project,))
            db.executemany(
                "INSERT OR REPLACE INTO examples (project, task_id, annotation_id, example, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(project, e.task_id, e.annotation_id, e.to_json(), e.updated_at) for e in examples],
            )
            self._pending(db, project, len(examples))

    def publish_examples(self, project: str, limit: int) -> str:
        """Publish the ``limit`` most recent examples as the snapshot predictions use (the older ones are dropped
        from the pool); returns the snapshot's version."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # no example may come in between reading the pool and publishing it
            rows = db.execute("SELECT example FROM examples WHERE project = ?", (project,)).fetchall()
            kept = most_recent([Example.from_json(row[0]) for row in rows], limit)
            db.execute(
                "DELETE FROM examples WHERE project = ? AND task_id NOT IN (SELECT value FROM json_each(?))",
                (project, json.dumps([example.task_id for example in kept])),
            )
            version, examples = snapshot_json(kept)
            db.execute(
                "INSERT INTO example_pools (project, version, examples, pending) VALUES (?, ?, ?, 0) "
                "ON CONFLICT(project) DO UPDATE SET version = excluded.version, examples = excluded.examples, "
                "pending = 0",
                (project, version, examples),
            )
        return version

    def pool_version(self, project: str) -> str | None:
        """The version of the published snapshot (None before the first)."""
        with self._connect() as db:
            row = db.execute("SELECT version FROM example_pools WHERE project = ?", (project,)).fetchone()
        return row[0] if row else None

    def published_examples(self, project: str) -> list[Example]:
        """The published snapshot, most recent first."""
        with self._connect() as db:
            row = db.execute("SELECT examples FROM example_pools WHERE project = ?", (project,)).fetchone()
        return snapshot_of(row[0] if row else None)
