"""Model answers that are right in substance but not in the shape asked for, read as what they mean.

Many models (local ones, and any without structured output) answer a classification with the label alone, or
write JSON in a neighbouring shape: a taxonomy path as a list of steps, one label where a list was asked for, a
number as a string, the response text under the TextArea's name or wrapped as ``{"text": ...}``. Each control kind
says which shapes it accepts (``reshape``) and what prose names (``from_prose``); the values are then checked by
``structured.read_answer`` as strictly as ever. Anything else still fills nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ls_langchain.labeling import ConfigControl, kind_of
from ls_langchain.predictor.structured import ANSWER_KEY

__all__ = ["answer_text", "labels_in_prose", "reshape"]


def labels_in_prose(controls: Sequence[ConfigControl], text: str) -> dict[str, Any]:
    """The values a prose answer names: the whole text is one label (a single choice), or each of its lines is one
    (a multiple choice, a taxonomy). Controls it does not name are left out."""
    lines = [line for line in text.splitlines() if line.strip()]
    named = {tag.name: kind_of(tag).from_prose(tag, lines) for tag in controls} if lines else {}
    return {name: value for name, value in named.items() if value is not None}


def reshape(controls: Sequence[ConfigControl], answer: Mapping[str, Any]) -> dict[str, Any]:
    """``answer`` with each control's value in the shape its schema asks for, where a model plausibly wrote
    another."""
    shaped = dict(answer)
    for tag in controls:
        if tag.name in shaped:
            shaped[tag.name] = kind_of(tag).reshape(tag, shaped[tag.name])
    return shaped


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return _text_of(value.get("text"))
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return None


def answer_text(answer: Mapping[str, Any] | None, text: str, response_names: Sequence[str]) -> str:
    """The response text of one reply: ``answer``'s ``answer`` field (a string, ``{"text": ...}`` or a list of
    lines), else a value under a response TextArea's own name; the reply's whole text when it held no JSON."""
    if answer is None:
        return text
    for key in (ANSWER_KEY, *response_names):
        found = _text_of(answer.get(key))
        if found is not None:
            return found
    return ""
