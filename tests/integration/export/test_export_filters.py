"""Export filters against the real Label Studio: model, annotator, dates, limit, and --all."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.errors import ConfigurationError
from ls_langchain.export import Filters, export_project
from ls_langchain.studio import Studio

from export_shapes import PROMPT_CONFIG, answer, prompt_task, read_lines


@pytest.fixture
def mixed(studio_client: Studio, ls: LabelStudio, make_project, second_annotator: int) -> tuple[int, datetime]:
    """Four tasks: three answered by model-a, one by model-b; the admin annotated two, the second annotator one.

    Returns the project id and when the first annotation was made, as Label Studio stored it."""
    project, (first, second, third, fourth) = make_project(
        PROMPT_CONFIG,
        [
            prompt_task("one", "1?", model="model-a"),
            prompt_task("two", "2?", model="model-a"),
            prompt_task("three", "3?", model="model-b"),
            prompt_task("four", "4?", model="model-a"),
        ],
    )
    made = ls.annotations.create(id=first, result=[answer("1")])
    ls.annotations.create(id=second, result=[answer("2")], completed_by=second_annotator)
    ls.annotations.create(id=third, result=[answer("3")])
    del fourth
    assert made.created_at is not None
    return project, made.created_at


def _finals(path: Path) -> list[str]:
    return [line["messages"][-1]["content"] for line in read_lines(path)]


def test_by_model(studio_client: Studio, mixed: tuple[int, datetime], tmp_path: Path) -> None:
    summary = export_project(studio_client, mixed[0], "sft", tmp_path / "o.jsonl", filters=Filters(model="model-b"))

    assert _finals(tmp_path / "o.jsonl") == ["3"]
    assert summary.left_out == {"other_model": 3}


def test_by_annotator_email_or_id(
    studio_client: Studio, mixed: tuple[int, datetime], second_annotator: int, tmp_path: Path
) -> None:
    by_email = export_project(
        studio_client, mixed[0], "sft", tmp_path / "e.jsonl", filters=Filters(annotator="TWO@example.com")
    )
    export_project(studio_client, mixed[0], "sft", tmp_path / "i.jsonl", filters=Filters(annotator=second_annotator))

    assert _finals(tmp_path / "e.jsonl") == _finals(tmp_path / "i.jsonl") == ["2"]
    assert by_email.left_out == {"other_annotator": 2, "not_annotated": 1}


def test_an_unknown_annotator_is_refused(studio_client: Studio, mixed: tuple[int, datetime], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=re.escape("no user with email 'nobody@example.com'")):
        export_project(
            studio_client, mixed[0], "sft", tmp_path / "o.jsonl", filters=Filters(annotator="nobody@example.com")
        )


def test_by_date(studio_client: Studio, mixed: tuple[int, datetime], tmp_path: Path) -> None:
    project, made = mixed
    later = export_project(
        studio_client, project, "sft", tmp_path / "later.jsonl", filters=Filters(since=made + timedelta(hours=1))
    )
    window = Filters(since=made - timedelta(minutes=1), until=made + timedelta(hours=1))
    export_project(studio_client, project, "sft", tmp_path / "window.jsonl", filters=window)

    assert _finals(tmp_path / "later.jsonl") == []
    assert later.left_out == {"outside_dates": 3, "not_annotated": 1}
    assert _finals(tmp_path / "window.jsonl") == ["1", "2", "3"]


def test_limit_counts_exported_tasks(studio_client: Studio, mixed: tuple[int, datetime], tmp_path: Path) -> None:
    summary = export_project(studio_client, mixed[0], "sft", tmp_path / "o.jsonl", filters=Filters(limit=2))

    assert _finals(tmp_path / "o.jsonl") == ["1", "2"]
    assert (summary.tasks_read, summary.tasks_exported) == (2, 2)


def test_all_takes_the_prediction_of_unannotated_tasks(
    studio_client: Studio, mixed: tuple[int, datetime], tmp_path: Path
) -> None:
    summary = export_project(
        studio_client, mixed[0], "sft", tmp_path / "o.jsonl", filters=Filters(annotated_only=False)
    )

    assert _finals(tmp_path / "o.jsonl") == ["1", "2", "3", "4?"]
    assert summary.left_out == {}


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"limit": 0}, "limit must be a positive number"),
        ({"since": datetime(2025, 2, 1), "until": datetime(2025, 1, 1)}, "must come before until"),
    ],
)
def test_contradictory_filters_are_refused(filters: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Filters(**filters)  # type: ignore[arg-type]
