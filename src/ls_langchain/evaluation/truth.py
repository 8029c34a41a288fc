"""Which answer counts as the truth for a task: pure functions over the annotations Label Studio returns.

``latest`` (the default): the task's ground-truth annotation if it has one, else its latest submitted annotation.
``ground-truth``: only ground-truth annotations; tasks without one have no truth. ``majority``: per control, the
answer most annotators gave (labels of a set and spans: those more than half of them chose); a tie is no truth.
Skipped annotations never count; each annotator counts once, with their latest annotation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ls_langchain.evaluation.controls import Compared, Evaluation, Value, value_of

__all__ = ["TRUTHS", "Truth", "answers", "by_annotator", "choose_truth", "is_set_family"]

Truth = Literal["latest", "ground-truth", "majority"]
TRUTHS: tuple[Truth, ...] = ("latest", "ground-truth", "majority")


def is_set_family(control: Compared) -> bool:
    """Whether an annotation that leaves the control empty answers "none applies" (sets of labels and of spans),
    rather than not answering it (one label, a number, a text)."""
    return control.family in (Evaluation.MULTI_LABEL, Evaluation.SPANS)


def _order(annotation: Mapping[str, Any]) -> tuple[str, int]:
    return str(annotation.get("updated_at") or annotation.get("created_at") or ""), int(annotation.get("id") or 0)


def by_annotator(annotations: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The latest submitted (not skipped) annotation of each annotator, oldest first."""
    latest: dict[Any, Mapping[str, Any]] = {}
    for annotation in sorted((a for a in annotations if not a.get("was_cancelled")), key=_order):
        who = annotation.get("completed_by")
        latest[who.get("id") if isinstance(who, dict) else who] = annotation
    return sorted(latest.values(), key=_order)


def answers(annotation: Mapping[str, Any], controls: Sequence[Compared]) -> dict[str, Value]:
    """What one annotation answers for each control (an empty set for a set control it left empty)."""
    found: dict[str, Value] = {}
    for control in controls:
        value = value_of(annotation.get("result"), control)
        if value is None and is_set_family(control):
            value = frozenset()
        if value is not None:
            found[control.name] = value
    return found


def _majority(values: Sequence[Value], control: Compared) -> Value | None:
    if is_set_family(control):
        counts = Counter(item for value in values for item in value)  # type: ignore[union-attr]
        return frozenset(item for item, n in counts.items() if n * 2 > len(values))  # type: ignore[return-value]
    top = Counter(values).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def choose_truth(
    annotations: Sequence[Mapping[str, Any]], controls: Sequence[Compared], truth: Truth
) -> tuple[dict[str, Value], Mapping[str, Any] | None] | None:
    """(the truth for each control it exists for, the annotation it came from, or None for a majority), or None
    when the task has no truth of this kind."""
    people = by_annotator(annotations)
    if not people:
        return None
    if truth == "majority":
        given = [answers(annotation, controls) for annotation in people]
        found = {}
        for control in controls:
            values = [g[control.name] for g in given if control.name in g]
            value = _majority(values, control) if values else None
            if value is not None:
                found[control.name] = value
        return found, None
    ground = [a for a in annotations if a.get("ground_truth") and not a.get("was_cancelled")]
    if ground:
        chosen = max(ground, key=_order)
    elif truth == "ground-truth":
        return None
    else:
        chosen = people[-1]
    return answers(chosen, controls), chosen
