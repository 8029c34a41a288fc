"""Which ``ProjectState`` a backend keeps: SQLite under ``MODEL_DIR``, or Redis when ``STATE_URL`` names one.

Apart from ``state.py`` (the contract and the SQLite store) and ``redis_state.py`` so that neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

from ls_langchain.errors import ConfigurationError
from ls_langchain.predictor.state import ProjectState, SQLiteState

__all__ = ["open_state"]


def open_state(model_dir: str | Path, state_url: str | None) -> ProjectState:
    """The store ``STATE_URL`` names (``redis://``, ``rediss://``, ``unix://``), else SQLite under ``MODEL_DIR``."""
    if not state_url:
        return SQLiteState(model_dir)
    if state_url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        from ls_langchain.predictor.redis_state import RedisState  # redis comes with the server extra only

        return RedisState(state_url)
    raise ConfigurationError(
        "STATE_URL must be a redis://, rediss:// or unix:// URL (or unset for SQLite under MODEL_DIR), "
        f"got one starting with {state_url.split(':', 1)[0]!r}."
    )
