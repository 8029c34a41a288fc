"""Model answers as one Label Studio prediction: the prompt echoed, every response TextArea filled, the controls
the answer filled validly, and a ``meta`` that says what the calls used and why any control was left empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ls_langchain.labeling import ConfigControl

__all__ = ["prediction", "regions"]


def regions(
    prompt_tag: ConfigControl | None,
    prompt: str,
    response_tags: Sequence[ConfigControl],
    answers: Sequence[str],
    filled: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The ``result`` list of one prediction: the controls' regions, the responses, then the prompt (when the
    config has a TextArea for it)."""
    made = list(filled)
    if answers:
        made.extend(tag.region(text=list(answers)) for tag in response_tags)
    if prompt_tag is not None:
        made.append(prompt_tag.region(text=[prompt]))
    return made


def prediction(
    result: list[dict[str, Any]],
    model_version: str,
    *,
    usage: Mapping[str, Any] | None = None,
    unfilled: Mapping[str, str] | None = None,
    error: str | None = None,
    error_status: int | None = None,
) -> dict[str, Any]:
    """A prediction as the ML backend returns it; ``meta`` only holds what is known.

    A failed task has an ``error`` line and ``error_status``, the HTTP status it maps to: 422 when the task or
    prompt cannot be used, 502 when the model provider failed, 504 when time ran out, 500 for a bug.
    """
    made: dict[str, Any] = {"result": result, "model_version": model_version}
    meta: dict[str, Any] = dict(usage or {})
    if unfilled:
        meta["unfilled"] = dict(unfilled)
    if meta:
        made["meta"] = meta
    if error is not None:
        made["error"] = error
        made["error_status"] = error_status or 500
    return made
