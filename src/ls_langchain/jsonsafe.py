"""``json_safe``: what a run holds, made JSON-serializable without ever raising, so logging never breaks a chain."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["json_safe"]


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps`` accepts: unknown objects become readable strings, never errors."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    if hasattr(value, "model_dump"):
        try:
            return json_safe(value.model_dump(mode="json"))
        except Exception:  # a pydantic model that cannot dump itself is shown by its repr
            return repr(value)
    return str(value)
