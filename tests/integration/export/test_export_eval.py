"""``export --format eval`` against the real Label Studio, on Label Studio's prompt-evaluation config (Taxonomy +
Rating): it writes the evaluation report of ``ls-langchain evaluate`` (one implementation), named after ``--out``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.evaluation import evaluate_project
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


def test_the_evaluation_report_with_what_people_said(studio_client: Studio, evaluated: int, tmp_path: Path) -> None:
    summary = export_project(studio_client, evaluated, "eval", tmp_path / "report.md")

    data = json.loads((tmp_path / "report.json").read_text())
    same = evaluate_project(studio_client, evaluated).to_json()
    assert data == same | {"created_at": data["created_at"]}  # one report, whichever command wrote it
    a, b = data["models"]["gpt-a"], data["models"]["gpt-b"]
    assert {k: a[k] for k in ("tasks", "annotated", "skipped", "not_annotated", "annotations")} == {
        "tasks": 3,
        "annotated": 2,
        "skipped": 1,
        "not_annotated": 0,
        "annotations": 2,
    }
    assert {k: b[k] for k in ("tasks", "annotated", "skipped", "not_annotated", "annotations")} == {
        "tasks": 2,
        "annotated": 1,
        "skipped": 0,
        "not_annotated": 1,
        "annotations": 1,
    }
    # The answers: "In France." kept (edit ratio 0), "aaaa" rewritten as "bbbb" (nothing in common: 1).
    response = a["controls"]["response"]
    assert (response["tasks"], response["accepted_unchanged"], response["mean_edit_ratio"]) == (2, 0.5, 0.5)
    # What people said of gpt-a's answers: ratings 5 and 3, and the labels of the taxonomy, every one listed.
    assert a["controls"]["rating"]["distribution"] == {
        "values": [1, 2, 3, 4, 5],
        "truth": [0, 0, 1, 0, 1],
        "predicted": [0, 0, 0, 0, 0],
        "truth_mean": 4.0,
    }
    evals = a["controls"]["evals"]["distribution"]
    labels = dict(zip(evals["values"], evals["truth"], strict=True))
    assert len(labels) == 2 + 3 + 4 + 7  # every leaf of the config, zeros included
    assert {k: n for k, n in labels.items() if n} == {
        "Relevance: Relevant": 1,
        "Correctness: Correct": 1,
        "Correctness: Contains hallucinations": 1,
    }
    assert b["controls"]["rating"]["distribution"]["truth_mean"] == 1.0
    assert (summary.tasks_read, summary.tasks_exported, summary.records) == (5, 3, 3)
    assert summary.left_out == {"skipped": 1, "not_annotated": 1}
    assert summary.describe() == (
        f"Evaluated 3 of 5 tasks (3 annotations); report at {tmp_path / 'report.md'}. "
        "Not evaluated: 1 skipped by the annotator, 1 not annotated."
    )


def test_markdown_html_and_charts_beside_it(studio_client: Studio, evaluated: int, tmp_path: Path) -> None:
    summary = export_project(studio_client, evaluated, "eval", tmp_path / "out" / "report.md")

    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| model | tasks predicted | annotated | skipped | not annotated | annotations |" in markdown
    assert "| gpt-a | 3 | 2 | 1 | 0 | 2 |" in markdown
    assert "| gpt-b | 2 | 1 | 0 | 1 | 1 |" in markdown
    assert "People's mean `rating`: 4.00 on the 2 tasks of gpt-a; 1.00 on the 1 tasks of gpt-b." in markdown
    charts = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert charts == ["report-agreement.png", "report-labels-evals.png", "report-labels-rating.png"]
    for name in charts:
        assert f"]({name})" in markdown
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary.files[0] == tmp_path / "out" / "report.md"
    assert set(summary.files) == {tmp_path / "out" / n for n in ["report.md", "report.json", "report.html", *charts]}


def test_one_model_only(studio_client: Studio, evaluated: int, tmp_path: Path) -> None:
    summary = export_project(studio_client, evaluated, "eval", tmp_path / "b.md", filters=Filters(model="gpt-b"))

    assert list(json.loads((tmp_path / "b.json").read_text())["models"]) == ["gpt-b"]
    assert summary.left_out == {"other_model": 3, "not_annotated": 1}
    assert "Filters: model versions `gpt-b`." in (tmp_path / "b.md").read_text()
