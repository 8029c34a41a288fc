"""Evaluate one project: read its tasks one at a time, keep a few numbers per task, and write the report.

``evaluate_project`` is the Python face of ``ls-langchain evaluate`` and of ``ls-langchain export --format eval``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ls_langchain.errors import ConfigurationError, ExportError, ProjectNotFoundError
from ls_langchain.evaluation.agreement import HumanAgreement, model_agreement
from ls_langchain.evaluation.compare import compare, label_of
from ls_langchain.evaluation.controls import Compared, Evaluation, compared_controls, value_of
from ls_langchain.evaluation.metrics import Tally, rounded, tally_for
from ls_langchain.evaluation.truth import TRUTHS, Truth, answers, by_annotator, choose_truth
from ls_langchain.export.filters import Filters, narrow, resolve_annotator
from ls_langchain.labeling import CONTEXT_KEY
from ls_langchain.studio import Studio

__all__ = ["REASONS", "SLICES", "Comparison", "EvaluationReport", "ModelFigures", "evaluate_project", "read_tasks"]

Progress = Callable[[int, int], None]

#: Why a task is left out of an evaluation, in words.
REASONS = {
    "no_prediction": "without a prediction",
    "other_model": "predicted only by other model versions",
    "skipped": "skipped by the annotator",
    "other_annotator": "annotated by someone else",
    "outside_dates": "annotated outside the dates asked for",
    "not_annotated": "not annotated",
    "no_ground_truth": "without a ground-truth annotation",
}


def _retrieved(task: Mapping[str, Any]) -> bool:
    """Whether the model had retrieved documents: a non-empty ``data.context`` (what the handler logs from a
    retriever) or ``meta.retrieval``."""
    return bool((task.get("data") or {}).get(CONTEXT_KEY) or (task.get("meta") or {}).get("retrieval"))


#: The slices each model version's figures are also given for, by a test on the task: a RAG application's answers
#: with and without retrieved context (the report shows the split when both occur).
SLICES: Mapping[str, Callable[[Mapping[str, Any]], bool]] = {
    "with retrieved context": _retrieved,
    "without retrieved context": lambda task: not _retrieved(task),
}


def read_tasks(studio: Studio, project_id: int) -> Iterator[dict[str, Any]]:
    """The project's tasks, one at a time, with their annotations and predictions: the one place an evaluation
    reads them (Label Studio's export snapshot, streamed, as the export reads it)."""
    yield from studio.export_tasks(project_id)


@dataclass(frozen=True)
class ModelFigures:
    """One model version: the tasks it answered, and its figures per control (see the README for each figure)."""

    version: str
    name: str | None  # the model's name (e.g. gpt-4o-mini) where the predictions or tasks say it
    tasks: int
    annotated: int
    skipped: int
    not_annotated: int
    annotations: int
    controls: Mapping[str, Mapping[str, Any]]
    slices: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)  # slice -> control -> figures

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tasks": self.tasks,
            "annotated": self.annotated,
            "skipped": self.skipped,
            "not_annotated": self.not_annotated,
            "annotations": self.annotations,
            "controls": {name: dict(figures) for name, figures in self.controls.items()},
            "slices": {
                name: {control: dict(figures) for control, figures in controls.items()}
                for name, controls in self.slices.items()
            },
        }


@dataclass(frozen=True)
class Comparison:
    """Version ``b`` against version ``a`` on one control, on the tasks both answered."""

    a: str
    b: str
    control: str
    figures: Mapping[str, Any]

    @property
    def verdict(self) -> str:
        """Which version is better, or that the difference is not significant, in words."""
        return str(self.figures["verdict"])

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "control": self.control, **self.figures}


@dataclass(frozen=True)
class EvaluationReport:
    """A project's evaluation: predictions against people's answers, per model version and control."""

    project_id: int
    project_title: str
    truth: Truth
    created_at: str
    filters: str
    tasks_read: int
    tasks_evaluated: int  # tasks with a truth and a prediction of a version evaluated
    left_out: Mapping[str, int]
    controls: tuple[Compared, ...]
    models: Mapping[str, ModelFigures]
    human: Mapping[str, Mapping[str, Any]]
    comparisons: tuple[Comparison, ...]
    files: tuple[Path, ...] = ()

    @property
    def annotations(self) -> int:
        """Submitted annotations on the evaluated models' tasks."""
        return sum(model.annotations for model in self.models.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "project": {"id": self.project_id, "title": self.project_title},
            "created_at": self.created_at,
            "truth": self.truth,
            "filters": self.filters,
            "tasks": {"read": self.tasks_read, "evaluated": self.tasks_evaluated, "left_out": dict(self.left_out)},
            "controls": [
                {"name": c.name, "tag": c.tag, "family": c.family.value, "labels": list(c.labels)}
                for c in self.controls
            ],
            "models": {version: model.to_json() for version, model in self.models.items()},
            "human": {name: dict(figures) for name, figures in self.human.items()},
            "comparisons": [comparison.to_json() for comparison in self.comparisons],
        }

    def describe(self) -> str:
        """One line for people: what was evaluated and what was left out, in words that cannot be misread."""
        text = (
            f"Evaluated {len(self.models)} model version{'s' if len(self.models) != 1 else ''} on "
            f"{self.tasks_evaluated} of {self.tasks_read} tasks (those with people's answer and a prediction)."
        )
        if self.left_out:
            text += " Not evaluated: " + ", ".join(f"{n} {REASONS.get(k, k)}" for k, n in self.left_out.items()) + "."
        return text


@dataclass
class _Version:
    """Running counts of one model version."""

    tallies: dict[str, Tally]
    name: str | None = None
    tasks: int = 0
    annotated: int = 0
    skipped: int = 0
    annotations: int = 0
    truth_counts: dict[str, Counter[Any]] = field(default_factory=dict)
    predicted_counts: dict[str, Counter[Any]] = field(default_factory=dict)
    slices: dict[str, dict[str, Tally]] = field(default_factory=dict)  # slice -> control -> tally


def _counted(value: Any, control: Compared) -> list[Any]:
    """The labels or numbers a value adds to a distribution (none for spans and texts)."""
    if control.family is Evaluation.SINGLE_CHOICE or control.family is Evaluation.SCALAR:
        return [value]
    if control.family is Evaluation.MULTI_LABEL:
        return sorted(value)
    return []


def _distribution(control: Compared, truth: Counter[Any], predicted: Counter[Any]) -> dict[str, Any] | None:
    """People's and the model's answers counted per label (every label of the config, zeros included) or value."""
    if control.family in (Evaluation.SPANS, Evaluation.TEXT):
        return None
    if control.family is Evaluation.SCALAR:
        values: list[Any] = sorted({*truth, *predicted, *(float(label) for label in control.labels)})
    else:
        values = list(dict.fromkeys([*control.labels, *sorted({*truth, *predicted} - set(control.labels))]))
    shown = [int(v) if isinstance(v, float) and v.is_integer() else v for v in values]
    found: dict[str, Any] = {
        "values": shown,
        "truth": [truth[v] for v in values],
        "predicted": [predicted[v] for v in values],
    }
    if control.family is Evaluation.SCALAR and truth:  # e.g. people's mean Rating of the answers, predicted or not
        found["truth_mean"] = rounded(sum(v * n for v, n in truth.items()) / truth.total())
    return found


def _prediction(predictions: Sequence[Mapping[str, Any]], parent: Any) -> Mapping[str, Any]:
    """Of one version's predictions on a task: the one people started from, else the latest."""
    return next((p for p in predictions if p.get("id") == parent), None) or max(
        predictions, key=lambda p: int(p.get("id") or 0)
    )


def _describe_filters(versions: Sequence[str], filters: Filters) -> str:
    parts = [f"model versions {', '.join(f'`{v}`' for v in versions)}"] if versions else []
    parts += [f"annotator {filters.annotator}"] if filters.annotator is not None else []
    parts += [f"since {filters.since:%Y-%m-%d %H:%M}"] if filters.since else []
    parts += [f"until {filters.until:%Y-%m-%d %H:%M}"] if filters.until else []
    parts += [f"at most {filters.limit} tasks"] if filters.limit else []
    return "Filters: " + (", ".join(parts) if parts else "none") + "."


def evaluate_project(
    studio: Studio,
    project_id: int,
    out: Path | str | None = None,
    *,
    model_versions: Sequence[str] = (),
    truth: Truth = "latest",
    filters: Filters | None = None,
    progress: Progress | None = None,
    stem: str = "report",
) -> EvaluationReport:
    """Compare a project's predictions with people's answers, per model version and control, and write
    ``<stem>.json``, ``<stem>.md`` (with PNG charts) and ``<stem>.html`` into the folder ``out`` (none: nothing is
    written). Two or more ``model_versions``: each is compared with the first. ``filters`` narrows the annotations
    (annotator, dates) and ``limit`` the tasks; ``progress(done, total)`` is called after each task read."""
    if truth not in TRUTHS:
        raise ConfigurationError(f"Unknown truth {truth!r}: use one of {', '.join(TRUTHS)}.")
    if len(set(model_versions)) != len(model_versions):
        raise ConfigurationError("A model version is given twice: give each version once.")
    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise ConfigurationError(
            f"{out_dir} is a file: give the folder to write the report into, e.g. {out_dir.parent / 'report'}."
        )
    try:
        project = studio.get_project(project_id)
    except ProjectNotFoundError as exc:
        raise ProjectNotFoundError(
            f"Label Studio at {studio.url} has no project with id {project_id}: use the number in the project's "
            "address (/projects/<id>/)."
        ) from exc
    controls = compared_controls(project.label_config)
    if not controls:
        raise ExportError(
            f"Project {project_id} ({project.title!r}) has no control an evaluation can compare: it needs a Choices, "
            "Taxonomy, Rating, Number, Labels or TextArea."
        )
    filters = resolve_annotator(studio, replace(filters or Filters(), annotated_only=False, model=None))
    total = studio.count_tasks(project_id)
    if total == 0:
        raise ExportError(
            f"Project {project_id} ({project.title!r}) has no tasks yet: import tasks or log LLM runs into it first."
        )
    run = _Run(controls, tuple(model_versions), truth, filters)
    for task in read_tasks(studio, project_id):
        run.add(task)
        if progress is not None:
            progress(run.read, total)
        if filters.limit is not None and run.evaluated >= filters.limit:
            break
    report = run.report(project_id, project.title, _describe_filters(model_versions, filters))
    if out_dir is None:
        return report
    from ls_langchain.evaluation.report import write_report  # matplotlib is only needed to write

    try:
        return replace(report, files=tuple(write_report(report, out_dir, stem)))
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot write {exc.filename or out_dir}: {exc.strerror}. Choose another --out."
        ) from exc


class _Run:
    """One evaluation in progress: a few numbers per task, per model version and control."""

    def __init__(self, controls: tuple[Compared, ...], versions: tuple[str, ...], truth: Truth, filters: Filters):
        self.controls = controls
        self.wanted = versions
        self.truth = truth
        self.filters = filters
        self.read = 0
        self.evaluated = 0
        self.left_out: Counter[str] = Counter()
        self.versions: dict[str, _Version] = {v: self._version() for v in versions}
        self.human = {c.name: HumanAgreement(c) for c in controls}

    def _version(self) -> _Version:
        return _Version(
            {c.name: tally_for(c) for c in self.controls},
            truth_counts={c.name: Counter() for c in self.controls},
            predicted_counts={c.name: Counter() for c in self.controls},
        )

    def add(self, task: Mapping[str, Any]) -> None:
        self.read += 1
        predicted: dict[str, list[Mapping[str, Any]]] = {}
        for prediction in task.get("predictions") or ():
            predicted.setdefault(str(prediction.get("model_version") or "(unknown)"), []).append(prediction)
        if self.wanted:
            predicted = {v: p for v, p in predicted.items() if v in self.wanted}
        if not predicted:
            self.left_out["other_model" if task.get("predictions") else "no_prediction"] += 1
            return
        kept, reason = narrow(task, self.filters)
        if kept is None and reason != "skipped":
            self.left_out[reason] += 1
            return
        for new in predicted.keys() - self.versions.keys():
            self.versions[new] = self._version()
        versions = [self.versions[v] for v in predicted]
        annotations = [a for a in (kept or {}).get("annotations") or () if not a.get("was_cancelled")]
        for version, predictions in zip(versions, predicted.values(), strict=True):
            version.tasks += 1
            version.annotated += bool(annotations)
            version.skipped += kept is None
            version.annotations += len(annotations)
            version.name = version.name or _model_name(task, predictions)
        if kept is None or not annotations:
            self.left_out["skipped" if kept is None else "not_annotated"] += 1
            return
        self._agreement(annotations)
        chosen = choose_truth(annotations, self.controls, self.truth)
        if chosen is None:
            self.left_out["no_ground_truth"] += 1
            return
        truths, source = chosen
        self.evaluated += 1
        task_id = int(task.get("id") or self.read)
        parent = source.get("parent_prediction") if source else None
        in_slices = [name for name, test in SLICES.items() if test(task)]
        for version, predictions in zip(versions, predicted.values(), strict=True):
            result = _prediction(predictions, parent).get("result")
            for control in self.controls:
                if control.name not in truths:
                    continue
                value = value_of(result, control)
                version.tallies[control.name].add(task_id, truths[control.name], value)
                for name in in_slices:
                    tallies = version.slices.setdefault(name, {})
                    tallies.setdefault(control.name, tally_for(control)).add(task_id, truths[control.name], value)
                version.truth_counts[control.name].update(_counted(truths[control.name], control))
                if value is not None:
                    version.predicted_counts[control.name].update(_counted(value, control))

    def _agreement(self, annotations: Sequence[Mapping[str, Any]]) -> None:
        people = by_annotator(annotations)
        if len(people) < 2:
            return
        given = [answers(annotation, self.controls) for annotation in people]
        for control in self.controls:
            self.human[control.name].add([g[control.name] for g in given if control.name in g])

    def report(self, project_id: int, title: str, filters: str) -> EvaluationReport:
        models = {}
        for version_name, version in self.versions.items():
            controls = {}
            for control in self.controls:
                figures = version.tallies[control.name].figures()
                distribution = _distribution(
                    control,
                    version.truth_counts[control.name],
                    version.predicted_counts[control.name],
                )
                if distribution is not None:
                    figures["distribution"] = distribution
                figures["agreement"] = model_agreement(figures, control.family)
                controls[control.name] = figures
            models[version_name] = ModelFigures(
                version=version_name,
                name=version.name,
                tasks=version.tasks,
                annotated=version.annotated,
                skipped=version.skipped,
                not_annotated=version.tasks - version.annotated - version.skipped,
                annotations=version.annotations,
                controls=controls,
                slices={  # in the order of SLICES
                    name: {control: tally.figures() for control, tally in version.slices[name].items()}
                    for name in SLICES
                    if name in version.slices
                },
            )
        human = {name: agreed for name, h in self.human.items() if (agreed := h.figures()) is not None}
        comparisons = []
        if len(self.wanted) >= 2:
            baseline = self.wanted[0]
            for other in self.wanted[1:]:
                for control in self.controls:
                    a, b = self.versions[baseline].tallies[control.name], self.versions[other].tallies[control.name]
                    shown = (label_of(baseline, models[baseline].name), label_of(other, models[other].name))
                    found = compare(baseline, a, other, b, shown=shown)
                    comparisons.append(Comparison(baseline, other, control.name, found))
        return EvaluationReport(
            project_id=project_id,
            project_title=title,
            truth=self.truth,
            created_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            filters=filters,
            tasks_read=self.read,
            tasks_evaluated=self.evaluated,
            left_out=dict(self.left_out),
            controls=self.controls,
            models=dict(sorted(models.items())) if not self.wanted else models,
            human=human,
            comparisons=tuple(comparisons),
        )


def _model_name(task: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]]) -> str | None:
    """The model's name as people know it: from a prediction's meta (the backend's), else the logged task's meta."""
    for prediction in predictions:
        name = (prediction.get("meta") or {}).get("model_name")
        if name:
            return str(name)
    name = (task.get("meta") or {}).get("model_name")
    return str(name) if name else None
