"""Helpers for the export tests: projects, tasks, predictions and annotations made in the real Label Studio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import Studio


@pytest.fixture(scope="session")
def studio_client(studio: LocalStudio, pat: str) -> Studio:
    """Our own client on the session's server, as an export gets it."""
    return Studio(studio.url, pat)


@pytest.fixture
def make_project(studio_client: Studio, title: str) -> Callable[[str, list[dict[str, Any]]], tuple[int, list[int]]]:
    """Create a project with a config and tasks; returns (project id, task ids in import order)."""

    def make(config: str, tasks: list[dict[str, Any]]) -> tuple[int, list[int]]:
        project = studio_client.create_project(title, config)
        if not tasks:
            return project.id, []
        return project.id, list(studio_client.import_tasks(project.id, tasks).task_ids)

    return make


@pytest.fixture
def predictions_of(ls: LabelStudio) -> Callable[[int], list[int]]:
    """The ids of a task's predictions, in the order they were imported."""

    def ids(task_id: int) -> list[int]:
        return sorted(int(p.id) for p in ls.predictions.list(task=task_id) if p.id is not None)

    return ids


@pytest.fixture(scope="session")
def second_annotator(ls: LabelStudio) -> int:
    """The id of a second user, to annotate as someone else (found again if a session fixture is set up anew, as
    happens when tests marked ``engines`` switch the session's server back and forth)."""
    existing = [user for user in ls.users.list() if user.email == "two@example.com"]
    user = (
        existing[0]
        if existing
        else ls.users.create(username="annotator-two", email="two@example.com", first_name="Two")
    )
    return int(user.id)
