"""The Label Studio project a handler logs into: found or created once, then fed batches of records.

This is the delivery worker's exporter: it knows what records mean (``tasks.build_task`` for the project's
``TaskLayout``) and where they go (``studio.Studio``); the worker only knows when to send them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ls_langchain.delivery import DeliveryWorker, Outbox, OutboxItem, worker_for
from ls_langchain.errors import (
    IncompleteImportError,
    LabelingConfigError,
    ProjectNotFoundError,
    RecordFormatError,
    RecordsHeldError,
    RequestRejectedError,
    StudioError,
    StudioUnreachableError,
)
from ls_langchain.labeling import TaskLayout, grid_view, read_layout
from ls_langchain.studio import Project, Studio
from ls_langchain.tasks import RunRecord, build_task

__all__ = ["ProjectDelivery", "ProjectDestination", "ProjectSpec", "open_delivery", "waiting_destinations"]

logger = logging.getLogger("ls_langchain")


@dataclass(frozen=True)
class ProjectSpec:
    """Which project to log into: by id, else by exact title (created with ``label_config`` when missing)."""

    url: str
    project_id: int | None
    title: str
    label_config: str

    @property
    def key(self) -> str:
        """The outbox's name for this destination; a new handler with the same spec picks up what is left."""
        project = f"id={self.project_id}" if self.project_id is not None else f"title={self.title}"
        return f"{self.url} {project}"

    def describe(self) -> str:
        """How to reach the project, as JSON for the outbox: enough to deliver without the handler, but no secret."""
        return json.dumps(
            {"url": self.url, "project_id": self.project_id, "title": self.title, "label_config": self.label_config}
        )

    @classmethod
    def from_description(cls, text: str) -> ProjectSpec:
        spec = json.loads(text)
        return cls(spec["url"], spec.get("project_id"), spec["title"], spec.get("label_config") or "")


#: How long a project's labeling config is trusted before it is read again (it may be edited in Label Studio).
_CONFIG_TTL = 2.0
#: When records held for a config that does not fit are tried again (the config may have been fixed).
_CONFIG_RECHECK = 30.0


class ProjectDestination:
    """Resolves the project on first use and imports records as tasks shaped for its labeling config.

    The config is read again when it may have changed: after a refusal, when this destination is new, and before a
    batch when the last reading is more than ``_CONFIG_TTL`` seconds old.
    """

    def __init__(self, studio: Studio, spec: ProjectSpec) -> None:
        self.studio = studio
        self.spec = spec
        self.target = spec.key
        self.server = spec.url
        self.route = studio.key_id
        self._project: Project | None = None
        self._layout: TaskLayout | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    @property
    def project(self) -> Project | None:
        """The resolved project, or None while Label Studio has not been reached yet."""
        return self._project

    def resolve(self, *, fresh: bool = False) -> tuple[Project, TaskLayout]:
        """Find or create the project and read where runs go in it; raises our errors, never the SDK's.

        ``fresh`` reads the project again even when it was read lately."""
        with self._lock:
            if fresh or self._layout is None or time.monotonic() - self._read_at > _CONFIG_TTL:
                project = self._find_or_create()
                try:
                    layout = read_layout(project.label_config)
                except LabelingConfigError as exc:
                    raise LabelingConfigError(f"Project {project.id} ({project.title!r}): {exc}") from exc
                self._project, self._layout, self._read_at = project, layout, time.monotonic()
            assert self._project is not None
            return self._project, self._layout

    def _find_or_create(self) -> Project:
        if self.spec.project_id is not None:
            return self.studio.get_project(self.spec.project_id)
        if self._project is not None:  # the project found first, unless it was deleted since
            try:
                return self.studio.get_project(self._project.id)
            except ProjectNotFoundError:
                pass
        found = self.studio.find_project(self.spec.title)
        if found is not None:
            return found
        created = self.studio.create_project(self.spec.title, self.spec.label_config)
        logger.info("ls-langchain: created project %r at %s", created.title, self.studio.project_url(created.id))
        self._set_up_grid(created)
        return created

    def _set_up_grid(self, project: Project) -> None:
        """Open a new project's Data Manager on a readable grid (``labeling.grid_view``); the project works without
        it, so a failure is only logged."""
        try:
            columns = self.studio.data_manager_columns(project.id)
            self.studio.create_view(project.id, grid_view(project.label_config, columns))
        except StudioError as exc:
            logger.warning("ls-langchain: project %s keeps Label Studio's default grid: %s", project.id, exc)

    def _usable(self, *, fresh: bool = False) -> tuple[Project, TaskLayout]:
        """``resolve``, with a deleted project or a config that no longer fits as a reason to hold the records."""
        try:
            return self.resolve(fresh=fresh)
        except ProjectNotFoundError as exc:
            raise RecordsHeldError(
                f"{exc} Its runs are held: `ls-langchain outbox redirect --to-project ID` sends them to another "
                "project, `ls-langchain outbox drop` drops them."
            ) from exc
        except LabelingConfigError as exc:
            raise RecordsHeldError(
                f"{exc} Its runs are held and tried again every {_CONFIG_RECHECK:.0f} s (or `ls-langchain outbox "
                "retry` once the config is fixed).",
                retry_after=_CONFIG_RECHECK,
            ) from exc

    def export(self, items: Sequence[OutboxItem]) -> int | None:
        started = time.monotonic()
        project, layout = self._usable()
        tasks, reasons = [], {}
        for item in items:
            try:
                tasks.append(build_task(RunRecord.from_json(item.body), layout))
            except RecordFormatError as exc:
                reasons[item.seq] = f"this version of ls-langchain cannot read the record: {exc}"
            except Exception as exc:  # a record that breaks the shaping must not hold up the others
                reasons[item.seq] = f"the record could not be made into a task ({type(exc).__name__}: {exc})"
        if reasons:
            raise RecordsHeldError(f"{len(reasons)} of {len(items)} records cannot be sent; held", reasons)
        try:
            result = self.studio.import_tasks(project.id, tasks)
        except IncompleteImportError as exc:
            # Tasks stored without their predictions are not delivered: undo them so that a resend is no duplicate.
            self.studio.delete_tasks(exc.task_ids)
            raise
        except ProjectNotFoundError as exc:
            self._usable(fresh=True)  # raises RecordsHeldError when the project is gone for good
            raise StudioUnreachableError(f"Project {project.id} was not found while importing; tried again.") from exc
        except RequestRejectedError:
            if self._read_at < started:  # refused with a config read earlier: read it before the next batch
                self._read_at = 0.0
            raise
        return max(result.task_ids, default=None)

    def delivered(self, items: Sequence[OutboxItem], watermark: int | None) -> set[str]:
        """The records the project holds whole; copies stored twice or without their predictions are deleted, so
        that each record ends as one task with its predictions."""
        project, _ = self.resolve()
        stored = self.studio.records_since(project.id, watermark)
        present, extra = set(), []
        for item in items:
            copies = sorted(stored.get(item.record_id, ()))
            whole = [task_id for task_id, predictions in copies if predictions >= _responses(item)]
            keep = whole[0] if whole else None
            extra += [task_id for task_id, _ in copies if task_id != keep]
            if keep is not None:
                present.add(item.record_id)
        if extra:
            logger.info("ls-langchain: deleting %d tasks stored twice or without their predictions", len(extra))
        self.studio.delete_tasks(extra)
        return present


def _responses(item: OutboxItem) -> int:
    """How many predictions a record's task carries (0 for a record this version cannot read: sent, it is held)."""
    try:
        return len(RunRecord.from_json(item.body).responses)
    except RecordFormatError:
        return 0


class ProjectDelivery:
    """A handler's way into delivery: its project, and the worker it shares with every handler of that project.

    Made by ``open_delivery``; records submitted here go out with this handler's key.
    """

    def __init__(self, destination: ProjectDestination, worker: DeliveryWorker) -> None:
        self.destination = destination
        self.worker = worker

    @property
    def project(self) -> Project | None:
        return self.destination.project

    @property
    def target(self) -> str:
        return self.destination.target

    def connect(self) -> tuple[Project, TaskLayout] | None:
        """Find or create the project now, so a wrong project id or config fails here; an unreachable or refusing
        server is reported once (and None returned) and does not stop logging: records wait in the outbox."""
        try:
            with self.worker.exclusive():  # two processes must not both create a project of the same title
                project, layout = self.destination.resolve()
        except (ProjectNotFoundError, LabelingConfigError):
            raise
        except StudioError as exc:
            self.worker.report(exc)  # logged once, even if the worker meets the same error again and again
            return None
        logger.info("ls-langchain: logging into %s", self.destination.studio.project_url(project.id))
        return project, layout

    def submit(self, record_id: str, body: str) -> None:
        """Store one record for this project, to go out with this handler's key; raises ``OutboxFullError``."""
        self.worker.submit(record_id, body, self.destination.route)

    def note_dropped(self, reason: str) -> None:
        """Count a run that was never stored, with why."""
        self.worker.outbox.note_dropped(self.destination.target, reason=reason)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until what this handler logged so far is in Label Studio (see ``DeliveryWorker.flush``)."""
        return self.worker.flush(timeout, route=self.destination.route)

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush within ``timeout``, then stop the worker; what is left stays in the outbox."""
        done = self.flush(timeout)
        self.worker.close(0)
        return done

    def pending(self) -> int:
        """Records of the project not delivered yet, whoever logged them."""
        return self.worker.pending()


def open_delivery(
    spec: ProjectSpec, api_key: str, *, outbox_dir: Path | None = None, **settings: float
) -> ProjectDelivery:
    """The one way to deliver into a project: its destination (with this key) on the process's shared worker for
    the outbox, registered in the outbox so that ``ls-langchain outbox`` can show and flush it."""
    destination = ProjectDestination(Studio(spec.url, api_key), spec)
    worker = worker_for(outbox_dir, destination, **settings)
    worker.outbox.register(spec.key, spec.describe())
    return ProjectDelivery(destination, worker)


def waiting_destinations(outbox: Outbox, url: str | None = None) -> list[ProjectSpec]:
    """The projects with records waiting in the outbox (only those on ``url`` if given)."""
    specs = []
    for status in outbox.status():
        spec = ProjectSpec.from_description(status.spec)
        if status.pending and (url is None or spec.url == url.rstrip("/")):
            specs.append(spec)
    return specs
