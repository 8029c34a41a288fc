"""Model answers as Label Studio results: the prompt echoed, every response TextArea filled, Choices matched exactly.

A choice is only ever a label the answer names: exactly (structured output) or as a whole phrase in free text.
Single-choice tags get at most one label; an answer that names none, or several for a single choice, gets none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ANSWER_KEY", "answer_schema", "choices_from_structured", "choices_from_text", "regions"]

#: The property of the structured answer that holds the free-text response.
ANSWER_KEY = "answer"


def _is_multiple(tag: Any) -> bool:
    return bool(tag.attr.get("choice") == "multiple")


def answer_schema(choices: Sequence[Any]) -> dict[str, Any]:
    """A JSON schema for one answer: the response text and, per Choices tag, its label(s) from the exact list."""
    properties: dict[str, Any] = {ANSWER_KEY: {"type": "string", "description": "Your answer to the task directive."}}
    for tag in choices:
        labels = list(tag.labels)
        if _is_multiple(tag):
            properties[tag.name] = {
                "type": "array",
                "items": {"type": "string", "enum": labels},
                "description": f"Every label that applies, from: {', '.join(labels)}. Empty if none applies.",
            }
        else:
            properties[tag.name] = {
                "anyOf": [{"type": "string", "enum": labels}, {"type": "null"}],
                "description": f"The one label that applies, from: {', '.join(labels)}; null if none applies.",
            }
    return {
        "title": "labeled_answer",
        "description": "An answer to the task, with the labels it implies.",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def choices_from_structured(tag: Any, value: Any) -> list[str]:
    """The labels a structured answer gave for ``tag``, kept only when they are labels of the tag."""
    given = value if isinstance(value, list) else [value]
    picked = [label for label in tag.labels if label in given]
    return picked if _is_multiple(tag) or len(picked) == 1 else []


def choices_from_text(tag: Any, text: str) -> list[str]:
    """The labels named in free text as whole phrases (case-insensitive, longest first, no overlaps)."""
    taken: list[tuple[int, int]] = []
    found: set[str] = set()
    for label in sorted(tag.labels, key=len, reverse=True):
        for match in re.finditer(rf"(?<!\w){re.escape(label)}(?!\w)", text, flags=re.IGNORECASE):
            if all(match.end() <= start or match.start() >= end for start, end in taken):
                taken.append(match.span())
                found.add(label)
    picked = [label for label in tag.labels if label in found]
    return picked if _is_multiple(tag) or len(picked) == 1 else []


def regions(
    prompt_tag: Any,
    prompt: str,
    response_tags: Sequence[Any],
    answers: Sequence[str],
    chosen: Mapping[str, list[str]],
    choice_tags: Sequence[Any],
) -> list[dict[str, Any]]:
    """The ``result`` list of one prediction; a Choices tag with no label chosen is left out."""
    made = [tag.label(choices) for tag in choice_tags if (choices := chosen.get(tag.name))]
    if answers:
        made.extend(tag.label(text=list(answers)) for tag in response_tags)
    made.append(prompt_tag.label(text=[prompt]))
    return [json.loads(region.to_json()) for region in made]
