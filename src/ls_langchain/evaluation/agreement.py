"""The human ceiling: how much people agree with each other on the tasks two or more of them annotated.

Per control, the share of pairs of annotators who gave the same answer (the same label, set of labels, number or
text; spans: the F1 of one's spans against the other's), beside the model's own agreement with people, and a
chance-corrected statistic: Cohen's kappa when no task has more than two annotators (the first and second annotator
of each task as the two raters), else Krippendorff's alpha (``krippendorff``), nominal for labels, interval for
numbers. A Rating or Number's kappa is quadratically weighted, so that near misses count as partly agreeing.
"""

from __future__ import annotations

import itertools
import warnings
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score

from ls_langchain.evaluation.controls import Compared, Evaluation, Value
from ls_langchain.evaluation.metrics import edit_ratio, rounded, span_counts

__all__ = ["HumanAgreement", "agreement_statistic", "model_agreement"]


def agreement_statistic(
    units: Sequence[Sequence[float]], *, level: Literal["nominal", "interval"]
) -> tuple[str, float | None]:
    """("cohen_kappa" or "krippendorff_alpha", its value) for units of two or more coded answers each; codes are
    label indices (``level="nominal"``) or numbers (``level="interval"``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined (NaN) is reported as None
        if all(len(unit) == 2 for unit in units):
            first, second = [u[0] for u in units], [u[1] for u in units]
            if level == "interval":
                ranks = {v: i for i, v in enumerate(sorted({*first, *second}))}
                first, second = [ranks[v] for v in first], [ranks[v] for v in second]
                weights = "quadratic"
            else:
                weights = None
            return "cohen_kappa", rounded(cohen_kappa_score(first, second, weights=weights))
        domain = sorted({v for unit in units for v in unit})
        if len(domain) < 2:  # alpha is undefined when everyone always gave the same answer
            return "krippendorff_alpha", None
        position = {v: i for i, v in enumerate(domain)}
        counts = np.zeros((len(units), len(domain)))
        for row, unit in enumerate(units):
            for v in unit:
                counts[row, position[v]] += 1
        alpha = krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
        return "krippendorff_alpha", rounded(alpha)


@dataclass
class HumanAgreement:
    """People's agreement on one control, one multiply-annotated task at a time."""

    control: Compared
    tasks: int = 0
    pairs: int = 0
    agreeing: float = 0.0  # pairs agreeing (spans: the sum of pairwise F1)
    edit_total: float = 0.0  # texts: the sum of pairwise edit ratios
    codes: dict[Any, int] = field(default_factory=dict)
    values: array[float] = field(default_factory=lambda: array("d"))
    ends: array[int] = field(default_factory=lambda: array("q", [0]))

    def add(self, answers: Sequence[Value]) -> None:
        """The answers of the task's annotators who filled the control (one each); fewer than two are ignored."""
        if len(answers) < 2:
            return
        self.tasks += 1
        family = self.control.family
        for a, b in itertools.combinations(answers, 2):
            self.pairs += 1
            if family is Evaluation.SPANS:
                exact, size_a, size_b, *_ = span_counts(a, b)  # type: ignore[arg-type]
                self.agreeing += 2 * exact / (size_a + size_b) if size_a + size_b else 1.0
            else:
                self.agreeing += a == b
            if family is Evaluation.TEXT:
                self.edit_total += edit_ratio(str(a), str(b))
        if family in (Evaluation.SINGLE_CHOICE, Evaluation.MULTI_LABEL):
            self.values.extend(self.codes.setdefault(a, len(self.codes)) for a in answers)
        elif family is Evaluation.SCALAR:
            self.values.extend(float(a) for a in answers)  # type: ignore[arg-type]
        self.ends.append(len(self.values))

    def figures(self) -> dict[str, Any] | None:
        """Tasks, pairs, the share agreeing, and kappa or alpha where the family has one; None without such tasks."""
        if not self.tasks:
            return None
        found: dict[str, Any] = {
            "tasks": self.tasks,
            "pairs": self.pairs,
            "agreement": rounded(self.agreeing / self.pairs),
        }
        if self.control.family is Evaluation.TEXT:
            found["mean_edit_ratio"] = rounded(self.edit_total / self.pairs)
        if len(self.values):
            units = [self.values[start:end] for start, end in itertools.pairwise(self.ends)]
            level: Literal["nominal", "interval"] = (
                "interval" if self.control.family is Evaluation.SCALAR else "nominal"
            )
            found["statistic"], found["value"] = agreement_statistic(units, level=level)
        return found


def model_agreement(figures: Mapping[str, Any], family: Evaluation) -> float | None:
    """The model's figure that matches people's ``agreement``: the share of its answers equal to people's."""
    key = {
        Evaluation.SINGLE_CHOICE: ("accuracy",),
        Evaluation.MULTI_LABEL: ("exact_match",),
        Evaluation.SCALAR: ("exact",),
        Evaluation.SPANS: ("exact", "f1"),
        Evaluation.TEXT: ("accepted_unchanged",),
    }[family]
    found: Any = figures
    for step in key:
        found = found.get(step) if isinstance(found, Mapping) else None
    return found if isinstance(found, float) else None
