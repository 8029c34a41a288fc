"""The user's ``mask``: applied to every text a record holds (prompt, messages, responses, tool calls, meta) before the
record is written anywhere. A mask that fails or returns something other than text masks the value fully."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ls_langchain.jsonsafe import json_safe
from ls_langchain.tasks import RunRecord

__all__ = ["MASKED", "Mask", "mask_record"]

Mask = Callable[[str], str]
#: What a value becomes when the mask raised on it (or did not return a string).
MASKED = "[masked]"


class _Masker:
    """Applies ``mask`` to every string in nested dicts and lists, counting the values it had to mask fully."""

    def __init__(self, mask: Mask) -> None:
        self.mask = mask
        self.failures = 0

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                masked = self.mask(value)
            except Exception:
                masked = None
            if not isinstance(masked, str):
                self.failures += 1
                return MASKED
            return masked
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self(item) for item in value]
        return value


def mask_record(record: RunRecord, mask: Mask) -> tuple[RunRecord, int]:
    """The record with ``mask`` applied to all its text but its id; also how many values were masked fully."""
    masker = _Masker(mask)
    # Objects become their text first, so that no text reaches the outbox unmasked.
    fields = {
        field.name: masker(json_safe(getattr(record, field.name)))
        for field in dataclasses.fields(record)
        if field.name != "id"
    }
    return dataclasses.replace(record, **fields), masker.failures
