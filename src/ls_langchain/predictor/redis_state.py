"""``ProjectState`` in Redis (``STATE_URL=redis://...``), so that replicas on several hosts share one state.

Per project, a hash holds the prompt, extra params and labeling config, a sorted set the model versions by the
time they were first handed out, a hash the few-shot examples by task, and a hash the published snapshot. Every
Redis error leaves as a ``StateError`` naming the server, never its password. The extra params may hold an API
key: give Redis a password and TLS (``rediss://``) outside a private network.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from ls_langchain.errors import StateError
from ls_langchain.predictor.examples import Example
from ls_langchain.predictor.state import ProjectRecord, most_recent, snapshot_json, snapshot_of

__all__ = ["RedisState"]

_PREFIX = "ls_langchain:predictor"


class RedisState:
    """Per-project prompt, extra params, labeling config and model versions in Redis."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        try:
            self._redis = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
            )
        except ValueError as exc:
            raise StateError(f"STATE_URL is not a Redis URL Redis accepts: {exc}") from None
        kwargs = self._redis.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        self.where = f"redis at {where} db {kwargs.get('db', 0)}"
        with self._translated("connecting"):
            self._redis.ping()

    def __repr__(self) -> str:
        return f"RedisState({self.where})"  # never the password

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except redis.AuthenticationError as exc:
            raise StateError(f"The shared state store ({self.where}) refused the password in STATE_URL.") from exc
        except redis.RedisError as exc:
            raise StateError(
                f"The shared state store ({self.where}) failed while {action}: {type(exc).__name__}; "
                "is Redis running, and is STATE_URL right?"
            ) from exc

    @staticmethod
    def _keys(project: str) -> tuple[str, str]:
        return f"{_PREFIX}:project:{project}", f"{_PREFIX}:versions:{project}"

    def get(self, project: str) -> ProjectRecord:
        key, _ = self._keys(project)
        with self._translated(f"reading project {project}"):
            row: dict[str, Any] = self._redis.hgetall(key)  # type: ignore[assignment]
        return ProjectRecord(
            prompt=row.get("prompt"),
            extra_params=json.loads(row.get("extra_params") or "{}"),
            label_config=row.get("label_config"),
        )

    def save_setup(self, project: str, extra_params: dict[str, Any], label_config: str) -> None:
        """Remember what ``/setup`` was given; the stored prompt stays."""
        key, _ = self._keys(project)
        mapping: dict[FieldT, EncodableT] = {
            "extra_params": json.dumps(extra_params),
            "label_config": label_config,
            "updated_at": time.time(),
        }
        with self._translated(f"saving the setup of project {project}"):
            self._redis.hset(key, mapping=mapping)

    def save_prompt(self, project: str, prompt: str) -> None:
        """Remember the prompt people submitted last for this project."""
        key, _ = self._keys(project)
        with self._translated(f"saving the prompt of project {project}"):
            self._redis.hset(key, mapping={"prompt": prompt, "updated_at": time.time()})

    def add_version(self, project: str, model_version: str) -> None:
        _, key = self._keys(project)
        with self._translated(f"saving a model version of project {project}"):
            self._redis.zadd(key, {model_version: time.time()}, nx=True)

    def versions(self, project: str) -> list[str]:
        """Every model version handed out for the project, oldest first."""
        _, key = self._keys(project)
        with self._translated(f"reading the model versions of project {project}"):
            return list(self._redis.zrange(key, 0, -1))  # type: ignore[arg-type]

    # few-shot examples: a hash of examples by task id, and a hash with the snapshot, its version and the changes
    # that wait to be published

    @staticmethod
    def _example_keys(project: str) -> tuple[str, str]:
        return f"{_PREFIX}:examples:{project}", f"{_PREFIX}:pool:{project}"

    def save_example(self, project: str, example: Example) -> int:
        """Keep ``example`` as its task's (replacing an older one); returns the changes not yet published."""
        examples, pool = self._example_keys(project)
        with self._translated(f"saving an example of project {project}"):
            pipe = self._redis.pipeline()
            pipe.hset(examples, str(example.task_id), example.to_json())
            pipe.hincrby(pool, "pending", 1)
            return int(pipe.execute()[-1])

    def drop_examples(self, project: str, annotation_ids: Sequence[int]) -> int:
        """Forget the examples these annotations made; returns the changes not yet published."""
        examples, pool = self._example_keys(project)
        wanted = {int(annotation_id) for annotation_id in annotation_ids}
        with self._translated(f"dropping examples of project {project}"):
            stored: dict[str, str] = self._redis.hgetall(examples)  # type: ignore[assignment]
            tasks = [task for task, text in stored.items() if Example.from_json(text).annotation_id in wanted]
            pipe = self._redis.pipeline()
            if tasks:
                pipe.hdel(examples, *tasks)
            pipe.hincrby(pool, "pending", len(tasks))
            return int(pipe.execute()[-1])

    def replace_examples(self, project: str, examples: Sequence[Example]) -> None:
        """Make ``examples`` the whole live pool (``ls-langchain learn``)."""
        key, pool = self._example_keys(project)
        with self._translated(f"saving the examples of project {project}"):
            pipe = self._redis.pipeline()
            pipe.delete(key)
            if examples:
                pipe.hset(key, mapping={str(example.task_id): example.to_json() for example in examples})
            pipe.hincrby(pool, "pending", len(examples))
            pipe.execute()

    def publish_examples(self, project: str, limit: int) -> str:
        """Publish the ``limit`` most recent examples as the snapshot predictions use (the older ones are dropped
        from the pool); returns the snapshot's version."""
        key, pool = self._example_keys(project)
        with self._translated(f"publishing the examples of project {project}"):
            pipe = self._redis.pipeline()
            pipe.hgetall(key)
            pipe.hget(pool, "pending")
            stored, pending = pipe.execute()
            everything = [Example.from_json(text) for text in stored.values()]
            kept = most_recent(everything, limit)
            dropped = {str(example.task_id) for example in everything} - {str(example.task_id) for example in kept}
            version, snapshot = snapshot_json(kept)
            pipe = self._redis.pipeline()
            if dropped:
                pipe.hdel(key, *dropped)
            pipe.hset(pool, mapping={"version": version, "examples": snapshot})
            # Changes that came in meanwhile stay counted for the next snapshot.
            pipe.hincrby(pool, "pending", -int(pending or 0))
            pipe.execute()
        return version

    def pool_version(self, project: str) -> str | None:
        """The version of the published snapshot (None before the first)."""
        _, pool = self._example_keys(project)
        with self._translated(f"reading the examples of project {project}"):
            version: str | None = self._redis.hget(pool, "version")  # type: ignore[assignment]
        return version

    def published_examples(self, project: str) -> list[Example]:
        """The published snapshot, most recent first."""
        _, pool = self._example_keys(project)
        with self._translated(f"reading the examples of project {project}"):
            text: str | None = self._redis.hget(pool, "examples")  # type: ignore[assignment]
        return snapshot_of(text)
