"""One JSON schema for every control a config fills, and the model's answer checked against it, control by control.

Each control's schema and the reading of its value come from its entry in ``labeling.CONTROL_KINDS``; the response
TextAreas share the ``answer`` property. A value that does not validate makes no region: its reason is returned
instead, so that nothing is ever guessed. ``answer_of`` goes the other way (each kind's ``answer_from``): a person's
annotation as the answer the model would have given, for few-shot examples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ls_langchain.labeling import ConfigControl, kind_of

__all__ = ["ANSWER_KEY", "Verdict", "answer_of", "answer_schema", "json_in_text", "read_answer"]

#: The property of the structured answer that holds the free-text response.
ANSWER_KEY = "answer"


@dataclass(frozen=True)
class Verdict:
    """What an answer gave: the Label Studio regions it validates into, and why each other control got none."""

    regions: list[dict[str, Any]]
    reasons: dict[str, str]


def answer_schema(controls: Sequence[ConfigControl], *, with_answer: bool) -> dict[str, Any]:
    """The JSON schema of one answer: the response text (when the config has a response TextArea) and each control."""
    properties: dict[str, Any] = {}
    if with_answer:
        properties[ANSWER_KEY] = {"type": "string", "description": "Your answer to the task directive."}
    for control in controls:
        properties[control.name] = kind_of(control).schema(control)
    return {
        "title": "labeled_answer",
        "description": "An answer to the task, with the labels it implies.",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def json_in_text(text: str) -> dict[str, Any] | None:
    """The JSON object a model without structured output wrote (code fences and prose around it allowed)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def read_answer(controls: Sequence[ConfigControl], answer: Mapping[str, Any], text_of: Mapping[str, str]) -> Verdict:
    """The regions of every control ``answer`` fills validly; ``text_of`` maps object names to their text."""
    regions: list[dict[str, Any]] = []
    reasons: dict[str, str] = {}
    for control in controls:
        if control.name not in answer:
            reasons[control.name] = "the answer has no value for it"
            continue
        made, reason = kind_of(control).read(control, answer[control.name], text_of)
        regions.extend(made)
        if reason:
            reasons[control.name] = reason
    return Verdict(regions=regions, reasons=reasons)


def answer_of(
    controls: Sequence[ConfigControl], responses: Sequence[ConfigControl], result: Sequence[Any]
) -> dict[str, Any] | None:
    """An annotation's ``result`` written in the answer schema (the response TextArea's text and each control), or
    None when it answers nothing: a result that only holds the prompt teaches the model nothing."""
    values: dict[str, list[Mapping[str, Any]]] = {}
    for item in result:
        if isinstance(item, Mapping) and isinstance(item.get("value"), Mapping):
            values.setdefault(str(item.get("from_name")), []).append(item["value"])
    answer: dict[str, Any] = {}
    if responses:
        answer[ANSWER_KEY] = kind_of(responses[0]).answer_from(responses[0], values.get(responses[0].name, []))
    for control in controls:
        answer[control.name] = kind_of(control).answer_from(control, values.get(control.name, []))
    return answer if any(value not in (None, "", []) for value in answer.values()) else None
