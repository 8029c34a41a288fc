"""The Label Studio project a handler logs into: found or created once, then fed batches of records.

This is the delivery worker's exporter: it knows what records mean (``tasks.build_task`` for the project's
``TaskLayout``) and where they go (``studio.Studio``); the worker only knows when to send them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ls_langchain.delivery.outbox import Outbox, OutboxItem
from ls_langchain.errors import IncompleteImportError, LabelingConfigError, StudioError
from ls_langchain.labeling import TaskLayout, grid_view, read_layout
from ls_langchain.studio import Project, Studio
from ls_langchain.tasks import RunRecord, build_task

__all__ = ["ProjectDestination", "ProjectSpec", "waiting_destinations"]

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


class ProjectDestination:
    """Resolves the project on first use and imports records as tasks shaped for its labeling config."""

    def __init__(self, studio: Studio, spec: ProjectSpec) -> None:
        self.studio = studio
        self.spec = spec
        self.target = spec.key
        self.server = spec.url
        self._project: Project | None = None
        self._layout: TaskLayout | None = None
        self._lock = threading.Lock()

    @property
    def project(self) -> Project | None:
        """The resolved project, or None while Label Studio has not been reached yet."""
        return self._project

    def resolve(self) -> tuple[Project, TaskLayout]:
        """Find or create the project and read where runs go in it; raises our errors, never the SDK's."""
        with self._lock:
            if self._project is None or self._layout is None:
                project = self._find_or_create()
                try:
                    layout = read_layout(project.label_config)
                except LabelingConfigError as exc:
                    raise LabelingConfigError(f"Project {project.id} ({project.title!r}): {exc}") from exc
                self._project, self._layout = project, layout
            return self._project, self._layout

    def _find_or_create(self) -> Project:
        if self.spec.project_id is not None:
            return self.studio.get_project(self.spec.project_id)
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

    def export(self, items: Sequence[OutboxItem]) -> int | None:
        project, layout = self.resolve()
        tasks = [build_task(RunRecord.from_json(item.body), layout) for item in items]
        try:
            result = self.studio.import_tasks(project.id, tasks)
        except IncompleteImportError as exc:
            # Tasks stored without their predictions are not delivered: undo them so that a resend is no duplicate.
            self.studio.delete_tasks(exc.task_ids)
            raise
        return max(result.task_ids, default=None)

    def delivered(self, items: Sequence[OutboxItem], watermark: int | None) -> set[str]:
        project, _ = self.resolve()
        stored = self.studio.records_since(project.id, watermark)
        present, partial = set(), []
        for item in items:
            if item.record_id not in stored:
                continue
            task_id, predictions = stored[item.record_id]
            if predictions >= len(RunRecord.from_json(item.body).responses):
                present.add(item.record_id)
            else:
                partial.append(task_id)
        self.studio.delete_tasks(partial)  # stored without predictions: undone, and sent again
        return present


def waiting_destinations(outbox: Outbox, api_key: str, url: str | None = None) -> list[ProjectDestination]:
    """A destination for every project with records waiting in the outbox (only those on ``url`` if given)."""
    destinations = []
    for status in outbox.status():
        spec = ProjectSpec.from_description(status.spec)
        if status.pending and (url is None or spec.url == url.rstrip("/")):
            destinations.append(ProjectDestination(Studio(spec.url, api_key), spec))
    return destinations
