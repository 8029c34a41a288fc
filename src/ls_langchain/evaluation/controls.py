"""The controls an evaluation compares, and their values in one annotation or prediction.

A view of the labeling model: ``compared_controls`` reads ``labeling.parse_config`` and takes each control's
``Evaluation`` family and its reading of result items from its entry in ``labeling.CONTROL_KINDS``; controls
without one (Ranker, region tools) are not compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ls_langchain.labeling import ConfigControl, Evaluation, parse_config

__all__ = ["Compared", "Evaluation", "Value", "compared_controls", "value_of"]

#: A control's value in one result: a label, a set of labels / paths / spans, a number or a text.
Value = str | int | float | frozenset[str] | frozenset[tuple[str, int, int]]


@dataclass(frozen=True)
class Compared:
    """One control of the config that the evaluation compares, with the labeling model's control it views."""

    control: ConfigControl
    family: Evaluation
    labels: tuple[str, ...] = ()  # every label (Taxonomy: every selectable path, with its separator; Rating: 1..max)

    @property
    def name(self) -> str:
        """The control's name (``from_name`` in results)."""
        return self.control.name

    @property
    def tag(self) -> str:
        """The control's tag."""
        return self.control.tag


def compared_controls(label_config: str) -> tuple[Compared, ...]:
    """The controls of a config that have a control kind (Choices, Taxonomy, Rating, Number, Labels, TextArea), in
    document order."""
    return tuple(
        Compared(control, control.kind.evaluation(control), control.kind.values(control))
        for control in parse_config(label_config).controls
        if control.kind is not None
    )


def value_of(result: Sequence[Mapping[str, Any]] | None, control: Compared) -> Value | None:
    """What ``control`` holds in one annotation's or prediction's result; None when it is not filled at all. Sets
    (labels, paths, spans) are the union of the control's result items; a label, number or text is the first."""
    kind = control.control.kind
    assert kind is not None  # compared_controls keeps only controls with a kind
    values = [
        kind.value_from_result(control.control, item) for item in result or () if item.get("from_name") == control.name
    ]
    sets: list[frozenset[Any]] = [value for value in values if isinstance(value, frozenset)]
    if sets:
        union: Value = frozenset().union(*sets)
        return union or None
    return next((value for value in values if value is not None), None)
