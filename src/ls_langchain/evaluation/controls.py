"""The controls an evaluation compares, and their values in one annotation or prediction.

Isolated on purpose: the labeling model (``ls_langchain.labeling``) is gaining one typed description of a config with
a control-kind registry (each kind's ``evaluation`` family and ``value_from_result``); once it lands, this module
becomes a thin view of it. Until then it reads the config with the SDK's ``LabelInterface`` and nothing else does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from label_studio_sdk.label_interface import LabelInterface

from ls_langchain.errors import LabelingConfigError

__all__ = ["Compared", "Evaluation", "Value", "compared_controls", "value_of"]


class Evaluation(enum.Enum):
    """The family of metrics that compares a control's predictions with people's answers."""

    SINGLE_CHOICE = "single_choice"  # one label: Choices
    MULTI_LABEL = "multi_label"  # a set of labels or taxonomy paths: Choices choice="multiple", Taxonomy
    SCALAR = "scalar"  # a number: Rating, Number
    SPANS = "spans"  # a set of (label, start, end): Labels
    TEXT = "text"  # free text: TextArea


#: A control's value in one result: a label, a set of labels / paths / spans, a number or a text.
Value = str | float | frozenset[str] | frozenset[tuple[str, int, int]]

_TAGS = ("Choices", "Taxonomy", "Rating", "Number", "Labels", "TextArea")
_DEFAULT_SEPARATOR = " / "


@dataclass(frozen=True)
class Compared:
    """One control of the config that the evaluation compares."""

    name: str
    tag: str
    family: Evaluation
    labels: tuple[str, ...] = ()  # every label (Taxonomy: every selectable path, with ``separator``; Rating: 1..max)
    separator: str = _DEFAULT_SEPARATOR


def _family(tag: str, attrs: Mapping[str, Any]) -> Evaluation:
    if tag == "Choices":
        return Evaluation.MULTI_LABEL if attrs.get("choice") == "multiple" else Evaluation.SINGLE_CHOICE
    return {
        "Taxonomy": Evaluation.MULTI_LABEL,
        "Rating": Evaluation.SCALAR,
        "Number": Evaluation.SCALAR,
        "Labels": Evaluation.SPANS,
    }.get(tag, Evaluation.TEXT)


def _paths(node: Iterable[Any], prefix: tuple[str, ...], *, leaves_only: bool) -> Iterator[tuple[str, ...]]:
    """A Taxonomy's selectable paths: every ``Choice`` path, or only the leaves with ``leafsOnly="true"``."""
    for child in node:
        if child.tag == "Choice" and child.get("value") is not None:
            path = (*prefix, str(child.get("value")))
            if not (leaves_only and any(grandchild.tag == "Choice" for grandchild in child)):
                yield path
            yield from _paths(child, path, leaves_only=leaves_only)


def compared_controls(label_config: str) -> tuple[Compared, ...]:
    """The Choices, Taxonomy, Rating, Number, Labels and TextArea controls of a config, in document order."""
    try:
        interface = LabelInterface(label_config)
    except Exception as exc:  # the SDK raises lxml and its own legacy exception types
        lines = str(exc).strip().splitlines()
        raise LabelingConfigError(
            f"The project's labeling config cannot be read: {lines[0] if lines else type(exc).__name__}."
        ) from exc
    found = []
    for control in interface.controls:
        if control.tag not in _TAGS:
            continue
        attrs = control.attr or {}
        separator = str(attrs.get("pathSeparator") or _DEFAULT_SEPARATOR)
        if control.tag == "Taxonomy":
            [element] = [e for e in interface._tree.iter("Taxonomy") if e.get("name") == control.name]
            leaves_only = str(attrs.get("leafsOnly", "false")).lower() == "true"
            labels = tuple(separator.join(path) for path in _paths(element, (), leaves_only=leaves_only))
        elif control.tag == "Rating":  # every value people can give, so a chart lists the unused ones too
            labels = tuple(str(stars) for stars in range(1, int(attrs.get("maxRating") or 5) + 1))
        else:
            labels = tuple(str(label) for label in getattr(control, "labels", None) or ())
        found.append(Compared(str(control.name), str(control.tag), _family(control.tag, attrs), labels, separator))
    return tuple(found)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def value_of(result: Sequence[Mapping[str, Any]] | None, control: Compared) -> Value | None:
    """What ``control`` holds in one annotation's or prediction's result; None when it is not filled at all."""
    values = [item.get("value") or {} for item in result or () if item.get("from_name") == control.name]
    if control.family is Evaluation.SINGLE_CHOICE:
        chosen = [str(label) for value in values for label in value.get("choices") or ()]
        return chosen[0] if chosen else None
    if control.family is Evaluation.MULTI_LABEL:
        labels = {str(label) for value in values for label in value.get("choices") or ()}
        labels |= {
            control.separator.join(str(step) for step in path)
            for value in values
            for path in value.get("taxonomy") or ()
        }
        return frozenset(labels) or None
    if control.family is Evaluation.SCALAR:
        key = "rating" if control.tag == "Rating" else "number"
        numbers = [n for value in values if (n := _number(value.get(key))) is not None]
        return numbers[0] if numbers else None
    if control.family is Evaluation.SPANS:
        spans = {
            (str(label), int(value["start"]), int(value["end"]))
            for value in values
            if _number(value.get("start")) is not None and _number(value.get("end")) is not None
            for label in value.get("labels") or ()
        }
        return frozenset(spans) or None
    texts = [value.get("text") for value in values if value.get("text") is not None]
    if not texts:
        return None
    text = texts[0]
    return "\n".join(str(line) for line in text) if isinstance(text, list) else str(text)
