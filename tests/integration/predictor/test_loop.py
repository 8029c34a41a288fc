"""The loop, end to end, against the real Label Studio: the backend predicts a project of a few hundred texts
(version A: no examples yet), people annotate a part (the test, through the SDK), ``ls-langchain learn`` keeps
their answers, the backend predicts again (version B: with examples), and ``ls-langchain evaluate`` compares A and
B on the annotated tasks, with the difference's interval.

The model is a test double, not a model: ``FakeOpenAI`` (a local OpenAI-compatible HTTP server) behind the real
``ChatOpenAI``, programmed by ``answer_from_examples``, whose answer depends only on the examples it is shown.
This proves the plumbing and the statistics, not a model's skill.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.cli import main
from ls_langchain.localstudio import LocalStudio

from fake_openai import FakeOpenAI, Reply
from seed_configs import TEXT_CLASSIFICATION

THINGS = ["printer", "laptop", "train", "kettle", "router", "bus", "phone", "heater", "elevator", "dishwasher"]
SARCASTIC = "Sarcastic"
PLAIN = "Not Sarcastic"


def texts() -> list[tuple[str, str]]:
    """300 texts and their right label: sarcasm and plain statements, alternating."""
    made = []
    for i in range(150):
        thing = THINGS[i % len(THINGS)]
        made.append((f"Oh great, the {thing} number {i} broke down again. Just lovely, thanks a lot.", SARCASTIC))
        made.append((f"The {thing} number {i} was delivered on Tuesday morning to the office.", PLAIN))
    return made


def answer_from_examples(request: dict[str, Any]) -> Reply:
    """Test double: shown no example, it answers "Not Sarcastic" for every text; shown examples, it answers the
    label of the last one, which the backend places nearest the task because it is the most similar."""
    shown = [m["content"] for m in request["messages"] if m["role"] == "assistant"]
    label = json.loads(shown[-1])["sentiment"][0] if shown else PLAIN
    return Reply.of_json({"answer": "", "sentiment": [label]})


def mean_jaccard(predicted: dict[int, set[str]], truth: dict[int, set[str]]) -> float:
    """The evaluation's main figure for multiple choices, by hand: shared labels over all labels, averaged."""
    return sum(len(predicted[t] & truth[t]) / len(predicted[t] | truth[t]) for t in truth) / len(truth)


def choice(label: str) -> dict[str, Any]:
    return {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}


def labels_of(prediction: Any) -> set[str]:
    regions = [region for region in prediction.result if region["from_name"] == "sentiment"]
    return {label for region in regions for label in region["value"]["choices"]}


def test_predict_annotate_learn_predict_evaluate(
    ls: LabelStudio,
    studio: LocalStudio,
    pat: str,
    fake_openai: FakeOpenAI,
    title: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_openai.responder = answer_from_examples
    env = {
        "LABEL_STUDIO_URL": studio.url,
        "LABEL_STUDIO_API_KEY": pat,
        "OPENAI_API_KEY": "sk-loop-secret",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_MODEL": "gpt-4o-mini",
        "MODEL_DIR": str(tmp_path / "model_dir"),
        "DEFAULT_PROMPT": "Is it sarcastic?",
        "FEW_SHOT": "3",
        "MAX_CONCURRENCY": "8",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    data = texts()
    project = ls.projects.create(title=title, label_config=TEXT_CLASSIFICATION)
    ls.projects.import_tasks(id=project.id, request=[{"text": text} for text, _ in data])
    right = dict(data)
    tasks = {int(t.id): right[t.data["text"]] for t in ls.tasks.list(project=project.id, page_size=500)}
    assert len(tasks) == 300

    # version A: the pool is empty
    assert main(["predict", "--project", str(project.id), "--filter", "all"]) == 0
    [version_a] = {p.model_version for p in ls.predictions.list(project=project.id)}

    # people annotate a fifth of the tasks, right every time
    annotated = sorted(tasks)[::5]
    for task_id in annotated:
        ls.annotations.create(id=task_id, result=[choice(tasks[task_id])])
    capsys.readouterr()
    assert main(["learn", "--project", str(project.id)]) == 0
    assert f"Project {project.id}: 60 examples from 60 annotated tasks; published as pool-" in capsys.readouterr().out

    # version B: every task again, each shown its three nearest examples (never itself)
    assert main(["predict", "--project", str(project.id), "--filter", "all"]) == 0
    predictions = list(ls.predictions.list(project=project.id))
    [version_b] = {p.model_version for p in predictions} - {version_a}
    by_version: dict[str, dict[int, set[str]]] = {version_a: {}, version_b: {}}
    for prediction in predictions:
        by_version[prediction.model_version][int(prediction.task)] = labels_of(prediction)
    truth = {task_id: {tasks[task_id]} for task_id in annotated}
    expected_a = mean_jaccard(by_version[version_a], truth)
    expected_b = mean_jaccard(by_version[version_b], truth)
    assert expected_a == pytest.approx(0.5) and expected_b > 0.9  # the double's answers, as programmed

    out = tmp_path / "report"
    args = ["evaluate", "--project", str(project.id), "--model-version", version_a, "--model-version", version_b]
    assert main([*args, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    [comparison] = [c for c in report["comparisons"] if c["control"] == "sentiment"]
    assert (comparison["a"], comparison["b"], comparison["tasks"]) == (version_a, version_b, len(annotated))
    assert comparison["a_value"] == pytest.approx(expected_a, abs=1e-3)
    assert comparison["b_value"] == pytest.approx(expected_b, abs=1e-3)
    low, high = comparison["ci95"]
    assert 0 < low <= comparison["difference"] <= high
    assert comparison["better"] == version_b
    assert comparison["verdict"].startswith(f"{version_b} is better")
    assert version_b in capsys.readouterr().out
