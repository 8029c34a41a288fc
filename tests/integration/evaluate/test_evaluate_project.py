"""``evaluate_project`` and ``ls-langchain evaluate`` against the real Label Studio: a project with every kind of
control, two model versions, one and two annotators, ground truth, a skipped and an untouched task. Every figure of
report.json is checked against values worked out by hand in the comments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.cli import main
from ls_langchain.evaluation import evaluate_project
from ls_langchain.studio import Studio

from evaluation_shapes import CONFIG, TEXT, result

A, B = "prompt-a", "prompt-b"
PER_ANN, PER_BOB, LOC_ROME = ("PER", 0, 3), ("PER", 8, 11), ("LOC", 15, 19)

# Task by task: people's answer (the annotation that counts), then version A's and B's predictions.
TRUTH = {
    1: result("pos", ["a"], [["X", "X1"]], 5, 10, [PER_ANN, PER_BOB, LOC_ROME], "Fine."),
    2: result("neg", ["a", "b"], [["Y"]], 3, 7.5, [PER_ANN], "abcd"),
    3: result("neu", None, None, 4, None, [], "wxyz"),
    4: result("pos"),
    5: result("neg"),
    6: result("pos", rating=3),  # the ground truth; a later annotation by someone else says neg
}
PREDICTED = {
    1: (
        result("pos", ["a"], [["X", "X1"]], 4, 10, [PER_ANN, LOC_ROME], "Fine."),
        result("pos", ["a"], [["Y"]], 5, None, [PER_ANN, PER_BOB, LOC_ROME], "Fine."),
    ),
    2: (
        result("pos", ["a"], [["Y"]], 1, 8, [("PER", 0, 2)], "abcd"),
        result("neg", ["a", "b"], [["Y"]], 3, 7.5, [("LOC", 0, 3)], "abXY"),
    ),
    3: (result("neu", ["c"], None, 4, None, [], "wxyz"), result("neg", None, None, 2)),
    4: (result(), result("pos")),
    5: (result("neg"), result("neg")),
    6: (result("neg"), result("pos")),
    7: (result("pos"), result("pos")),  # nobody annotated it
    8: (result("neg"), result("neg")),  # skipped
}


def _task(number: int) -> dict[str, Any]:
    a, b = PREDICTED[number]
    return {
        "data": {"text": TEXT, "number": number},
        "predictions": [{"model_version": A, "result": a}, {"model_version": B, "result": b}],
    }


@pytest.fixture
def project(studio_client: Studio, ls: LabelStudio, title: str, other_annotator: int) -> int:
    made = studio_client.create_project(title, CONFIG)
    imported = studio_client.import_tasks(made.id, [_task(n) for n in range(1, 9)]).task_ids
    ids = dict(zip(range(1, 9), imported, strict=True))
    # Task 1: someone else annotated first, then the admin (latest: the admin's counts).
    ls.annotations.create(id=ids[1], result=result("pos", ["a"], rating=4), completed_by=other_annotator)
    for number in (1, 2, 3, 4, 5):
        ls.annotations.create(id=ids[number], result=TRUTH[number])
    # Task 6: the admin's ground truth, then someone else's later, different answer.
    ls.annotations.create(id=ids[6], result=TRUTH[6], ground_truth=True)
    ls.annotations.create(id=ids[6], result=result("neg", rating=3), completed_by=other_annotator)
    ls.annotations.create(id=ids[8], result=[], was_cancelled=True)
    return made.id


def _label(precision: float, recall: float, f1: float, support: int) -> dict[str, Any]:
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def test_every_figure_of_the_report(studio_client: Studio, project: int, tmp_path: Path) -> None:
    report = evaluate_project(studio_client, project, tmp_path, model_versions=[A, B])
    data = json.loads((tmp_path / "report.json").read_text())
    assert data == report.to_json() | {"created_at": data["created_at"]}
    assert data["truth"] == "latest"
    # 8 tasks; 6 have people's answer; task 7 nobody annotated, task 8 was skipped.
    assert data["tasks"] == {"read": 8, "evaluated": 6, "left_out": {"not_annotated": 1, "skipped": 1}}
    for version in (A, B):
        model = data["models"][version]
        counts = {k: model[k] for k in ("name", "tasks", "annotated", "skipped", "not_annotated", "annotations")}
        assert counts == {
            "name": None,
            "tasks": 8,
            "annotated": 6,
            "skipped": 1,
            "not_annotated": 1,
            "annotations": 8,  # two on tasks 1 and 6
        }
    a, b = data["models"][A]["controls"], data["models"][B]["controls"]

    # sentiment, people: 1 pos, 2 neg, 3 neu, 4 pos, 5 neg, 6 pos (ground truth).
    # A: pos, pos, neu, (none), neg, neg -> answered 5, right on 1, 3, 5: 3/5. Confusion rows pos [1,1,0],
    # neg [1,1,0], neu [0,0,1]; per label pos 1/2 1/2, neg 1/2 1/2, neu 1 1; macro-F1 (0.5+0.5+1)/3.
    # kappa: po 0.6, pe = (2/5)(2/5) + (2/5)(2/5) + (1/5)(1/5) = 0.36 -> 0.24/0.64 = 0.375.
    assert a["sentiment"] == {
        "tasks": 6,
        "answered": 5,
        "abstained": 1,
        "coverage": round(5 / 6, 4),
        "labels": ["pos", "neg", "neu"],
        "accuracy": 0.6,
        "kappa": 0.375,
        "macro_f1": round(2 / 3, 4),
        "per_label": {"pos": _label(0.5, 0.5, 0.5, 2), "neg": _label(0.5, 0.5, 0.5, 2), "neu": _label(1, 1, 1, 1)},
        "confusion": {"labels": ["pos", "neg", "neu"], "matrix": [[1, 1, 0], [1, 1, 0], [0, 0, 1]]},
        "distribution": {"values": ["pos", "neg", "neu"], "truth": [3, 2, 1], "predicted": [2, 2, 1]},
        "agreement": 0.6,
    }
    # B: pos, neg, neg, pos, neg, pos -> 5/6. pos 3/3; neg predicted 3 times, right twice: P 2/3 R 1 F1 0.8;
    # neu never predicted: 0. kappa: po 5/6, pe = (3/6)(3/6) + (2/6)(3/6) = 15/36 -> (5/6 - 15/36)/(21/36) = 5/7.
    assert b["sentiment"] == {
        "tasks": 6,
        "answered": 6,
        "abstained": 0,
        "coverage": 1.0,
        "labels": ["pos", "neg", "neu"],
        "accuracy": round(5 / 6, 4),
        "kappa": round(5 / 7, 4),
        "macro_f1": 0.6,
        "per_label": {"pos": _label(1, 1, 1, 3), "neg": _label(round(2 / 3, 4), 1, 0.8, 2), "neu": _label(0, 0, 0, 1)},
        "confusion": {"labels": ["pos", "neg", "neu"], "matrix": [[3, 0, 0], [0, 2, 0], [0, 1, 0]]},
        "distribution": {"values": ["pos", "neg", "neu"], "truth": [3, 2, 1], "predicted": [3, 3, 0]},
        "agreement": round(5 / 6, 4),
    }

    # topics (a set; an annotation without it says "none"): people {a}, {a,b}, {} and {} on 4-6.
    # A: {a}, {a}, {c}, then nothing (abstained): exact 1/3, Jaccard (1 + 1/2 + 0)/3; micro: tp 2, fp 1, fn 1.
    assert a["topics"] == {
        "tasks": 6,
        "answered": 3,
        "abstained": 3,
        "coverage": 0.5,
        "labels": ["a", "b", "c"],
        "exact_match": round(1 / 3, 4),
        "mean_jaccard": 0.5,
        "micro_f1": round(2 / 3, 4),
        "macro_f1": round(1 / 3, 4),
        "per_label": {"a": _label(1, 1, 1, 2), "b": _label(0, 0, 0, 1), "c": _label(0, 0, 0, 0)},
        "distribution": {"values": ["a", "b", "c"], "truth": [2, 1, 0], "predicted": [2, 0, 1]},
        "agreement": round(1 / 3, 4),
    }
    assert b["topics"] == {
        "tasks": 6,
        "answered": 2,
        "abstained": 4,
        "coverage": round(2 / 6, 4),
        "labels": ["a", "b", "c"],
        "exact_match": 1.0,
        "mean_jaccard": 1.0,
        "micro_f1": 1.0,
        "macro_f1": 1.0,
        "per_label": {"a": _label(1, 1, 1, 2), "b": _label(1, 1, 1, 1), "c": _label(0, 0, 0, 0)},
        "distribution": {"values": ["a", "b", "c"], "truth": [2, 1, 0], "predicted": [2, 1, 0]},
        "agreement": 1.0,
    }

    # tax: people X / X1, Y; A the same; B Y, Y: exact 1/2, micro tp 1 fp 1 fn 1, macro over X / X1 (0) and Y (2/3).
    paths = ["X", "X / X1", "Y"]
    assert a["tax"] == {
        "tasks": 6,
        "answered": 2,
        "abstained": 4,
        "coverage": round(2 / 6, 4),
        "labels": paths,
        "exact_match": 1.0,
        "mean_jaccard": 1.0,
        "micro_f1": 1.0,
        "macro_f1": 1.0,
        "per_label": {"X": _label(0, 0, 0, 0), "X / X1": _label(1, 1, 1, 1), "Y": _label(1, 1, 1, 1)},
        "distribution": {"values": paths, "truth": [0, 1, 1], "predicted": [0, 1, 1]},
        "agreement": 1.0,
    }
    assert b["tax"] == {
        "tasks": 6,
        "answered": 2,
        "abstained": 4,
        "coverage": round(2 / 6, 4),
        "labels": paths,
        "exact_match": 0.5,
        "mean_jaccard": 0.5,
        "micro_f1": 0.5,
        "macro_f1": round(1 / 3, 4),
        "per_label": {"X": _label(0, 0, 0, 0), "X / X1": _label(0, 0, 0, 1), "Y": _label(0.5, 1, round(2 / 3, 4), 1)},
        "distribution": {"values": paths, "truth": [0, 1, 1], "predicted": [0, 0, 2]},
        "agreement": 0.5,
    }

    # rating: people 5, 3, 4, and 3 on task 6 (their mean 3.75). A 4, 1, 4 (none on 6): errors 1, 2, 0.
    # B 5, 3, 2: errors 0, 0, 2.
    assert a["rating"] == {
        "tasks": 4,
        "answered": 3,
        "abstained": 1,
        "coverage": 0.75,
        "mae": 1.0,
        "exact": round(1 / 3, 4),
        "within_1": round(2 / 3, 4),
        "mean_truth": 4.0,
        "mean_predicted": 3.0,
        "distribution": {
            "values": [1, 2, 3, 4, 5],  # every value of the Rating, zeros included
            "truth": [0, 0, 2, 1, 1],
            "predicted": [1, 0, 0, 2, 0],
            "truth_mean": 3.75,
        },
        "agreement": round(1 / 3, 4),
    }
    assert b["rating"] == {
        "tasks": 4,
        "answered": 3,
        "abstained": 1,
        "coverage": 0.75,
        "mae": round(2 / 3, 4),
        "exact": round(2 / 3, 4),
        "within_1": round(2 / 3, 4),
        "mean_truth": 4.0,
        "mean_predicted": round(10 / 3, 4),
        "distribution": {
            "values": [1, 2, 3, 4, 5],
            "truth": [0, 0, 2, 1, 1],
            "predicted": [0, 1, 1, 0, 1],
            "truth_mean": 3.75,
        },
        "agreement": round(2 / 3, 4),
    }

    # number: people 10 and 7.5. A 10, 8: errors 0, 0.5. B nothing, 7.5.
    assert a["number"] == {
        "tasks": 2,
        "answered": 2,
        "abstained": 0,
        "coverage": 1.0,
        "mae": 0.25,
        "exact": 0.5,
        "within_1": 1.0,
        "mean_truth": 8.75,
        "mean_predicted": 9.0,
        "distribution": {"values": [7.5, 8, 10], "truth": [1, 0, 1], "predicted": [0, 1, 1], "truth_mean": 8.75},
        "agreement": 0.5,
    }
    assert b["number"] == {
        "tasks": 2,
        "answered": 1,
        "abstained": 1,
        "coverage": 0.5,
        "mae": 0.0,
        "exact": 1.0,
        "within_1": 1.0,
        "mean_truth": 7.5,
        "mean_predicted": 7.5,
        "distribution": {"values": [7.5, 10], "truth": [1, 1], "predicted": [1, 0], "truth_mean": 8.75},
        "agreement": 1.0,
    }

    # ner: people {Ann, Bob, Rome} and {Ann}. A {Ann, Rome} and {PER 0-2}: exact tp 2 of 3 predicted and 4 people's;
    # overlapping: all 3 predicted overlap, 3 of 4 people's are overlapped. B {Ann, Bob, Rome} and {LOC 0-3}.
    assert a["ner"] == {
        "tasks": 6,
        "answered": 2,
        "abstained": 4,
        "coverage": round(2 / 6, 4),
        "exact": {"precision": round(2 / 3, 4), "recall": 0.5, "f1": round(4 / 7, 4)},
        "overlap": {"precision": 1.0, "recall": 0.75, "f1": round(6 / 7, 4)},
        "spans_predicted": 3,
        "spans_truth": 4,
        "agreement": round(4 / 7, 4),
    }
    assert b["ner"] == {
        "tasks": 6,
        "answered": 2,
        "abstained": 4,
        "coverage": round(2 / 6, 4),
        "exact": {"precision": 0.75, "recall": 0.75, "f1": 0.75},
        "overlap": {"precision": 0.75, "recall": 0.75, "f1": 0.75},
        "spans_predicted": 4,
        "spans_truth": 4,
        "agreement": 0.75,
    }

    # response: people "Fine.", "abcd", "wxyz". A the same; B "Fine.", "abXY" (similarity 2*2/8: edit ratio 0.5).
    assert a["response"] == {
        "tasks": 3,
        "answered": 3,
        "abstained": 0,
        "coverage": 1.0,
        "accepted_unchanged": 1.0,
        "mean_edit_ratio": 0.0,
        "agreement": 1.0,
    }
    assert b["response"] == {
        "tasks": 3,
        "answered": 2,
        "abstained": 1,
        "coverage": round(2 / 3, 4),
        "accepted_unchanged": 0.5,
        "mean_edit_ratio": 0.25,
        "agreement": 0.5,
    }

    # People with each other, on tasks 1 (other: pos {a} 4; admin: pos {a} X/X1 5 3 spans) and 6 (admin: pos 3;
    # other: neg 3), first annotator of each task against the second.
    # sentiment: (pos, pos), (pos, neg): 1/2; kappa po 1/2, pe = 1 * 1/2 -> 0.
    # topics: ({a}, {a}), ({}, {}): 1, kappa 1. tax: ({}, {X/X1}), ({}, {}): 1/2, kappa 0.
    # rating: (4, 5), (3, 3): 1/2; quadratic kappa on ranks (1, 2), (0, 0): 1 - 1/3. ner: F1 0 and 1 (both empty).
    assert data["human"] == {
        "sentiment": {"tasks": 2, "pairs": 2, "agreement": 0.5, "statistic": "cohen_kappa", "value": 0.0},
        "topics": {"tasks": 2, "pairs": 2, "agreement": 1.0, "statistic": "cohen_kappa", "value": 1.0},
        "tax": {"tasks": 2, "pairs": 2, "agreement": 0.5, "statistic": "cohen_kappa", "value": 0.0},
        "rating": {"tasks": 2, "pairs": 2, "agreement": 0.5, "statistic": "cohen_kappa", "value": round(2 / 3, 4)},
        "ner": {"tasks": 2, "pairs": 2, "agreement": 0.5},
    }

    # B against A on the tasks both answered.
    comparisons = {c["control"]: c for c in data["comparisons"]}
    assert list(comparisons) == ["sentiment", "topics", "tax", "rating", "number", "ner", "response"]
    expected = {  # control: (figure, tasks, A, B)
        "sentiment": ("accuracy", 5, 0.6, 0.8),  # tasks 1, 2, 3, 5, 6
        "topics": ("mean_jaccard", 2, 0.75, 1.0),
        "tax": ("mean_jaccard", 2, 1.0, 0.5),
        "rating": ("mae", 3, 1.0, round(2 / 3, 4)),
        "number": ("mae", 1, 0.5, 0.0),
        "ner": ("exact_f1", 2, round(4 / 7, 4), 0.75),
        "response": ("mean_edit_ratio", 2, 0.0, 0.25),
    }
    for control, (figure, tasks, value_a, value_b) in expected.items():
        found = comparisons[control]
        assert (found["a"], found["b"], found["figure"], found["tasks"]) == (A, B, figure, tasks)
        assert (found["a_value"], found["b_value"]) == (value_a, value_b)
        assert found["difference"] == round(value_b - value_a, 4)
        low, high = found["ci95"]
        if tasks > 1:
            assert low <= found["difference"] <= high
        # So few tasks: nothing is significant, and the report says so.
        assert (found["significant"], found["better"]) == (False, None)
        assert found["verdict"].startswith("No significant difference")
    # McNemar on sentiment: only A right on task 3, only B right on 2 and 6: binomial(1 of 3) two-sided p = 1.
    assert comparisons["sentiment"]["mcnemar"] == {"only_a_right": 1, "only_b_right": 2, "p_value": 1.0}
    assert comparisons["number"]["ci95"] == [None, None]  # one task cannot be resampled


def test_ground_truth_and_majority(studio_client: Studio, project: int) -> None:
    only_ground_truth = evaluate_project(studio_client, project, model_versions=[A], truth="ground-truth")
    assert (only_ground_truth.tasks_evaluated, only_ground_truth.left_out["no_ground_truth"]) == (1, 5)
    assert only_ground_truth.models[A].controls["sentiment"]["accuracy"] == 0.0  # people pos, A neg on task 6

    majority = evaluate_project(studio_client, project, model_versions=[B], truth="majority")
    # Task 6 is a tie (pos against neg): no truth for sentiment there; task 1 is pos by both.
    assert majority.models[B].controls["sentiment"]["tasks"] == 5
    # On task 1 only one of two chose X / X1 and marked spans: not a majority, so people's answer is "none".
    assert majority.models[B].controls["tax"]["distribution"]["truth"] == [0, 0, 1]


def test_cli_writes_the_report_and_prints_the_comparison(
    studio_client: Studio,
    pat: str,
    project: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_URL", studio_client.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", pat)
    out = tmp_path / "eval"
    code = main(["evaluate", "--project", str(project), "--model-version", A, "--model-version", B, "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.md", "report.html", "report-agreement.png"}
    assert "sentiment: No significant difference: accuracy 0.600 (prompt-a) vs 0.800 (prompt-b)" in printed
    assert "Evaluated 2 model versions on 6 of 8 tasks" in printed
    markdown = (out / "report.md").read_text()
    assert "| model | tasks predicted | annotated | skipped | not annotated | annotations |" in markdown
    assert "![Agreement with people, per control](report-agreement.png)" in markdown


def test_unknown_project_is_one_line(
    studio_client: Studio, pat: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", pat)
    code = main(["evaluate", "--project", "999999", "--out", str(tmp_path), "--url", studio_client.url])
    assert code == 2
    assert capsys.readouterr().err.startswith("ls-langchain: Label Studio at")


RAG_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="answerable" toName="text"><Choice value="yes"/><Choice value="no"/></Choices>
</View>"""


def test_figures_are_split_by_whether_the_model_had_retrieved_context(
    studio_client: Studio, ls: LabelStudio, title: str, tmp_path: Path
) -> None:
    # Four tasks with retrieved documents (3 predicted right), four without (1 right), one with meta.retrieval only.
    document = [{"source": "faq.md", "text": "Opening hours: 9 to 5."}]
    rows = [(document, "yes", "yes")] * 3 + [(document, "no", "yes")]
    rows += [([], "yes", "yes")] + [([], "no", "yes")] * 3
    tasks: list[dict[str, Any]] = [
        {
            "data": {"text": f"question {n}", "context": context},
            "predictions": [{"model_version": A, "result": _choice(predicted)}],
        }
        for n, (context, predicted, _) in enumerate(rows)
    ]
    tasks.append(
        {
            "data": {"text": "question 8"},
            "meta": {"retrieval": [{"query": "hours", "ids": ["faq"]}]},
            "predictions": [{"model_version": A, "result": _choice("yes")}],
        }
    )
    made = studio_client.create_project(title, RAG_CONFIG)
    imported = studio_client.import_tasks(made.id, tasks).task_ids
    for task_id, (_, _, truth) in zip(imported, [*rows, ([], "", "yes")], strict=True):
        ls.annotations.create(id=task_id, result=_choice(truth))

    report = evaluate_project(studio_client, made.id, tmp_path / "rag")

    sliced = report.models[A].slices
    with_context, without = sliced["with retrieved context"], sliced["without retrieved context"]
    assert (with_context["answerable"]["tasks"], with_context["answerable"]["accuracy"]) == (5, 0.8)  # 4 of 5
    assert (without["answerable"]["tasks"], without["answerable"]["accuracy"]) == (4, 0.25)  # 1 of 4
    assert report.models[A].controls["answerable"]["accuracy"] == round(5 / 9, 4)
    assert json.loads((tmp_path / "rag" / "report.json").read_text())["models"][A]["slices"] == {
        name: {"answerable": dict(figures["answerable"])} for name, figures in sliced.items()
    }
    markdown = (tmp_path / "rag" / "report.md").read_text()
    assert "split by whether the model had retrieved context" in markdown
    assert "| with retrieved context | 5 |" in markdown


def _choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "answerable", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]
