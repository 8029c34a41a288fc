"""Few-shot examples without a server: annotations in the answer schema, the pool and its snapshots in the state,
BM25 ranking, the conversation turns, the versions, the settings' bounds and the webhook in process.

LLMs here are test doubles: LangChain's ``FakeListChatModel`` and ``FakeOpenAI`` (a local OpenAI-compatible HTTP
server) behind the real ``ChatOpenAI``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_openai import ChatOpenAI

from ls_langchain.errors import ConfigurationError
from ls_langchain.predictor import LLMInteractive, Settings
from ls_langchain.predictor.examples import Example, ExamplePool, after_change, published_pool, read_example
from ls_langchain.predictor.inputs import MediaLoader
from ls_langchain.predictor.layout import read_layout
from ls_langchain.predictor.server import create_app
from ls_langchain.predictor.state import SQLiteState
from ls_langchain.predictor.structured import answer_of, read_answer

from fake_openai import FakeOpenAI, Reply
from seed_configs import ALL_CONTROLS, IMAGE_SUMMARIZATION, TEXT_CLASSIFICATION

QUIET = Settings()
TEXT = "Anna flew from Paris to Rome. In Rome, Anna ate. Parisians stay home."
LAYOUT = read_layout(ALL_CONTROLS, "prompt")
CLASSIFY = read_layout(TEXT_CLASSIFICATION, "prompt")


def example(task_id: int, text: str, label: str = "Sarcastic", *, at: float = 0.0, annotation: int = 0) -> Example:
    answer = {"answer": f"about {task_id}", "sentiment": [label]}
    return Example(task_id, annotation or task_id + 1000, text, {"text": text}, answer, at or float(task_id))


def annotation_of(result: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"id": 55, "task": 5, "result": result, "updated_at": "2026-12-01T10:00:00.000000Z", **fields}


# the answer schema, from a person's annotation


def test_an_annotation_reads_back_as_the_answer_the_model_gives() -> None:
    """Every control: the regions an answer makes, written back with answer_of, are that answer."""
    answer = {
        "answer": "A trip.",
        "entities": [{"label": "Person", "text": "Anna"}, {"label": "City", "text": "Paris"}],
        "tone": "Positive",
        "topics": ["Travel", "Food"],
        "kind": ["Story / Memoir", "Note"],
        "quality": 3,
        "year": 1999.5,
    }
    regions = read_answer(LAYOUT.controls, answer, {"text": TEXT}).regions
    summary = {"from_name": "summary", "to_name": "text", "type": "textarea", "value": {"text": ["A trip."]}}
    prompt = {"from_name": "prompt", "to_name": "text", "type": "textarea", "value": {"text": ["Label it"]}}
    assert answer_of(LAYOUT.controls, LAYOUT.responses, [*regions, summary, prompt]) == answer


def test_an_annotation_with_only_the_prompt_or_nothing_filled_answers_nothing() -> None:
    prompt = {"from_name": "prompt", "to_name": "text", "type": "textarea", "value": {"text": ["Label it"]}}
    assert answer_of(LAYOUT.controls, LAYOUT.responses, [prompt]) is None
    unfilled = answer_of(LAYOUT.controls, LAYOUT.responses, [])
    assert unfilled is None
    rating_only = {"from_name": "quality", "to_name": "text", "type": "rating", "value": {"rating": 2}}
    assert answer_of(LAYOUT.controls, LAYOUT.responses, [rating_only]) == {
        "answer": "",
        "entities": [],
        "tone": None,
        "topics": [],
        "kind": [],
        "quality": 2,
        "year": None,
    }


def test_a_skipped_annotation_an_image_task_or_a_prompt_only_answer_make_no_example() -> None:
    loader = MediaLoader(QUIET)
    choice = {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["Sarcastic"]}}
    task = {"id": 5, "data": {"text": "Oh great, rain."}}
    made = asyncio.run(read_example(CLASSIFY, loader, task, annotation_of([choice])))
    answer = {"answer": "", "sentiment": ["Sarcastic"]}
    assert made == Example(5, 55, "Oh great, rain.", {"text": "Oh great, rain."}, answer, made.updated_at)
    assert made.updated_at == 1796119200.0  # the annotation's own time, so that "most recent" means its time
    skipped = annotation_of([choice], was_cancelled=True)
    assert asyncio.run(read_example(CLASSIFY, loader, task, skipped)) is None
    prompt_only = {"from_name": "prompt", "to_name": "text", "type": "textarea", "value": {"text": ["Sarcastic?"]}}
    assert asyncio.run(read_example(CLASSIFY, loader, task, annotation_of([prompt_only]))) is None
    image = read_layout(IMAGE_SUMMARIZATION, "prompt")
    category = {"from_name": "category", "to_name": "image", "type": "choices", "value": {"choices": ["Groceries"]}}
    image_task = {"id": 6, "data": {"image": "data:image/png;base64,AA=="}}
    assert asyncio.run(read_example(image, loader, image_task, annotation_of([category]))) is None


# ranking


POOL = ExamplePool(
    [
        example(1, "The train to Rome was late again, wonderful."),
        example(2, "Quarterly revenue grew by four percent."),
        example(3, "I adore waiting for the late train in the rain."),
        example(4, "The cat sleeps on the sofa."),
    ]
)


def test_bm25_picks_the_most_similar_examples_the_most_similar_last() -> None:
    chosen = POOL.nearest("Another late train, how lovely", 2)
    assert [e.task_id for e in chosen] == [3, 1]  # "late train" twice in 1's neighbourhood: 1 is nearest, so last
    assert [e.task_id for e in POOL.nearest("revenue percent", 1)] == [2]


def test_a_task_is_never_its_own_example_and_k_may_exceed_the_pool() -> None:
    assert 1 not in [e.task_id for e in POOL.nearest("The train to Rome was late again", 4, exclude_task=1)]
    assert len(POOL.nearest("The train to Rome was late again", 4, exclude_task="1")) == 3
    assert len(POOL.nearest("anything", 10)) == 4
    assert POOL.nearest("anything", 0) == []
    assert ExamplePool([]).nearest("anything", 3) == []


def test_a_text_without_a_known_word_still_gets_examples_the_most_recent_first() -> None:
    chosen = POOL.nearest("zzz qqq", 2)
    assert [e.task_id for e in chosen] == [2, 1]  # all scores 0: pool order (most recent first), nearest last


def test_the_snapshot_version_names_its_examples() -> None:
    same = ExamplePool(list(POOL.examples))
    assert same.version == POOL.version
    assert ExamplePool(POOL.examples[:3]).version != POOL.version
    changed = ExamplePool([*POOL.examples[:3], example(4, "The cat sleeps on the sofa.", "Not Sarcastic")])
    assert changed.version != POOL.version
    assert ExamplePool([]).version == "pool-empty"


# the pool in the shared state (SQLite here; Redis in tests/integration)


def test_the_state_keeps_one_example_per_task_and_publishes_the_most_recent(tmp_path: Path) -> None:
    state = SQLiteState(tmp_path)
    assert state.pool_version("7") is None
    assert published_pool(state, "7").examples == ()
    assert state.save_example("7", example(1, "one", at=10)) == 1
    assert state.save_example("7", example(2, "two", at=20)) == 2
    assert state.save_example("7", example(1, "one, corrected", "Not Sarcastic", at=30)) == 3  # replaces task 1's
    assert state.save_example("8", example(9, "other project")) == 1
    version = state.publish_examples("7", limit=1)
    published = state.published_examples("7")
    assert [(e.task_id, e.input) for e in published] == [(1, "one, corrected")]  # the most recent only
    assert version == state.pool_version("7") == ExamplePool(published).version
    assert published_pool(state, "7").version == version
    # the older example was dropped from the pool, and nothing waits to be published
    assert state.publish_examples("7", limit=5) == version
    assert state.save_example("7", example(3, "three", at=40)) == 1


def test_deleted_annotations_leave_the_pool_and_learn_replaces_it(tmp_path: Path) -> None:
    state = SQLiteState(tmp_path)
    state.save_example("7", example(1, "one", annotation=501))
    state.save_example("7", example(2, "two", annotation=502))
    assert state.drop_examples("7", [501, 999]) == 3  # two saves and one deletion wait
    state.publish_examples("7", limit=10)
    assert [e.task_id for e in state.published_examples("7")] == [2]
    state.replace_examples("7", [example(5, "five"), example(6, "six")])
    state.publish_examples("7", limit=10)
    assert [e.task_id for e in state.published_examples("7")] == [6, 5]


def test_a_snapshot_is_published_every_few_shot_refresh_changes(tmp_path: Path) -> None:
    state = SQLiteState(tmp_path)
    settings = Settings(few_shot=2, few_shot_refresh=2)
    assert after_change(state, "7", state.save_example("7", example(1, "one")), settings) is None
    assert state.pool_version("7") is None
    published = after_change(state, "7", state.save_example("7", example(2, "two")), settings)
    assert published is not None and published == state.pool_version("7")
    assert after_change(state, "7", state.save_example("7", example(3, "three")), settings) is None
    assert len(state.published_examples("7")) == 2


# the conversation and the version


def test_the_examples_are_earlier_turns_with_the_answer_json() -> None:
    backend = LLMInteractive(
        TEXT_CLASSIFICATION, FakeListChatModel(responses=["x"]), examples=POOL, base_settings=Settings(few_shot=2)
    )
    turns = backend.few_shot_turns(99, "Is it sarcastic?", "Another late train, how lovely")
    assert [type(t) for t in turns] == [HumanMessage, AIMessage, HumanMessage, AIMessage]
    assert turns[0].content == (
        "Source Text: I adore waiting for the late train in the rain.\n\nTask Directive: Is it sarcastic?"
    )
    assert json.loads(str(turns[3].content)) == {"answer": "about 1", "sentiment": ["Sarcastic"]}
    off = LLMInteractive(TEXT_CLASSIFICATION, FakeListChatModel(responses=["x"]), examples=POOL, base_settings=QUIET)
    assert off.few_shot_turns(99, "Is it sarcastic?", "late train") == []


def test_the_version_names_the_snapshot_only_with_few_shot() -> None:
    def version(settings: Settings, pool: ExamplePool | None) -> str:
        model = FakeListChatModel(responses=["x"])
        return LLMInteractive(TEXT_CLASSIFICATION, model, examples=pool, base_settings=settings).model_version("P")

    other = ExamplePool(POOL.examples[:2])
    assert version(QUIET, POOL) == version(QUIET, other) == version(QUIET, None)  # FEW_SHOT=0: as before
    on = Settings(few_shot=2)
    assert version(on, POOL) == version(on, ExamplePool(list(POOL.examples)))
    assert version(on, POOL) != version(on, other)
    assert version(on, POOL) != version(Settings(few_shot=3), POOL)
    assert version(on, None) != version(QUIET, None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"FEW_SHOT": 51}, "FEW_SHOT must be between 0 and 50, got 51."),
        ({"few_shot": -1}, "FEW_SHOT must be between 0 and 50, got -1."),
        ({"FEW_SHOT_POOL": 0}, "FEW_SHOT_POOL must be between 1 and 100000, got 0."),
        ({"FEW_SHOT_REFRESH": "lots"}, "The extra param FEW_SHOT_REFRESH must be a whole number, got 'lots'."),
    ],
)
def test_few_shot_settings_are_bounded(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        QUIET.merged(overrides)
    assert str(refused.value) == message
    assert QUIET.merged({"few_shot": "3"}).few_shot == 3
    assert Settings.from_env({"FEW_SHOT": "4", "FEW_SHOT_POOL": "50"}).few_shot_pool == 50


# the webhook, in process


@pytest.fixture
def client(tmp_path: Path, fake_openai: FakeOpenAI) -> TestClient:
    """The app with ChatOpenAI pointed at FakeOpenAI (the test double), FEW_SHOT=1 published after 2 changes."""

    def model_for(settings: Settings) -> BaseChatModel:
        return ChatOpenAI(model="gpt-4o-mini", api_key="sk-test-key", base_url=fake_openai.base_url, max_retries=0)

    fake_openai.responder = lambda request: Reply.of_json({"answer": "ok", "sentiment": []})
    settings = Settings(model_dir=str(tmp_path), few_shot=1, few_shot_refresh=2)
    return TestClient(create_app(settings, chat_model_factory=model_for))


def event(action: str, task_id: int, annotation_id: int, label: str, **annotation: Any) -> dict[str, Any]:
    choice = {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}
    return {
        "action": action,
        "project": {"id": 7, "label_config": TEXT_CLASSIFICATION},
        "task": {"id": task_id, "data": {"text": f"text of task {task_id}"}},
        "annotation": {"id": annotation_id, "task": task_id, "result": [choice], **annotation},
    }


def test_the_webhook_learns_examples_and_moves_the_version_every_refresh(
    client: TestClient, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    setup = {"project": "7.1700000000", "schema": TEXT_CLASSIFICATION, "extra_params": {"DEFAULT_PROMPT": "Tag it"}}
    first = client.post("/setup", json=setup).json()["model_version"]
    assert client.post("/webhook", json=event("ANNOTATION_CREATED", 1, 11, "Sarcastic")).json()["changed"] is False
    skipped = event("ANNOTATION_CREATED", 2, 12, "Sarcastic", was_cancelled=True)
    assert client.post("/webhook", json=skipped).json()["changed"] is False  # a skip is no change at all
    published = client.post("/webhook", json=event("ANNOTATION_UPDATED", 3, 13, "Not Sarcastic")).json()
    assert published["changed"] is True
    assert published["model_version"] == client.post("/setup", json=setup).json()["model_version"] != first
    assert [e.task_id for e in SQLiteState(tmp_path).published_examples("7")] == [3, 1]

    seen = len(fake_openai.requests)
    tasks = [{"id": 3, "data": {"text": "text of task 3"}}]
    client.post("/predict", json={"tasks": tasks, "project": "7.1700000000"})
    messages = fake_openai.requests[seen].json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert "text of task 1" in messages[0]["content"]  # task 3 is not its own example
    assert json.loads(messages[1]["content"]) == {"answer": "", "sentiment": ["Sarcastic"]}

    deleted = {"action": "ANNOTATIONS_DELETED", "project": {"id": 7, "label_config": TEXT_CLASSIFICATION}}
    client.post("/webhook", json={**deleted, "annotations": [{"id": 11}]})
    answer = client.post("/webhook", json=event("ANNOTATION_CREATED", 4, 14, "Sarcastic")).json()
    assert answer["changed"] is True
    assert [e.task_id for e in SQLiteState(tmp_path).published_examples("7")] == [4, 3]


def test_annotations_imported_in_bulk_become_examples_each_with_its_task(client: TestClient, tmp_path: Path) -> None:
    """ANNOTATIONS_CREATED (an import with annotations) lists the annotations and their tasks."""
    one, two = event("ANNOTATIONS_CREATED", 1, 11, "Sarcastic"), event("ANNOTATIONS_CREATED", 2, 12, "Not Sarcastic")
    bulk = {**one, "annotation": [one["annotation"], two["annotation"]], "task": [two["task"], one["task"]]}
    assert client.post("/webhook", json=bulk).json()["changed"] is True  # two changes: FEW_SHOT_REFRESH=2
    examples = {e.task_id: e for e in SQLiteState(tmp_path).published_examples("7")}
    assert examples[1].input == "text of task 1" and examples[1].answer["sentiment"] == ["Sarcastic"]
    assert examples[2].input == "text of task 2" and examples[2].answer["sentiment"] == ["Not Sarcastic"]
