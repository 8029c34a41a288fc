"""``ProjectState`` in Redis (``STATE_URL=redis://...``), so that replicas on several hosts share one state.

Per project, a hash holds the prompt, extra params and labeling config, and a sorted set the model versions by the
time they were first handed out. Every Redis error leaves as a ``StateError`` naming the server, never its password.
The extra params may hold an API key: give Redis a password and TLS (``rediss://``) outside a private network.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from ls_langchain.errors import StateError
from ls_langchain.predictor.state import ProjectRecord

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
