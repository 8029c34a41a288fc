"""One JSON schema for every control a config fills, and the model's answer checked against it, control by control.

The controls filled are ``Choices``, ``Taxonomy`` (paths written with the tag's ``pathSeparator``), ``Rating``,
``Number`` and ``Labels`` on a ``Text``; the response TextAreas share the ``answer`` property. Schemas start from
the SDK's ``to_json_schema()``. A value that does not validate makes no region: its reason is returned instead,
so that nothing is ever guessed. Label spans are quoted by the model and located in the text here, so their
offsets always match the text (model offsets are not trusted). ``answer_of`` goes the other way: a person's
annotation as the answer the model would have given, for few-shot examples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANSWER_KEY",
    "FILLABLE_TAGS",
    "Verdict",
    "answer_of",
    "answer_schema",
    "json_in_text",
    "read_answer",
    "taxonomy_paths",
]

#: The property of the structured answer that holds the free-text response.
ANSWER_KEY = "answer"
#: The control tags this module fills (TextAreas go through ``ANSWER_KEY``).
FILLABLE_TAGS = ("Choices", "Taxonomy", "Rating", "Number", "Labels")
_DEFAULT_SEPARATOR = " / "
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class Verdict:
    """What an answer gave: the Label Studio regions it validates into, and why each other control got none."""

    regions: list[dict[str, Any]]
    reasons: dict[str, str]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    description = schema.pop("description", None)
    wrapped: dict[str, Any] = {"anyOf": [schema, {"type": "null"}]}
    if description:
        wrapped["description"] = description
    return wrapped


def taxonomy_paths(interface: Any, tag: Any) -> dict[str, tuple[str, ...]]:
    """The selectable paths of a Taxonomy as written for the model (``A: B``), each with its path as a tuple.

    The SDK flattens a taxonomy's labels, so the nesting is read from the element tree the SDK parsed. Leaves only
    unless ``leafsOnly="false"``.
    """
    separator = tag.attr.get("pathSeparator", _DEFAULT_SEPARATOR)
    leaves_only = str(tag.attr.get("leafsOnly", "false")).lower() == "true"
    [element] = [e for e in interface._tree.iter("Taxonomy") if e.get("name") == tag.name]
    paths: dict[str, tuple[str, ...]] = {}

    def walk(node: Any, prefix: tuple[str, ...]) -> None:
        for child in node:
            if child.tag != "Choice" or child.get("value") is None:
                continue
            path = (*prefix, str(child.get("value")))
            has_children = any(grandchild.tag == "Choice" for grandchild in child)
            if not (leaves_only and has_children):
                paths[separator.join(path)] = path
            walk(child, path)

    walk(element, ())
    return paths


def _control_schema(interface: Any, tag: Any) -> dict[str, Any]:
    """The JSON schema of one control's value, from the SDK's where it fits the way we ask."""
    if tag.tag == "Choices":
        schema: dict[str, Any] = tag.to_json_schema()
        multiple = tag.attr.get("choice") == "multiple"
        schema["description"] = (
            f"{tag.name}: every label that applies (empty if none)"
            if multiple
            else f"{tag.name}: the one label that applies, or null if none does"
        )
        return schema if multiple else _nullable(schema)
    if tag.tag == "Taxonomy":
        return {
            "type": "array",
            "items": {"type": "string", "enum": list(taxonomy_paths(interface, tag))},
            "description": f"{tag.name}: every category that applies, as its full path (empty if none)",
        }
    if tag.tag == "Rating":
        schema = {**tag.to_json_schema(), "minimum": 1}
        schema["description"] = f"{tag.name}: a rating from 1 to {schema['maximum']}, or null to leave it unrated"
        return _nullable(schema)
    if tag.tag == "Number":
        schema = tag.to_json_schema()
        schema["description"] = f"{tag.name}: a number, or null when the text gives none"
        return _nullable(schema)
    # Labels: the model quotes each span; offsets are found in the text, never taken from the model.
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "label": {"type": "string", "enum": list(tag.labels)},
                "text": {"type": "string", "description": "the span, quoted exactly as it appears in the text"},
            },
            "required": ["label", "text"],
            "additionalProperties": False,
        },
        "description": f"{tag.name}: every span of the text to label, each an exact quote with its label",
    }


def answer_schema(interface: Any, controls: Sequence[Any], *, with_answer: bool) -> dict[str, Any]:
    """The JSON schema of one answer: the response text (when the config has a response TextArea) and each control."""
    properties: dict[str, Any] = {}
    if with_answer:
        properties[ANSWER_KEY] = {"type": "string", "description": "Your answer to the task directive."}
    for tag in controls:
        properties[tag.name] = _control_schema(interface, tag)
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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _spans(text: str, quote: str) -> list[tuple[int, int]]:
    """Where ``quote`` occurs in ``text`` as whole words at its edges: exactly, else ignoring case."""
    for flags in (0, re.IGNORECASE):
        found = []
        for match in re.finditer(re.escape(quote), text, flags):
            start, end = match.span()
            cut_before = _WORD.match(quote[0]) and start > 0 and _WORD.match(text[start - 1])
            cut_after = _WORD.match(quote[-1]) and end < len(text) and _WORD.match(text[end])
            if not (cut_before or cut_after):
                found.append((start, end))
        if found:
            return found
    return []


def _region(tag: Any, **value: Any) -> dict[str, Any]:
    region: dict[str, Any] = json.loads(tag.label(**value).to_json())
    return region


def _one(interface: Any, tag: Any, value: Any, text_of: Mapping[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """The regions one control's value makes, or none and the reason."""
    kind = tag.tag
    if kind == "Choices":
        labels = list(tag.labels)
        if tag.attr.get("choice") == "multiple":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return [], f"expected a list of labels, got {json.dumps(value)[:80]}"
            unknown = [v for v in value if v not in labels]
            if unknown:
                return [], f"{', '.join(map(repr, unknown))} not among its labels"
            chosen = [label for label in labels if label in value]
            return ([_region(tag, choices=chosen)] if chosen else []), None
        if value is None:
            return [], None
        if value not in labels:
            return [], f"{json.dumps(value)[:80]} is not one of its labels"
        return [_region(tag, choices=[value])], None
    if kind == "Taxonomy":
        paths = taxonomy_paths(interface, tag)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return [], f"expected a list of category paths, got {json.dumps(value)[:80]}"
        unknown = [v for v in value if v not in paths]
        if unknown:
            return [], f"{', '.join(map(repr, unknown))} not among its category paths"
        chosen = [list(paths[v]) for v in dict.fromkeys(value)]
        return ([_region(tag, taxonomy=chosen)] if chosen else []), None
    if kind == "Rating":
        top = int(tag.attr.get("maxRating", 5))
        if value is None:
            return [], None
        if not _is_number(value) or value != int(value) or not 1 <= value <= top:
            return [], f"{json.dumps(value)[:80]} is not a whole rating from 1 to {top}"
        return [_region(tag, rating=int(value))], None
    if kind == "Number":
        if value is None:
            return [], None
        low, high = (tag.attr.get(bound) for bound in ("min", "max"))
        if (
            not _is_number(value)
            or (low is not None and value < float(low))
            or (high is not None and value > float(high))
        ):
            return [], f"{json.dumps(value)[:80]} is not a number within [{low}, {high}]"
        return [_region(tag, number=value)], None
    return _label_spans(tag, value, text_of)


def _label_spans(tag: Any, value: Any, text_of: Mapping[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """Label regions for the quoted spans found in the text; each span that is not found is a reason."""
    text = text_of.get(tag.to_name[0])
    if text is None:
        return [], f"its object {tag.to_name[0]!r} holds no plain text to locate spans in"
    if not isinstance(value, list):
        return [], f"expected a list of spans, got {json.dumps(value)[:80]}"
    made: dict[tuple[int, int, str], dict[str, Any]] = {}
    problems = []
    for item in value:
        label, quote = (item.get("label"), item.get("text")) if isinstance(item, Mapping) else (None, None)
        if label not in tag.labels or not isinstance(quote, str) or not quote.strip():
            problems.append(f"{json.dumps(item)[:60]} is not a label and a quote")
            continue
        spans = _spans(text, quote.strip())
        if not spans:
            problems.append(f"{quote[:40]!r} does not occur in the text")
        for start, end in spans:
            region = _region(tag, label=[label], start=start, end=end)
            region["value"]["text"] = text[start:end]
            made.setdefault((start, end, str(label)), region)
    return list(made.values()), "; ".join(problems) or None


def read_answer(
    interface: Any, controls: Sequence[Any], answer: Mapping[str, Any], text_of: Mapping[str, str]
) -> Verdict:
    """The regions of every control ``answer`` fills validly; ``text_of`` maps object names to their text."""
    regions: list[dict[str, Any]] = []
    reasons: dict[str, str] = {}
    for tag in controls:
        if tag.name not in answer:
            reasons[tag.name] = "the answer has no value for it"
            continue
        made, reason = _one(interface, tag, answer[tag.name], text_of)
        regions.extend(made)
        if reason:
            reasons[tag.name] = reason
    return Verdict(regions=regions, reasons=reasons)


def _control_answer(tag: Any, values: Sequence[Mapping[str, Any]]) -> Any:
    """One control's value in the answer schema, from the ``value`` objects of its regions in an annotation."""
    kind = tag.tag
    if kind == "Choices":
        chosen = [str(label) for value in values for label in value.get("choices") or ()]
        if tag.attr.get("choice") == "multiple":
            return chosen
        return chosen[0] if chosen else None
    if kind == "Taxonomy":
        separator = tag.attr.get("pathSeparator", _DEFAULT_SEPARATOR)
        paths = [separator.join(map(str, path)) for value in values for path in value.get("taxonomy") or ()]
        return list(dict.fromkeys(paths))
    if kind in ("Rating", "Number"):
        found = [value[kind.lower()] for value in values if _is_number(value.get(kind.lower()))]
        return found[0] if found else None
    # Labels: each span quoted once, as the model is asked to write it (a quote marks every place it occurs).
    spans = {
        (str(label), str(value["text"])): None
        for value in values
        for label in value.get("labels") or ()
        if value.get("text")
    }
    return [{"label": label, "text": text} for label, text in spans]


def answer_of(controls: Sequence[Any], responses: Sequence[Any], result: Sequence[Any]) -> dict[str, Any] | None:
    """An annotation's ``result`` written in the answer schema (the response TextArea's text and each control), or
    None when it answers nothing: a result that only holds the prompt teaches the model nothing."""
    values: dict[str, list[Mapping[str, Any]]] = {}
    for item in result:
        if isinstance(item, Mapping) and isinstance(item.get("value"), Mapping):
            values.setdefault(str(item.get("from_name")), []).append(item["value"])
    answer: dict[str, Any] = {}
    if responses:
        texts = [t for v in values.get(responses[0].name, ()) for t in _texts(v.get("text"))]
        answer[ANSWER_KEY] = "\n".join(texts)
    for tag in controls:
        answer[tag.name] = _control_answer(tag, values.get(tag.name, ()))
    return answer if any(value not in (None, "", []) for value in answer.values()) else None


def _texts(text: Any) -> list[str]:
    return [text] if isinstance(text, str) else [str(t) for t in text or ()]
