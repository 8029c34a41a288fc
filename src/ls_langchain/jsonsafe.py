"""``json_safe``: what a run holds, made JSON-serializable without ever raising, so logging never breaks a chain."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "json_safe", "readable", "text_of"]

# Exact types first: this runs on every logged call, and abstract-class checks cost more than the copying.
_PLAIN = frozenset({str, int, bool, type(None)})
#: How deep a run's values are kept; deeper ones (or a value that holds itself) are cut, with a note.
MAX_DEPTH = 100
_TOO_DEEP = f"[cut: nested deeper than {MAX_DEPTH} levels]"


def json_safe(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` that ``json.dumps`` accepts: unknown objects become readable strings, never errors."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if depth >= MAX_DEPTH:
        return _TOO_DEEP
    if kind is dict:
        return {key if type(key) is str else text_of(key): json_safe(item, depth + 1) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [json_safe(item, depth + 1) for item in value]
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    try:
        if isinstance(value, Mapping):
            return {text_of(key): json_safe(item, depth + 1) for key, item in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [json_safe(item, depth + 1) for item in value]
    except Exception:  # a container that fails while being read is shown by its text
        return text_of(value)
    return json_safe(readable(value), depth + 1)


def readable(value: Any) -> Any:
    """What stands for an object JSON cannot write: a pydantic model's dump, else its text (``json.dumps`` default)."""
    if hasattr(value, "model_dump"):
        try:
            return value.model_dump(mode="json")
        except Exception:  # a pydantic model that cannot dump itself is shown by its text
            pass
    return text_of(value)


def text_of(value: Any) -> str:
    """``str(value)``, else its repr, else its type's name: an object whose ``__str__`` raises still reads as text."""
    for convert in (str, repr):
        try:
            text = convert(value)
        except Exception:
            continue
        if type(text) is str:
            return text
    return f"<{type(value).__name__} object that cannot be shown>"
