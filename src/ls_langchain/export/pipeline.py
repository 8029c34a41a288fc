"""Export one project: stream its tasks from a Label Studio export, keep what the filters allow, write as it goes."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from ls_langchain.errors import ConfigurationError, ExportError, ProjectNotFoundError
from ls_langchain.export.filters import Filters, narrow, resolve_annotator
from ls_langchain.export.preference import SamePromptRatings, check_preference, preference_records
from ls_langchain.export.reading import Layout, read_layout, read_task
from ls_langchain.export.sft import check_sft, sft_records
from ls_langchain.studio import Project, Studio

__all__ = ["FORMATS", "ExportSummary", "Format", "export_project"]

Format = Literal["sft", "preference", "eval"]
FORMATS: tuple[Format, ...] = ("sft", "preference", "eval")
Progress = Callable[[int, int], None]

_REASONS = {
    "not_annotated": "not annotated",
    "skipped": "skipped by the annotator",
    "other_model": "answered by another model",
    "other_annotator": "annotated by someone else",
    "outside_dates": "annotated outside the dates asked for",
    "no_answer": "annotated without an answer",
    "no_pair": "annotated without a preference between answers",
    "no_prediction": "without a prediction",
    "no_ground_truth": "without a ground-truth annotation",
}


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote, and how many tasks it left out for which reason."""

    format: Format
    files: tuple[Path, ...]
    tasks_read: int
    tasks_exported: int
    records: int  # lines written (sft, preference) or annotations counted (eval)
    left_out: Mapping[str, int]

    def describe(self) -> str:
        """One line for people."""
        if self.format == "eval":
            unit = "annotation" + ("" if self.records == 1 else "s")
            text = (
                f"Evaluated {self.tasks_exported} of {self.tasks_read} tasks ({self.records} {unit}); "
                f"report at {self.files[0]}."
            )
            label = " Not evaluated: "
        else:
            unit = "line" + ("" if self.records == 1 else "s")
            text = (
                f"Exported {self.records} {unit} from {self.tasks_exported} of {self.tasks_read} tasks to "
                f"{self.files[0]}."
            )
            label = " Left out: "
        if self.left_out:
            text += label + ", ".join(f"{n} {_REASONS.get(k, k)}" for k, n in self.left_out.items()) + "."
        return text


def _check(layout: Layout, format: Format, *, completions: bool) -> None:
    if format not in FORMATS:
        raise ConfigurationError(f"Unknown export format {format!r}: use one of {', '.join(FORMATS)}.")
    if format == "sft":
        check_sft(layout, completions=completions)
    elif format == "preference":
        check_preference(layout)


# What --out may not be, by file type: replacing one would break what it is (a device, a link, a pipe).
_NOT_A_FILE = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
}


def _check_out(out: Path, format: Format) -> None:
    """Refuse, in one line, an ``out`` that exists and is not a regular file: only a new or a regular file is
    written (a symlink is not followed, a device or pipe is never replaced by a file)."""
    try:
        mode = out.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigurationError(f"Cannot write {out}: {exc.strerror}. Choose another --out.") from exc
    if stat.S_ISDIR(mode):
        example = out / ("report.md" if format == "eval" else "export.jsonl")
        raise ConfigurationError(f"{out} is a folder: give the file to write, e.g. {example}.")
    if not stat.S_ISREG(mode):
        kind = _NOT_A_FILE.get(stat.S_IFMT(mode), "not a regular file")
        raise ConfigurationError(
            f"{out} is {kind}: the export writes only a new or a regular file; choose another --out."
        )


@contextlib.contextmanager
def _replacing(out: Path, format: Format) -> Iterator[IO[str]]:
    """A file written next to ``out`` and moved over it only once complete, and only while ``out`` is still a
    regular file or absent. The partial file is made anew (never opened through a link someone left there)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)  # a stale one, or a link in its place: removed itself, never followed
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        with open(descriptor, "w", encoding="utf-8") as stream:
            yield stream
        _check_out(out, format)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


def _evaluate(studio: Studio, project_id: int, out: Path, filters: Filters, progress: Progress | None) -> ExportSummary:
    """``--format eval``: the evaluation report (``ls_langchain.evaluation``, the one implementation), named after
    ``out``."""
    from ls_langchain.evaluation import evaluate_project  # the report extra is only needed here

    report = evaluate_project(
        studio,
        project_id,
        out.parent,
        model_versions=[filters.model] if filters.model else (),
        filters=filters,
        progress=progress,
        stem=out.stem,
    )
    return ExportSummary(
        "eval", report.files, report.tasks_read, report.tasks_evaluated, report.annotations, report.left_out
    )


def export_project(
    studio: Studio,
    project_id: int,
    format: Format,
    out: Path | str,
    *,
    filters: Filters | None = None,
    completions: bool = False,
    progress: Progress | None = None,
) -> ExportSummary:
    """Export a project's annotations as ``sft`` or ``preference`` JSON Lines, or an ``eval`` report: the evaluation
    of ``ls_langchain.evaluation`` (``<stem>.md`` at ``out``, with ``<stem>.json``, ``<stem>.html`` and PNG charts
    beside it). ``completions`` writes prompt/completion SFT lines instead of chats; ``progress(done, total)`` is
    called after each task read."""
    out = Path(out)
    _check_out(out, format)
    if format == "eval":
        return _evaluate(studio, project_id, out, filters or Filters(), progress)
    try:
        project = studio.get_project(project_id)
    except ProjectNotFoundError as exc:  # the generic hint names the handler's settings, not the export's
        raise ProjectNotFoundError(
            f"Label Studio at {studio.url} has no project with id {project_id}: use the number in the project's "
            "address (/projects/<id>/)."
        ) from exc
    layout = read_layout(project.label_config)
    _check(layout, format, completions=completions)
    filters = resolve_annotator(studio, filters or Filters())
    total = studio.count_tasks(project_id)
    if total == 0:
        raise ExportError(
            f"Project {project_id} ({project.title!r}) has no tasks yet: log LLM runs into it with "
            "LabelStudioCallbackHandler or import tasks, then export."
        )
    run = _Run(studio, project, layout, filters, total, progress)
    try:
        with _replacing(out, format) as stream:
            return run.write_lines(stream, out, format, completions=completions)
    except OSError as exc:
        raise ConfigurationError(f"Cannot write {exc.filename or out}: {exc.strerror}. Choose another --out.") from exc


@dataclass
class _Run:
    """One export in progress: the task stream and the counts kept along the way."""

    studio: Studio
    project: Project
    layout: Layout
    filters: Filters
    total: int
    progress: Progress | None

    def __post_init__(self) -> None:
        self.read = 0
        self.exported = 0
        self.left_out: Counter[str] = Counter()

    def tasks(self, filters: Filters) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any], str]]:
        """(kept task or None, raw task, reason left out) for each task, until the limit of exported tasks."""
        for task in self.studio.export_tasks(self.project.id):
            self.read += 1
            kept, reason = narrow(task, filters)
            if kept is None:
                self.left_out[reason] += 1
            yield kept, task, reason
            if self.progress is not None:
                self.progress(self.read, self.total)
            if filters.limit is not None and self.exported >= filters.limit:
                return

    def summary(self, format: Format, files: list[Path], records: int) -> ExportSummary:
        return ExportSummary(format, tuple(files), self.read, self.exported, records, dict(self.left_out))

    def write_lines(self, stream: IO[str], out: Path, format: Format, *, completions: bool) -> ExportSummary:
        records = 0
        same_prompt = SamePromptRatings() if format == "preference" else None
        unpaired: set[int] = set()
        try:
            for kept, _, _ in self.tasks(self.filters):
                if kept is None:
                    continue
                reading = read_task(kept, self.layout)
                lines = (
                    sft_records(reading, completions=completions) if format == "sft" else preference_records(reading)
                )
                written = 0
                for record in lines:
                    stream.write(json.dumps(record, ensure_ascii=False) + "\n")
                    written += 1
                records += written
                self.exported += bool(written)
                if same_prompt is not None:
                    same_prompt.add(int(kept["id"]), reading)
                if not written:
                    self.left_out["no_answer" if format == "sft" else "no_pair"] += 1
                    unpaired.add(int(kept["id"]))
            for record, tasks in same_prompt.records() if same_prompt is not None else ():
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
                records += 1
                for task in unpaired.intersection(tasks):  # paired after all, with a task read later
                    unpaired.discard(task)
                    self.exported += 1
                    self.left_out["no_pair"] -= 1
        finally:
            if same_prompt is not None:
                same_prompt.close()
        self.left_out = +self.left_out  # drop reasons that no task is left out for any more
        return self.summary(format, [out], records)
