"""``json_safe``: what a run holds, made JSON-serializable without ever raising, so logging never breaks a chain."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["json_safe", "readable"]

# Exact types first: this runs on every logged call, and abstract-class checks cost more than the copying.
_PLAIN = frozenset({str, int, bool, type(None)})


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps`` accepts: unknown objects become readable strings, never errors."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {key if type(key) is str else str(key): json_safe(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [json_safe(item) for item in value]
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    return json_safe(readable(value))


def readable(value: Any) -> Any:
    """What stands for an object JSON cannot write: a pydantic model's dump, else its text (``json.dumps`` default)."""
    if hasattr(value, "model_dump"):
        try:
            return value.model_dump(mode="json")
        except Exception:  # a pydantic model that cannot dump itself is shown by its repr
            return repr(value)
    return str(value)
