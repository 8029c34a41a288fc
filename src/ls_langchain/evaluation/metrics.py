"""The figures that compare a model's predictions of one control with people's answers, one table by family.

Each family has a ``Tally``: it takes one task at a time (``add``) and keeps only a few numbers per task (label codes,
errors, span counts), never the task itself, so an evaluation's memory grows by bytes per task. ``figures()`` computes
the report's figures with scikit-learn; ``per_task()`` gives the per-task columns a comparison of two model versions
resamples. The pure functions (``single_choice_figures``, ``multi_label_figures``, ...) are what the tallies call.
"""

from __future__ import annotations

import difflib
import warnings
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    precision_recall_fscore_support,
)

from ls_langchain.evaluation.controls import Compared, Evaluation, Value

__all__ = [
    "TALLIES",
    "Columns",
    "Tally",
    "edit_ratio",
    "multi_label_figures",
    "rounded",
    "scalar_figures",
    "single_choice_figures",
    "span_counts",
    "spans_figures",
    "tally_for",
    "text_figures",
]

Columns = dict[str, NDArray[Any]]
_DIGITS = 4


def rounded(value: float | None) -> float | None:
    """A figure as the report shows it: four decimals, and None for an undefined one (NaN)."""
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), _DIGITS)


def edit_ratio(original: str, final: str) -> float:
    """How much of the answer was changed: 0.0 for unchanged, 1.0 for nothing in common (1 - difflib similarity)."""
    return 1.0 - difflib.SequenceMatcher(None, original, final, autojunk=False).ratio()


def _kappa(truth: Sequence[Any], predicted: Sequence[Any], **kw: Any) -> float | None:
    """Cohen's kappa, or None where it is undefined (both sides used one and the same label throughout)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined (NaN) is reported as None
        return rounded(cohen_kappa_score(truth, predicted, **kw))


def _per_label(precision: Any, recall: Any, f1: Any, support: Any, labels: Sequence[str]) -> dict[str, Any]:
    return {
        label: {
            "precision": rounded(precision[i]),
            "recall": rounded(recall[i]),
            "f1": rounded(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }


def single_choice_figures(truth: Sequence[int], predicted: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, Cohen's kappa, macro-F1 (over the labels either side used), per-label precision / recall / F1 and
    the confusion matrix (rows: people's label, columns: the model's) of label codes indexing ``labels``."""
    codes = list(range(len(labels)))
    present = sorted({*truth, *predicted})
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=codes, zero_division=0)
    return {
        "accuracy": rounded(accuracy_score(truth, predicted)),
        "kappa": _kappa(truth, predicted, labels=codes),
        "macro_f1": rounded(f1_score(truth, predicted, labels=present, average="macro", zero_division=0)),
        "per_label": _per_label(precision, recall, f1, support, labels),
        "confusion": {"labels": list(labels), "matrix": confusion_matrix(truth, predicted, labels=codes).tolist()},
    }


def _jaccard_rows(truth: csr_matrix, predicted: csr_matrix) -> NDArray[np.float64]:
    both = np.asarray(truth.multiply(predicted).sum(axis=1)).ravel()
    either = np.asarray(truth.sum(axis=1)).ravel() + np.asarray(predicted.sum(axis=1)).ravel() - both
    ratio: NDArray[np.float64] = np.divide(both, either, out=np.ones_like(both, dtype=float), where=either > 0)
    return ratio


def multi_label_figures(truth: csr_matrix, predicted: csr_matrix, labels: Sequence[str]) -> dict[str, Any]:
    """Exact-set match, mean Jaccard, micro- and macro-F1 and per-label figures of label-indicator matrices (one row
    per task, one column per label of ``labels``); macro-F1 averages the labels either side used."""
    present = sorted(set(truth.indices) | set(predicted.indices))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=range(len(labels)), zero_division=0
    )
    same = np.asarray((truth != predicted).sum(axis=1)).ravel() == 0
    return {
        "exact_match": rounded(float(same.mean())),
        "mean_jaccard": rounded(float(_jaccard_rows(truth, predicted).mean())),
        "micro_f1": rounded(f1_score(truth, predicted, average="micro", zero_division=0)),
        "macro_f1": rounded(f1_score(truth, predicted, labels=present, average="macro", zero_division=0)),
        "per_label": _per_label(precision, recall, f1, support, labels),
    }


def scalar_figures(truth: NDArray[np.float64], predicted: NDArray[np.float64]) -> dict[str, Any]:
    """Mean absolute error, the share exactly equal, and the share within 1 of people's number."""
    error = np.abs(truth - predicted)
    return {
        "mae": rounded(mean_absolute_error(truth, predicted)),
        "exact": rounded(float((error == 0).mean())),
        "within_1": rounded(float((error <= 1).mean())),
        "mean_truth": rounded(float(truth.mean())),
        "mean_predicted": rounded(float(predicted.mean())),
    }


_SPAN_COUNTS = ("exact", "predicted", "truth", "predicted_overlapping", "truth_overlapping")


def span_counts(truth: frozenset[tuple[str, int, int]], predicted: frozenset[tuple[str, int, int]]) -> tuple[int, ...]:
    """(spans matched exactly, predicted spans, people's spans, predicted spans overlapping one of people's with
    the same label, people's spans overlapped by a predicted one with the same label)."""

    def overlaps(span: tuple[str, int, int], others: Iterable[tuple[str, int, int]]) -> bool:
        label, start, end = span
        return any(o_label == label and start < o_end and o_start < end for o_label, o_start, o_end in others)

    return (
        len(truth & predicted),
        len(predicted),
        len(truth),
        sum(overlaps(span, truth) for span in predicted),
        sum(overlaps(span, predicted) for span in truth),
    )


def _prf(matched_predicted: float, predicted: float, matched_truth: float, truth: float) -> dict[str, float | None]:
    precision = matched_predicted / predicted if predicted else None
    recall = matched_truth / truth if truth else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else (0.0 if truth else None)
    return {"precision": rounded(precision), "recall": rounded(recall), "f1": rounded(f1)}


def spans_figures(counts: NDArray[np.int64]) -> dict[str, Any]:
    """Precision, recall and F1 of spans over all tasks, exact (same label, start and end) and overlapping (same
    label, any overlap), from one row of ``span_counts`` per task."""
    exact, predicted, truth, predicted_overlapping, truth_overlapping = counts.sum(axis=0).tolist()
    return {
        "exact": _prf(exact, predicted, exact, truth),
        "overlap": _prf(predicted_overlapping, predicted, truth_overlapping, truth),
        "spans_predicted": predicted,
        "spans_truth": truth,
    }


def text_figures(ratios: NDArray[np.float64]) -> dict[str, Any]:
    """The share of answers people accepted unchanged, and the mean edit ratio (0 = unchanged)."""
    return {
        "accepted_unchanged": rounded(float((ratios == 0).mean())),
        "mean_edit_ratio": rounded(float(ratios.mean())),
    }


class Tally(Protocol):
    """Running figures of one model version on one control."""

    main: ClassVar[str]  # the figure a comparison of two versions is about
    higher_is_better: ClassVar[bool]

    def add(self, task: int, truth: Value, predicted: Value | None) -> None:
        """One task with people's value and the model's (None: the model left the control unfilled)."""

    def figures(self) -> dict[str, Any]:
        """The report's figures, with the counts of tasks they rest on."""

    def per_task(self) -> tuple[NDArray[np.int64], Columns]:
        """The answered tasks' ids and their per-task columns, for the comparison's resampling."""

    @staticmethod
    def statistic(columns: Columns, axis: int) -> NDArray[np.float64]:
        """The main figure from per-task columns (vectorised over ``axis``, as scipy's bootstrap calls it)."""


@dataclass
class _Base:
    """What every tally counts: the tasks with a truth, the answered ones (their ids) and the abstentions."""

    control: Compared
    tasks: int = 0
    ids: array[int] = field(default_factory=lambda: array("q"))

    def _counts(self) -> dict[str, Any]:
        answered = len(self.ids)
        return {
            "tasks": self.tasks,
            "answered": answered,
            "abstained": self.tasks - answered,
            "coverage": rounded(answered / self.tasks) if self.tasks else None,
        }


@dataclass
class _Codes:
    """Strings as small integer codes: a control's labels first, then any label seen that the config lacks."""

    names: list[str]
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {name: i for i, name in enumerate(self.names)}

    def __call__(self, name: str) -> int:
        code = self.index.get(name)
        if code is None:
            code = self.index[name] = len(self.names)
            self.names.append(name)
        return code


@dataclass
class SingleChoiceTally(_Base):
    """One label each side."""

    main: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    truth: array[int] = field(default_factory=lambda: array("i"))
    predicted: array[int] = field(default_factory=lambda: array("i"))
    codes: _Codes = field(init=False)

    def __post_init__(self) -> None:
        self.codes = _Codes(list(self.control.labels))

    def add(self, task: int, truth: Value, predicted: Value | None) -> None:
        self.tasks += 1
        if predicted is not None:
            self.ids.append(task)
            self.truth.append(self.codes(str(truth)))
            self.predicted.append(self.codes(str(predicted)))

    def figures(self) -> dict[str, Any]:
        found = {**self._counts(), "labels": list(self.codes.names)}
        if self.ids:
            found |= single_choice_figures(self.truth, self.predicted, self.codes.names)
        return found

    def per_task(self) -> tuple[NDArray[np.int64], Columns]:
        return np.asarray(self.ids), {"correct": np.asarray(self.truth) == np.asarray(self.predicted)}

    @staticmethod
    def statistic(columns: Columns, axis: int) -> NDArray[np.float64]:
        return np.asarray(np.mean(columns["correct"], axis=axis), dtype=float)


@dataclass
class _Sets:
    """Label sets in compressed-row form: the codes of every row one after another, and where each row ends."""

    codes: array[int] = field(default_factory=lambda: array("i"))
    ends: array[int] = field(default_factory=lambda: array("q", [0]))

    def append(self, row: Iterable[int]) -> None:
        self.codes.extend(sorted(set(row)))
        self.ends.append(len(self.codes))

    def matrix(self, width: int) -> csr_matrix:
        data = np.ones(len(self.codes), dtype=np.int8)
        return csr_matrix((data, np.asarray(self.codes), np.asarray(self.ends)), shape=(len(self.ends) - 1, width))


@dataclass
class MultiLabelTally(_Base):
    """A set of labels (or taxonomy paths) each side."""

    main: ClassVar[str] = "mean_jaccard"
    higher_is_better: ClassVar[bool] = True
    truth: _Sets = field(default_factory=_Sets)
    predicted: _Sets = field(default_factory=_Sets)
    codes: _Codes = field(init=False)

    def __post_init__(self) -> None:
        self.codes = _Codes(list(self.control.labels))

    def add(self, task: int, truth: Value, predicted: Value | None) -> None:
        self.tasks += 1
        if predicted is not None:
            self.ids.append(task)
            self.truth.append(self.codes(str(label)) for label in truth or ())  # type: ignore[union-attr]
            self.predicted.append(self.codes(str(label)) for label in predicted)  # type: ignore[union-attr]

    def _matrices(self) -> tuple[csr_matrix, csr_matrix]:
        width = len(self.codes.names)
        return self.truth.matrix(width), self.predicted.matrix(width)

    def figures(self) -> dict[str, Any]:
        found = {**self._counts(), "labels": list(self.codes.names)}
        if self.ids:
            found |= multi_label_figures(*self._matrices(), self.codes.names)
        return found

    def per_task(self) -> tuple[NDArray[np.int64], Columns]:
        return np.asarray(self.ids), {"jaccard": _jaccard_rows(*self._matrices())}

    @staticmethod
    def statistic(columns: Columns, axis: int) -> NDArray[np.float64]:
        return np.asarray(np.mean(columns["jaccard"], axis=axis), dtype=float)


@dataclass
class ScalarTally(_Base):
    """A number each side (Rating, Number)."""

    main: ClassVar[str] = "mae"
    higher_is_better: ClassVar[bool] = False
    truth: array[float] = field(default_factory=lambda: array("d"))
    predicted: array[float] = field(default_factory=lambda: array("d"))

    def add(self, task: int, truth: Value, predicted: Value | None) -> None:
        self.tasks += 1
        if predicted is not None:
            self.ids.append(task)
            self.truth.append(float(truth))  # type: ignore[arg-type]
            self.predicted.append(float(predicted))  # type: ignore[arg-type]

    def figures(self) -> dict[str, Any]:
        found = self._counts()
        if self.ids:
            found |= scalar_figures(np.asarray(self.truth), np.asarray(self.predicted))
        return found

    def per_task(self) -> tuple[NDArray[np.int64], Columns]:
        return np.asarray(self.ids), {"error": np.abs(np.asarray(self.truth) - np.asarray(self.predicted))}

    @staticmethod
    def statistic(columns: Columns, axis: int) -> NDArray[np.float64]:
        return np.asarray(np.mean(columns["error"], axis=axis), dtype=float)


@dataclass
class SpansTally(_Base):
    """A set of (label, start, end) spans each side (Labels)."""

    main: ClassVar[str] = "exact_f1"
    higher_is_better: ClassVar[bool] = True
    counts: array[int] = field(default_factory=lambda: array("q"))

    def add(self, task: int, truth: Value, predicted: Value | None) -> None:
        self.tasks += 1
        if predicted is not None:
            self.ids.append(task)
            self.counts.extend(span_counts(truth or frozenset(), predicted))  # type: ignore[arg-type]

    def _rows(self) -> NDArray[np.int64]:
        return np.asarray(self.counts, dtype=np.int64).reshape(-1, len(_SPAN_COUNTS))

    def figures(self) -> dict[str, Any]:
        found = self._counts()
        if self.ids:
            found |= spans_figures(self._rows())
        return found

    def per_task(self) -> tuple[NDArray[np.int64], Columns]:
        rows = self._rows()
        return np.asarray(self.ids), {"exact": rows[:, 0], "sizes": rows[:, 1] + rows[:, 2]}

    @staticmethod
    def statistic(columns: Columns, axis: int) -> NDArray[np.float64]:
        sizes = np.sum(columns["sizes"], axis=axis)
        found: NDArray[np.float64] = np.divide(
            2.0 * np.sum(columns["exact"], axis=axis), sizes, out=np.zeros(np.shape(sizes)), where=sizes > 0
        )
        return found


@dataclass
class TextTally(_Base):
    """A text each side (TextArea): how much people changed the model's answer."""

    main: ClassVar[str] = "mean_edit_ratio"
    higher_is_better: ClassVar[bool] = False
    ratios: array[float] = field(default_factory=lambda: array("d"))

    def add(self, task: int, truth: Value, predicted: Value | None) -> None:
        self.tasks += 1
        if predicted is not None:
            self.ids.append(task)
            self.ratios.append(edit_ratio(str(predicted), str(truth)))

    def figures(self) -> dict[str, Any]:
        found = self._counts()
        if self.ids:
            found |= text_figures(np.asarray(self.ratios))
        return found

    def per_task(self) -> tuple[NDArray[np.int64], Columns]:
        return np.asarray(self.ids), {"ratio": np.asarray(self.ratios)}

    @staticmethod
    def statistic(columns: Columns, axis: int) -> NDArray[np.float64]:
        return np.asarray(np.mean(columns["ratio"], axis=axis), dtype=float)


#: The tally of each family of metrics.
TALLIES: Mapping[Evaluation, Callable[[Compared], Tally]] = {
    Evaluation.SINGLE_CHOICE: SingleChoiceTally,
    Evaluation.MULTI_LABEL: MultiLabelTally,
    Evaluation.SCALAR: ScalarTally,
    Evaluation.SPANS: SpansTally,
    Evaluation.TEXT: TextTally,
}


def tally_for(control: Compared) -> Tally:
    """A fresh tally for one model version on ``control``."""
    return TALLIES[control.family](control)
