"""Evaluation report against the real Label Studio, on Label Studio's prompt-evaluation config (Taxonomy + Rating):
figures per model version in JSON, Markdown tables, PNG charts beside them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.export import Filters, export_project
from ls_langchain.studio import Studio

from export_shapes import EVAL_CONFIG, answer, prompt_task, rating, taxonomy


def _task(text: str, model_answer: str, model: str) -> dict[str, object]:
    task = prompt_task(text, model_answer, model=model, to="context")
    return {**task, "data": {"text": text}}


@pytest.fixture
def evaluated(studio_client: Studio, ls: LabelStudio, make_project) -> int:
    """Two models; gpt-a: one answer kept, one rewritten, one task skipped; gpt-b: one judged, one untouched."""
    project, (kept, rewritten, skipped, judged, untouched) = make_project(
        EVAL_CONFIG,
        [
            _task("Where is Paris?", "In France.", "gpt-a"),
            _task("Who wrote Hamlet?", "aaaa", "gpt-a"),
            _task("Is water wet?", "Yes.", "gpt-a"),
            _task("Say something nice.", "You are slow.", "gpt-b"),
            _task("What is 2+2?", "4", "gpt-b"),
        ],
    )
    to = "context"
    relevant, correct = ("Relevance", "Relevant"), ("Correctness", "Correct")
    ls.annotations.create(id=kept, result=[answer("In France.", to), rating(5, to), taxonomy(relevant, correct)])
    hallucinated = ("Correctness", "Contains hallucinations")
    ls.annotations.create(id=rewritten, result=[answer("bbbb", to), rating(3, to), taxonomy(hallucinated)])
    ls.annotations.create(id=skipped, result=[], was_cancelled=True)
    ls.annotations.create(
        id=judged, result=[rating(1, to), taxonomy(("Toxicity", "Mockery"), ("Relevance", "Irrelevant"))]
    )
    del untouched
    return project


def test_figures_per_model(studio_client: Studio, evaluated: int, tmp_path: Path) -> None:
    summary = export_project(studio_client, evaluated, "eval", tmp_path / "report.md")

    figures = json.loads((tmp_path / "report.json").read_text())["models"]
    assert figures["gpt-a"] == {
        "tasks": 3,
        "annotated": 2,
        "skipped": 1,
        "not_annotated": 0,
        "annotations": 2,
        "ratings": {"rating": {"count": 2, "mean": 4.0, "distribution": {"3": 1, "5": 1}}},
        "labels": {
            "evals": {"Relevance: Relevant": 1, "Correctness: Correct": 1, "Correctness: Contains hallucinations": 1}
        },
        "edits": {"compared": 2, "accepted_unchanged": 1, "edited": 1, "mean_edit_ratio": 0.5},
    }
    assert figures["gpt-b"] == {
        "tasks": 2,
        "annotated": 1,
        "skipped": 0,
        "not_annotated": 1,
        "annotations": 1,
        "ratings": {"rating": {"count": 1, "mean": 1.0, "distribution": {"1": 1}}},
        "labels": {"evals": {"Toxicity: Mockery": 1, "Relevance: Irrelevant": 1}},
        "edits": {"compared": 1, "accepted_unchanged": 1, "edited": 0, "mean_edit_ratio": 0.0},
    }
    assert (summary.tasks_read, summary.records) == (5, 3)
    assert summary.left_out == {"skipped": 1, "not_annotated": 1}


def test_markdown_with_charts_beside_it(studio_client: Studio, evaluated: int, tmp_path: Path) -> None:
    summary = export_project(studio_client, evaluated, "eval", tmp_path / "out" / "report.md")

    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| `gpt-a` | 3 | 2 (67%) | 1 | 4.0 | 1 (50%) | 0.5 |" in markdown
    assert "| `gpt-b` | 2 | 1 (50%) | 0 | 1.0 | 1 (100%) | 0.0 |" in markdown
    assert "| Correctness: Contains hallucinations | 1 | 0 |" in markdown
    charts = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert charts == ["report-edits.png", "report-labels-evals.png", "report-rating-rating.png"]
    for name in charts:
        assert f"]({name})" in markdown
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(summary.files) == {tmp_path / "out" / n for n in ["report.md", "report.json", *charts]}


def test_one_model_only(studio_client: Studio, evaluated: int, tmp_path: Path) -> None:
    summary = export_project(studio_client, evaluated, "eval", tmp_path / "b.md", filters=Filters(model="gpt-b"))

    assert list(json.loads((tmp_path / "b.json").read_text())["models"]) == ["gpt-b"]
    assert summary.left_out == {"other_model": 3, "not_annotated": 1}
    assert "Filters: model `gpt-b`." in (tmp_path / "b.md").read_text()
