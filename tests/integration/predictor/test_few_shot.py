"""Few-shot examples with the real Label Studio: annotations submitted through the SDK reach the backend by its
webhook (skipped ones never, deleted ones leave), ``ls-langchain learn`` reads a project annotated before the
backend was connected, and the examples reach the model as earlier turns, read from the requests it received.

The LLM is ``FakeOpenAI`` (a local OpenAI-compatible HTTP server, a test double) behind the real ``ChatOpenAI``.
Its answers do not depend on the examples here; tests/integration/predictor/test_loop.py has one whose do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from label_studio_sdk import LabelStudio

from ls_langchain.cli import main
from ls_langchain.localstudio import LocalStudio
from ls_langchain.predictor.redis_state import RedisState
from ls_langchain.predictor.server import create_app
from ls_langchain.predictor.state import ProjectState, SQLiteState

from fake_openai import FakeOpenAI, RecordedRequest, Reply
from seed_configs import TEXT_CLASSIFICATION
from serving import redis_server, running_backend

OPENAI_KEY = "sk-few-shot-secret"
PROMPT = "Is it sarcastic?"
TEXTS = [
    "Oh great, the train is late again. Lovely.",
    "The train leaves at nine from platform two.",
    "I just love waiting an hour for a late train.",
    "Quarterly revenue grew by four percent.",
    "Wonderful, another late train in the rain.",
    "The library opens at ten on Sundays.",
]


def choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def answer(request: dict[str, Any]) -> Reply:
    return Reply.of_json({"answer": "checked", "sentiment": ["Not Sarcastic"]})


def turns(request: RecordedRequest) -> list[tuple[str, str]]:
    """The conversation the model was sent: (role, text) for each message."""
    messages = request.json["messages"]
    return [(m["role"], m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]) for m in messages]


def task_text(text: str) -> str:
    return text.split("Source Text: ", 1)[1].split("\n\nTask Directive:", 1)[0]


def new_project(ls: LabelStudio, title: str) -> tuple[int, dict[str, int]]:
    """A classification project with TEXTS; returns its id and the task id of each text."""
    project = ls.projects.create(title=title, label_config=TEXT_CLASSIFICATION)
    ls.projects.import_tasks(id=project.id, request=[{"text": text} for text in TEXTS])
    return int(project.id), {t.data["text"]: int(t.id) for t in ls.tasks.list(project=project.id)}


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """``STATE_URL``: none for SQLite under MODEL_DIR, a real redis-server's for Redis."""
    if request.param == "sqlite":
        yield None
        return
    with redis_server(tmp_path) as url:
        yield url


def backend_env(
    studio: LocalStudio, pat: str, llm: FakeOpenAI, model_dir: Path, state_url: str | None
) -> dict[str, str]:
    env = {
        "MODEL_DIR": str(model_dir),
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_MODEL": "gpt-4o-mini",
        "LABEL_STUDIO_URL": studio.url,
        "LABEL_STUDIO_API_KEY": pat,
        "DEFAULT_PROMPT": PROMPT,
        "FEW_SHOT": "2",
        "FEW_SHOT_REFRESH": "2",
    }
    return {**env, "STATE_URL": state_url} if state_url else env


def state_of(model_dir: Path, state_url: str | None) -> ProjectState:
    return RedisState(state_url) if state_url else SQLiteState(model_dir)


def eventually(check: Callable[[], bool], what: str) -> None:
    """Label Studio sends webhooks from the request that made the change; give it a moment all the same."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_submitted_annotations_become_examples_that_reach_the_model(
    ls: LabelStudio,
    studio: LocalStudio,
    pat: str,
    fake_openai: FakeOpenAI,
    store: str | None,
    title: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the webhook Label Studio registers; another worker (SQLite) or replica (Redis, its own MODEL_DIR)
    predicts with the same examples and version."""
    fake_openai.responder = answer
    dirs = [tmp_path / "host-a", tmp_path / "host-b"] if store else [tmp_path / "shared"] * 2
    env_a, env_b = (backend_env(studio, pat, fake_openai, d, store) for d in dirs)
    with running_backend(env_a, tmp_path / "a.log", secrets=(OPENAI_KEY,)) as a:
        project_id, ids = new_project(ls, title)
        ls.ml.create(url=a, project=project_id, is_interactive=True, title="llm")
        [model] = ls.ml.list(project=project_id)
        before = model.model_version
        state = state_of(dirs[0], store)

        ls.annotations.create(id=ids[TEXTS[0]], result=choice("Sarcastic"))
        skipped = ls.annotations.create(id=ids[TEXTS[3]], result=choice("Sarcastic"), was_cancelled=True)
        assert skipped.was_cancelled
        assert state.pool_version(str(project_id)) is None  # one example waits: FEW_SHOT_REFRESH=2
        ls.annotations.create(id=ids[TEXTS[1]], result=choice("Not Sarcastic"))
        eventually(lambda: state.pool_version(str(project_id)) is not None, "no snapshot after two examples")
        published = state.published_examples(str(project_id))
        assert sorted(e.task_id for e in published) == sorted([ids[TEXTS[0]], ids[TEXTS[1]]])  # no skipped one
        [model] = ls.ml.list(project=project_id)
        assert model.model_version != before  # Label Studio learns the new version at /setup

        # Retrieve Predictions: each request carries the two examples first
        seen = len(fake_openai.requests)
        selected = {"all": False, "included": [ids[TEXTS[2]], ids[TEXTS[0]]]}
        ls.actions.create(id="retrieve_tasks_predictions", project=project_id, selected_items=selected)
        requests = {task_text(turns(r)[-1][1]): turns(r) for r in fake_openai.requests[seen:]}
        late = requests[TEXTS[2]]
        assert [role for role, _ in late] == ["user", "assistant", "user", "assistant", "user"]
        assert task_text(late[0][1]) == TEXTS[1] and task_text(late[2][1]) == TEXTS[0]  # the nearest last
        assert late[2][1].endswith(f"Task Directive: {PROMPT}")
        assert json.loads(late[3][1]) == {"answer": "", "sentiment": ["Sarcastic"]}
        assert json.loads(late[1][1]) == {"answer": "", "sentiment": ["Not Sarcastic"]}
        own = requests[TEXTS[0]]  # an annotated task is never its own example
        assert [task_text(text) for role, text in own[:-1] if role == "user"] == [TEXTS[1]]
        versions = {p.model_version for p in ls.predictions.list(project=project_id)}
        assert versions == {model.model_version}

        # the other worker or replica: the same examples, the same version
        for name, value in env_b.items():
            monkeypatch.setenv(name, value)
        other = TestClient(create_app())
        seen = len(fake_openai.requests)
        task = {"id": ids[TEXTS[2]], "data": {"text": TEXTS[2]}}
        [result] = other.post("/predict", json={"tasks": [task], "project": str(project_id)}).json()["results"]
        assert result["model_version"] == model.model_version
        assert turns(fake_openai.requests[seen]) == late

        # a deleted annotation leaves the pool at the next snapshot
        [first] = [x for x in ls.annotations.list(id=ids[TEXTS[0]]) if not x.was_cancelled]
        ls.annotations.delete(id=first.id)
        ls.annotations.create(id=ids[TEXTS[4]], result=choice("Sarcastic"))
        eventually(
            lambda: (
                sorted(e.task_id for e in state.published_examples(str(project_id)))
                == sorted([ids[TEXTS[1]], ids[TEXTS[4]]])
            ),
            "the deleted annotation's example is still published",
        )


def test_learn_reads_a_project_annotated_before_the_backend_and_predict_uses_it(
    ls: LabelStudio,
    studio: LocalStudio,
    pat: str,
    fake_openai: FakeOpenAI,
    title: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_openai.responder = answer
    project_id, ids = new_project(ls, title)
    ls.annotations.create(id=ids[TEXTS[0]], result=choice("Sarcastic"))
    ls.annotations.create(id=ids[TEXTS[2]], result=choice("Sarcastic"))
    ls.annotations.create(id=ids[TEXTS[3]], result=choice("Not Sarcastic"), was_cancelled=True)
    ls.annotations.create(id=ids[TEXTS[5]], result=[])  # submitted with nothing filled in
    for name, value in backend_env(studio, pat, fake_openai, tmp_path / "model_dir", None).items():
        monkeypatch.setenv(name, value)

    assert main(["learn", "--project", str(project_id)]) == 0
    out = capsys.readouterr().out
    state = SQLiteState(tmp_path / "model_dir")
    version = state.pool_version(str(project_id))
    assert out.strip() == (
        f"Project {project_id}: 2 examples from 4 annotated tasks (left out: 1 skipped, 1 with no answer besides "
        f"the prompt or no text); published as {version} (FEW_SHOT=2 uses it)."
    )

    seen = len(fake_openai.requests)
    assert main(["predict", "--project", str(project_id), "--filter", "all"]) == 0
    requests = {task_text(turns(r)[-1][1]): turns(r) for r in fake_openai.requests[seen:]}
    assert len(requests) == len(TEXTS)
    wonderful = [task_text(text) for role, text in requests[TEXTS[4]] if role == "user"]
    assert wonderful == [TEXTS[0], TEXTS[2], TEXTS[4]]
    own = [task_text(text) for role, text in requests[TEXTS[2]] if role == "user"]
    assert own == [TEXTS[0], TEXTS[2]]  # its own annotation is not among its examples

    # the same settings and snapshot are the same version; FEW_SHOT=0 is another
    with_examples = {p.model_version for p in ls.predictions.list(project=project_id)}
    monkeypatch.setenv("FEW_SHOT", "0")
    assert main(["predict", "--project", str(project_id), "--filter", "all"]) == 0
    without = {p.model_version for p in ls.predictions.list(project=project_id)} - with_examples
    assert len(with_examples) == len(without) == 1
