"""Export one project: stream its tasks from a Label Studio export, keep what the filters allow, write as it goes."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from ls_langchain.errors import ConfigurationError, ExportError, ProjectNotFoundError
from ls_langchain.export.filters import Filters, narrow, resolve_annotator
from ls_langchain.export.preference import SamePromptRatings, check_preference, preference_records
from ls_langchain.export.reading import Layout, Reading, read_layout, read_task
from ls_langchain.export.sft import check_sft, sft_records
from ls_langchain.studio import Project, Studio

__all__ = ["FORMATS", "ExportSummary", "Format", "export_project"]

Format = Literal["sft", "preference", "eval"]
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
        kind = _FORMAT_KINDS[self.format]
        text = kind.headline(self)
        if self.left_out:
            reasons = ", ".join(f"{n} {_REASONS.get(k, k)}" for k, n in self.left_out.items())
            text += f" {kind.left_out_label}: {reasons}."
        return text


class _AcrossTasks(Protocol):
    """Records made from more than one task (preference pairs between tasks), written once every task is read."""

    def add(self, task_id: int, reading: Reading) -> None: ...

    def records(self) -> Iterator[tuple[dict[str, Any], tuple[int, ...]]]:
        """Each record and the tasks it comes from."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class _LineFormat:
    """A JSON Lines format: the config check it needs, the lines of one task, and why a task gave none."""

    check: Callable[[Layout, bool], None]  # (layout, completions): raises LabelingConfigError saying what would work
    records: Callable[[Reading, bool], Iterable[dict[str, Any]]]  # (reading, completions): the task's lines
    none_written: str  # the reason a task that gives no line is left out
    across_tasks: Callable[[], _AcrossTasks] | None = None  # lines that pair tasks, written after the last one
    example: str = "export.jsonl"  # an output file name, for the message when --out is a folder
    left_out_label: str = "Left out"

    @staticmethod
    def headline(summary: ExportSummary) -> str:
        """What was written, for ``ExportSummary.describe``."""
        unit = "line" + ("" if summary.records == 1 else "s")
        return (
            f"Exported {summary.records} {unit} from {summary.tasks_exported} of {summary.tasks_read} tasks to "
            f"{summary.files[0]}."
        )


@dataclass(frozen=True)
class _ReportFormat:
    """A report another module writes, named after ``--out``."""

    write: Callable[[Studio, int, Path, Filters, Progress | None], ExportSummary]
    example: str = "report.md"
    left_out_label: str = "Not evaluated"

    @staticmethod
    def headline(summary: ExportSummary) -> str:
        """What was evaluated, for ``ExportSummary.describe``."""
        unit = "annotation" + ("" if summary.records == 1 else "s")
        return (
            f"Evaluated {summary.tasks_exported} of {summary.tasks_read} tasks ({summary.records} {unit}); "
            f"report at {summary.files[0]}."
        )


# What --out may not be, by file type: replacing one would break what it is (a device, a link, a pipe).
_NOT_A_FILE = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
}


def _check_out(out: Path, example: str) -> None:
    """Refuse, in one line, an ``out`` that exists and is not a regular file: only a new or a regular file is
    written (a symlink is not followed, a device or pipe is never replaced by a file); ``example`` is the file name
    suggested when ``out`` is a folder."""
    try:
        mode = out.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigurationError(f"Cannot write {out}: {exc.strerror}. Choose another --out.") from exc
    if stat.S_ISDIR(mode):
        raise ConfigurationError(f"{out} is a folder: give the file to write, e.g. {out / example}.")
    if not stat.S_ISREG(mode):
        kind = _NOT_A_FILE.get(stat.S_IFMT(mode), "not a regular file")
        raise ConfigurationError(
            f"{out} is {kind}: the export writes only a new or a regular file; choose another --out."
        )


@contextlib.contextmanager
def _replacing(out: Path, example: str) -> Iterator[IO[str]]:
    """A file written next to ``out`` and moved over it only once complete, and only while ``out`` is still a
    regular file or absent. The partial file is made anew (never opened through a link someone left there)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)  # a stale one, or a link in its place: removed itself, never followed
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        with open(descriptor, "w", encoding="utf-8") as stream:
            yield stream
        _check_out(out, example)
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


#: The export formats: adding one is adding an entry (``Format`` names it; a test checks both agree).
_FORMAT_KINDS: Mapping[Format, _LineFormat | _ReportFormat] = {
    "sft": _LineFormat(
        check=lambda layout, completions: check_sft(layout, completions=completions),
        records=lambda reading, completions: sft_records(reading, completions=completions),
        none_written="no_answer",
    ),
    "preference": _LineFormat(
        check=lambda layout, completions: check_preference(layout),
        records=lambda reading, completions: preference_records(reading),
        none_written="no_pair",
        across_tasks=SamePromptRatings,
    ),
    "eval": _ReportFormat(write=_evaluate),
}
FORMATS: tuple[Format, ...] = tuple(_FORMAT_KINDS)


def _format_kind(format: str) -> _LineFormat | _ReportFormat:
    """The entry of ``format``; a caller may pass any string, and an unknown one is refused in one line."""
    for name, kind in _FORMAT_KINDS.items():
        if name == format:
            return kind
    raise ConfigurationError(f"Unknown export format {format!r}: use one of {', '.join(FORMATS)}.")


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
    kind = _format_kind(format)
    _check_out(out, kind.example)
    if isinstance(kind, _ReportFormat):
        return kind.write(studio, project_id, out, filters or Filters(), progress)
    try:
        project = studio.get_project(project_id)
    except ProjectNotFoundError as exc:  # the generic hint names the handler's settings, not the export's
        raise ProjectNotFoundError(
            f"Label Studio at {studio.url} has no project with id {project_id}: use the number in the project's "
            "address (/projects/<id>/)."
        ) from exc
    layout = read_layout(project.label_config)
    kind.check(layout, completions)
    filters = resolve_annotator(studio, filters or Filters())
    total = studio.count_tasks(project_id)
    if total == 0:
        raise ExportError(
            f"Project {project_id} ({project.title!r}) has no tasks yet: log LLM runs into it with "
            "LabelStudioCallbackHandler or import tasks, then export."
        )
    run = _Run(studio, project, layout, filters, total, progress)
    try:
        with _replacing(out, kind.example) as stream:
            return run.write_lines(stream, out, format, kind, completions=completions)
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

    def write_lines(
        self, stream: IO[str], out: Path, format: Format, kind: _LineFormat, *, completions: bool
    ) -> ExportSummary:
        records = 0
        across = kind.across_tasks() if kind.across_tasks is not None else None
        unpaired: set[int] = set()
        try:
            for kept, _, _ in self.tasks(self.filters):
                if kept is None:
                    continue
                reading = read_task(kept, self.layout)
                written = 0
                for record in kind.records(reading, completions):
                    stream.write(json.dumps(record, ensure_ascii=False) + "\n")
                    written += 1
                records += written
                self.exported += bool(written)
                if across is not None:
                    across.add(int(kept["id"]), reading)
                if not written:
                    self.left_out[kind.none_written] += 1
                    unpaired.add(int(kept["id"]))
            for record, tasks in across.records() if across is not None else ():
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
                records += 1
                for task in unpaired.intersection(tasks):  # paired after all, with a task read later
                    unpaired.discard(task)
                    self.exported += 1
                    self.left_out[kind.none_written] -= 1
        finally:
            if across is not None:
                across.close()
        self.left_out = +self.left_out  # drop reasons that no task is left out for any more
        return self.summary(format, [out], records)
