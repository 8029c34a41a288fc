"""Per-model evaluation figures, tallied task by task in memory that does not grow with the project.

For each model version: how many tasks it answered and how many of them people annotated or skipped, the
distribution and mean of every Rating, the count of every Choices / Taxonomy label, and how much annotators changed
its answers (edit ratio = 1 - difflib similarity between the model's answer and the final one; 0 = kept as is).
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ls_langchain.export.reading import Judgement, Reading

__all__ = ["ModelTally", "Tally", "edit_ratio"]


def edit_ratio(original: str, final: str) -> float:
    """How much of the answer was changed: 0.0 for unchanged, 1.0 for nothing in common."""
    return 1.0 - difflib.SequenceMatcher(None, original, final, autojunk=False).ratio()


@dataclass
class ModelTally:
    """Running figures for one model version."""

    tasks: int = 0
    annotated: int = 0
    skipped: int = 0
    annotations: int = 0
    ratings: dict[str, Counter[int]] = field(default_factory=dict)
    labels: dict[str, Counter[str]] = field(default_factory=dict)
    answers: int = 0  # annotations whose final answer can be compared with the model's
    accepted: int = 0
    edit_total: float = 0.0

    def add(self, judgement: Judgement) -> None:
        self.annotations += 1
        for name, rating in judgement.ratings.items():
            self.ratings.setdefault(name, Counter())[rating] += 1
        for name, labels in judgement.labels.items():
            self.labels.setdefault(name, Counter()).update(labels)
        if judgement.base is not None and judgement.response is not None:
            self.answers += 1
            self.accepted += judgement.accepted
            self.edit_total += edit_ratio(judgement.base.text, judgement.response)

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "annotated": self.annotated,
            "skipped": self.skipped,
            "not_annotated": self.tasks - self.annotated - self.skipped,
            "annotations": self.annotations,
            "ratings": {
                name: {
                    "count": sum(counts.values()),
                    "mean": round(sum(k * n for k, n in counts.items()) / sum(counts.values()), 3),
                    "distribution": {str(k): counts[k] for k in sorted(counts)},
                }
                for name, counts in self.ratings.items()
            },
            "labels": {name: dict(counts.most_common()) for name, counts in self.labels.items()},
            "edits": {
                "compared": self.answers,
                "accepted_unchanged": self.accepted,
                "edited": self.answers - self.accepted,
                "mean_edit_ratio": round(self.edit_total / self.answers, 3) if self.answers else None,
            },
        }


@dataclass
class Tally:
    """Figures for every model version seen so far."""

    models: dict[str, ModelTally] = field(default_factory=dict)

    def _model(self, version: str) -> ModelTally:
        return self.models.setdefault(version, ModelTally())

    def add(self, reading: Reading) -> None:
        """Count one task whose annotations (possibly none, with ``--all``) the filters kept."""
        for version in reading.models:
            tally = self._model(version)
            tally.tasks += 1
            tally.annotated += bool(reading.judgements)
        for judgement in reading.judgements:
            if judgement.base is not None:
                version = judgement.base.model_version
            else:
                version = reading.models[0] if len(reading.models) == 1 else "(unknown)"
            self._model(version).add(judgement)

    def add_skipped(self, reading: Reading) -> None:
        """Count a task the annotator skipped: it has no figures, but it is one of the model's tasks."""
        for version in reading.models:
            tally = self._model(version)
            tally.tasks += 1
            tally.skipped += 1

    def to_json(self) -> dict[str, Any]:
        return {version: self.models[version].to_json() for version in sorted(self.models)}
