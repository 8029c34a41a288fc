"""``ls-langchain predict`` against the real Label Studio: every control prefilled and read back, filters, limits,
resuming after Ctrl-C without predicting a task twice, usage and cost.

The LLM is ``FakeOpenAI`` (a local OpenAI-compatible HTTP server, a test double) behind the real ``ChatOpenAI``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.cli import main
from ls_langchain.localstudio import LocalStudio

from fake_openai import FakeOpenAI, Reply
from seed_configs import ALL_CONTROLS, PROMPT_ENGINEERING

TEXTS = [f"Anna {i} moved to Rome in 19{50 + i}, and Rome was kind to Anna {i}." for i in range(12)]


def source_text(request: dict[str, Any]) -> str:
    """The task's text, from the prompt the backend built with its internal template."""
    content = request["messages"][-1]["content"]
    return str(content).split("Source Text: ", 1)[1].split("\n\nTask Directive:", 1)[0]


def full_answer(request: dict[str, Any]) -> Reply:
    """A valid answer for ALL_CONTROLS about the task's own text."""
    text = source_text(request)
    person = " ".join(text.split()[:2])  # "Anna 3"
    return Reply.of_json(
        {
            "answer": f"Summary of: {text[:20]}",
            "entities": [{"label": "Person", "text": person}, {"label": "City", "text": "Rome"}],
            "tone": "Positive",
            "topics": ["Travel"],
            "kind": ["Story / Memoir"],
            "quality": 3,
            "year": int(text.split(" in ")[1][:4]),
        }
    )


@pytest.fixture
def env(studio: LocalStudio, pat: str, fake_openai: FakeOpenAI, tmp_path: Path) -> dict[str, str]:
    """The settings of a predict run: Label Studio, the provider=openai path aimed at the test double."""
    return {
        "LABEL_STUDIO_URL": studio.url,
        "LABEL_STUDIO_API_KEY": pat,
        "OPENAI_API_KEY": "sk-bulk-secret",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_MODEL": "gpt-4o-mini",
        "MODEL_DIR": str(tmp_path / "model_dir"),
        "MAX_CONCURRENCY": "4",
    }


@pytest.fixture
def predict(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """``ls-langchain predict ARGS`` in this process, with ``env`` set; returns the exit code."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return lambda *args: main(["predict", *args])


def new_project(ls: LabelStudio, title: str, config: str, texts: list[str]) -> tuple[int, list[int]]:
    project = ls.projects.create(title=title, label_config=config)
    ls.projects.import_tasks(id=project.id, request=[{"text": text} for text in texts])
    ids = sorted(int(task.id) for task in ls.tasks.list(project=project.id, fields="task_only"))
    return int(project.id), ids


def predictions_of(ls: LabelStudio, project_id: int) -> list[Any]:
    return list(ls.predictions.list(project=project_id))


def test_predict_prefills_every_control_and_label_studio_holds_them(
    ls: LabelStudio,
    predict: Callable[..., int],
    fake_openai: FakeOpenAI,
    title: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_openai.responder = full_answer
    project_id, task_ids = new_project(ls, title, ALL_CONTROLS, TEXTS[:3])
    details = tmp_path / "details.jsonl"
    assert predict("--project", str(project_id), "--prompt", "Label it", "--details", str(details)) == 0

    stored = {int(p.task): p for p in predictions_of(ls, project_id)}
    assert sorted(stored) == task_ids
    tasks = {int(t.id): t.data["text"] for t in ls.tasks.list(project=project_id)}
    for task_id, prediction in stored.items():
        text = tasks[task_id]
        values: dict[str, list[Any]] = {}
        for region in prediction.result:
            values.setdefault(region["from_name"], []).append(region["value"])
        assert values["tone"] == [{"choices": ["Positive"]}]
        assert values["topics"] == [{"choices": ["Travel"]}]
        assert values["kind"] == [{"taxonomy": [["Story", "Memoir"]]}]
        assert values["quality"] == [{"rating": 3}]
        assert values["year"] == [{"number": int(text.split(" in ")[1][:4])}]
        assert values["summary"] == [{"text": [f"Summary of: {text[:20]}"]}]
        assert values["prompt"] == [{"text": ["Label it"]}]
        spans = sorted((v["start"], v["end"], v["labels"][0], v["text"]) for v in values["entities"])
        person = " ".join(text.split()[:2])
        rome = [i for i in range(len(text)) if text.startswith("Rome", i)]
        assert spans == sorted(
            [(0, len(person), "Person", person), (text.rindex(person), len(text) - 1, "Person", person)]
            + [(i, i + 4, "City", "Rome") for i in rome]
        )
        assert all(text[start:end] == quoted for start, end, _, quoted in spans)

    out = capsys.readouterr().out
    assert f"Project {project_id}, model version llm-" in out
    assert "3 predictions imported, 0 tasks failed, of 3 to predict" in out
    lines = [json.loads(line) for line in details.read_text().splitlines()]
    assert sorted(line["task"] for line in lines) == task_ids
    for line in lines:
        meta = line["meta"]
        assert meta["input_tokens"] > 0 and meta["output_tokens"] > 0
        assert meta["cost_usd"] == pytest.approx((meta["input_tokens"] * 0.15 + meta["output_tokens"] * 0.6) / 1e6)
    total = sum(line["meta"]["cost_usd"] for line in lines)
    assert f"cost ${total:.6f}." in out
    assert "sk-bulk-secret" not in out + details.read_text()


def test_the_seed_judge_config_gets_its_taxonomy_and_rating_filled(
    ls: LabelStudio, predict: Callable[..., int], fake_openai: FakeOpenAI, title: str
) -> None:
    """The LLM as a first-pass judge on the prompt engineering seed: evals and rating, which people then correct."""
    fake_openai.responder = lambda request: Reply.of_json(
        {"answer": "It is wrong.", "evals": ["Correctness: Incorrect", "Relevance: Relevant"], "rating": 2}
    )
    project_id, _ = new_project(ls, title, PROMPT_ENGINEERING, ["The Eiffel Tower is in Berlin."])
    assert predict("--project", str(project_id), "--prompt", "Judge the claim") == 0
    [prediction] = predictions_of(ls, project_id)
    values = {region["from_name"]: region["value"] for region in prediction.result}
    assert values["evals"] == {"taxonomy": [["Correctness", "Incorrect"], ["Relevance", "Relevant"]]}
    assert values["rating"] == {"rating": 2}
    assert values["response"] == {"text": ["It is wrong."]}
    schema = fake_openai.requests[-1].json["response_format"]["json_schema"]["schema"]
    assert "Bias: Political" in schema["properties"]["evals"]["items"]["enum"]


def test_reruns_skip_what_holds_the_current_version_and_filters_pick_the_tasks(
    ls: LabelStudio,
    predict: Callable[..., int],
    fake_openai: FakeOpenAI,
    title: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_openai.responder = full_answer
    project_id, task_ids = new_project(ls, title, ALL_CONTROLS, TEXTS[:6])
    for task_id in task_ids[:2]:
        ls.annotations.create(id=task_id, result=[])
    run = ("--project", str(project_id), "--prompt", "Label it")

    assert predict(*run, "--filter", "annotated") == 0
    assert sorted(int(p.task) for p in predictions_of(ls, project_id)) == task_ids[:2]
    assert predict(*run, "--limit", "3") == 0  # unlabeled is the default
    assert sorted(int(p.task) for p in predictions_of(ls, project_id)) == task_ids[:5]
    assert predict(*run) == 0
    assert len(fake_openai.requests) == 6
    assert predict(*run, "--filter", "all") == 0
    assert len(fake_openai.requests) == 6  # nothing left to predict: no model call at all
    assert "0 predictions imported, 0 tasks failed, of 0 to predict" in capsys.readouterr().out
    assert Counter(int(p.task) for p in predictions_of(ls, project_id)) == dict.fromkeys(task_ids, 1)

    # another prompt is another model version: every task is predicted again, once
    assert predict("--project", str(project_id), "--prompt", "Label it again", "--filter", "all") == 0
    stored = predictions_of(ls, project_id)
    assert Counter(int(p.task) for p in stored) == dict.fromkeys(task_ids, 2)
    assert len({p.model_version for p in stored}) == 2


def test_ctrl_c_imports_what_is_done_and_a_rerun_resumes_without_predicting_any_task_twice(
    ls: LabelStudio, env: dict[str, str], fake_openai: FakeOpenAI, title: str, tmp_path: Path
) -> None:
    fake_openai.responder = full_answer
    fake_openai.delay = 0.4
    project_id, task_ids = new_project(ls, title, ALL_CONTROLS, TEXTS)
    command = [sys.executable, "-m", "ls_langchain.cli", "predict", "--project", str(project_id), "--prompt", "Go"]
    process = subprocess.Popen(
        command,
        env={**os.environ, **env, "MAX_CONCURRENCY": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(fake_openai.requests) < 3:
        assert process.poll() is None and time.monotonic() < deadline, process.stdout and process.stdout.read()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "interrupted: run it again to resume" in output
    asked = len(fake_openai.requests)
    assert 3 <= asked < len(TEXTS)
    # the tasks in flight were finished and imported: every model call made so far has its prediction
    assert len(predictions_of(ls, project_id)) == asked

    fake_openai.delay = 0.0
    rerun = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{len(TEXTS) - asked} predictions imported" in rerun.stdout
    assert Counter(int(p.task) for p in predictions_of(ls, project_id)) == dict.fromkeys(task_ids, 1)
    asked_about = Counter(source_text(request.json) for request in fake_openai.requests)
    assert asked_about == dict.fromkeys(TEXTS, 1)  # no task was sent to the model twice


def test_answers_that_do_not_validate_fill_nothing_and_say_why(
    ls: LabelStudio,
    predict: Callable[..., int],
    fake_openai: FakeOpenAI,
    title: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_openai.responder = lambda request: Reply.of_json(
        {
            "answer": "ok",
            "entities": [{"label": "City", "text": "Paris"}],
            "tone": "Meh",
            "topics": [],
            "kind": [],
            "quality": 9,
            "year": None,
        }
    )
    project_id, _ = new_project(ls, title, ALL_CONTROLS, TEXTS[:2])
    details = tmp_path / "details.jsonl"
    assert predict("--project", str(project_id), "--prompt", "Go", "--details", str(details)) == 0
    for prediction in predictions_of(ls, project_id):
        assert {region["from_name"] for region in prediction.result} == {"summary", "prompt"}
    for line in details.read_text().splitlines():
        assert json.loads(line)["meta"]["unfilled"] == {
            "entities": "'Paris' does not occur in the text",
            "tone": '"Meh" is not one of its labels',
            "quality": "9 is not a whole rating from 1 to 4",
        }
    out = capsys.readouterr().out
    assert "2 tasks left tone empty (see --details)" in out


def test_bad_input_is_one_line(
    ls: LabelStudio,
    predict: Callable[..., int],
    title: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert predict("--project", "999999", "--prompt", "Go") == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("has no project with id 999999: check project_id or LABEL_STUDIO_PROJECT_ID.")
    )
    project_id, _ = new_project(ls, title, ALL_CONTROLS, TEXTS[:1])
    assert predict("--project", str(project_id)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"No prompt for project {project_id}: pass --prompt" in err
    assert predict("--project", str(project_id), "--prompt", "Go", "--limit", "0") == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_a_second_ctrl_c_abandons_the_tasks_in_flight(
    ls: LabelStudio, env: dict[str, str], fake_openai: FakeOpenAI, title: str
) -> None:
    fake_openai.responder = full_answer
    fake_openai.delay = 4.0
    project_id, _ = new_project(ls, title, ALL_CONTROLS, TEXTS[:4])
    command = [sys.executable, "-m", "ls_langchain.cli", "predict", "--project", str(project_id), "--prompt", "Go"]
    process = subprocess.Popen(
        command, env={**os.environ, **env, "MAX_CONCURRENCY": "2"}, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while len(fake_openai.requests) < 2:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "0 predictions imported" in output
    assert predictions_of(ls, project_id) == []  # the two answers due 4 s later were never waited for


def test_an_import_whose_answer_was_lost_is_not_imported_twice(
    ls: LabelStudio, studio: LocalStudio, pat: str, fake_openai: FakeOpenAI, title: str, tmp_path: Path
) -> None:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    from ls_langchain.errors import StudioUnreachableError
    from ls_langchain.predictor import Settings
    from ls_langchain.predictor.bulk import predict_project
    from ls_langchain.studio import Studio

    class LosesTheFirstAnswer(Studio):
        """Test double around the real ``Studio``: the first import reaches Label Studio, then its answer is lost."""

        lost = 0

        def import_predictions(self, project_id: int, predictions: Any) -> int:
            created = super().import_predictions(project_id, predictions)
            if not self.lost:
                self.lost = created
                raise StudioUnreachableError("the connection dropped before the answer came")
            return created

    fake_openai.responder = full_answer
    project_id, task_ids = new_project(ls, title, ALL_CONTROLS, TEXTS[:5])
    flaky = LosesTheFirstAnswer(studio.url, pat)
    model = ChatOpenAI(model="gpt-4o-mini", api_key=SecretStr("sk-x"), base_url=fake_openai.base_url, max_retries=0)
    summary = predict_project(
        flaky, project_id, prompt="Go", settings=Settings(model_dir=str(tmp_path)), chat_model=model, batch_size=3
    )
    assert flaky.lost == 3  # the first batch was stored although its answer was lost
    assert summary.imported == 5
    assert Counter(int(p.task) for p in predictions_of(ls, project_id)) == dict.fromkeys(task_ids, 1)


def test_shards_predict_every_task_once_together_and_each_resumes(
    ls: LabelStudio,
    env: dict[str, str],
    predict: Callable[..., int],
    fake_openai: FakeOpenAI,
    title: str,
    tmp_path: Path,
) -> None:
    fake_openai.responder = full_answer
    texts = [f"Anna {i} moved to Rome in 19{50 + i}, and Rome was kind to Anna {i}." for i in range(40)]
    project_id, task_ids = new_project(ls, title, ALL_CONTROLS, texts)
    # Shard 2 of 3 starts alone and stops after 4 tasks, as an interrupted machine would.
    assert predict("--project", str(project_id), "--prompt", "Go", "--shard", "2/3", "--limit", "4") == 0
    early = {int(p.task) for p in predictions_of(ls, project_id)}
    assert len(early) == 4 and all(task_id % 3 == 1 for task_id in early)

    command = [sys.executable, "-m", "ls_langchain.cli", "predict", "--project", str(project_id), "--prompt", "Go"]
    shards = [
        subprocess.Popen(
            [*command, "--shard", f"{i}/3", "--details", str(tmp_path / f"shard-{i}.jsonl")],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in (1, 2, 3)
    ]
    outputs = [shard.communicate(timeout=300)[0] for shard in shards]
    assert [shard.returncode for shard in shards] == [0, 0, 0], outputs
    for i, output in enumerate(outputs, start=1):
        mine = [task_id for task_id in task_ids if task_id % 3 == i - 1 and task_id not in early]
        assert f"{len(mine)} predictions imported, 0 tasks failed, of {len(mine)} to predict" in output
        lines = [json.loads(line) for line in (tmp_path / f"shard-{i}.jsonl").read_text().splitlines()]
        assert sorted(line["task"] for line in lines) == mine
    assert Counter(int(p.task) for p in predictions_of(ls, project_id)) == dict.fromkeys(task_ids, 1)
    asked_about = Counter(source_text(request.json) for request in fake_openai.requests)
    assert asked_about == dict.fromkeys(texts, 1)  # no task was sent to the model twice, by any shard


def test_a_shard_that_is_not_i_of_n_is_one_line(
    ls: LabelStudio, predict: Callable[..., int], title: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project_id, _ = new_project(ls, title, ALL_CONTROLS, TEXTS[:1])
    for shard in ("0/2", "3/2", "1", "a/b", "1/0"):
        assert predict("--project", str(project_id), "--prompt", "Go", "--shard", shard) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--shard must be I/N with 1 <= I <= N (e.g. 1/4), got {shard!r}." in err
