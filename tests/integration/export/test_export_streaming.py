"""Exports stream: what an export holds does not grow as it reads on (bench/export_memory.py goes to 100,000 tasks)."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import pytest

from ls_langchain.export import export_project
from ls_langchain.studio import Studio

from export_shapes import PROMPT_CONFIG, answer, prompt_task, rating

_TASKS = 1000
_PROMPT = "Why is the sky blue? " * 50  # ~1 KB a task: keeping 700 tasks would hold well over 700 KB


@pytest.fixture
def large(studio_client: Studio, title: str) -> int:
    project = studio_client.create_project(title, PROMPT_CONFIG)
    tasks = [
        {**prompt_task(f"{i}: {_PROMPT}", f"Because {i}."), "annotations": [{"result": [answer(f"{i}!"), rating(3)]}]}
        for i in range(_TASKS)
    ]
    studio_client.import_tasks(project.id, tasks)
    return project.id


@pytest.mark.parametrize("format", ["sft", "eval"])
def test_memory_held_stays_flat_while_reading(studio_client: Studio, large: int, format: str, tmp_path: Path) -> None:
    held: dict[int, int] = {}

    def sample(done: int, total: int) -> None:
        if done in (300, total):
            gc.collect()
            held[done] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        summary = export_project(studio_client, large, format, tmp_path / "out", progress=sample)  # type: ignore[arg-type]
    finally:
        tracemalloc.stop()

    assert summary.records == _TASKS
    growth = held[_TASKS] - held[300]
    assert growth < 150_000, f"{growth} bytes more held after 700 more tasks"
