"""The ASGI app in process (FastAPI's TestClient): protocol routes, validation, errors as one JSON line, basic auth.

The LLM is ``FakeOpenAI`` (a local OpenAI-compatible HTTP server, a test double) behind the real ``ChatOpenAI``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from ls_langchain.predictor.server import create_app
from ls_langchain.predictor.settings import Settings

from fake_openai import FakeOpenAI, Reply
from seed_configs import PROMPT_ENGINEERING, TEXT_CLASSIFICATION

PROMPT_ITEM = {"from_name": "prompt", "to_name": "context", "type": "textarea", "value": {"text": ["Summarize"]}}


@pytest.fixture
def client(tmp_path: Path, fake_openai: FakeOpenAI) -> TestClient:
    """The app with a chat model pointed at FakeOpenAI (the test double), state in a temporary MODEL_DIR."""

    def model_for(settings: Settings) -> BaseChatModel:
        return ChatOpenAI(
            model=settings.openai_model or "gpt-4o-mini",
            api_key="sk-test-key",
            base_url=fake_openai.base_url,
            temperature=settings.temperature,
            max_retries=0,
        )

    return TestClient(create_app(Settings(model_dir=str(tmp_path)), chat_model_factory=model_for))


def setup(client: TestClient, extra_params: Any = None, config: str = PROMPT_ENGINEERING) -> Any:
    return client.post("/setup", json={"project": "7.1700000000", "schema": config, "extra_params": extra_params})


def test_health_answers_up(client: TestClient) -> None:
    for path in ("/", "/health"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.json()["status"] == "UP"


@pytest.mark.parametrize("extra_params", [None, {"TEMPERATURE": 0.1}, '{"temperature": 0.1}', ""])
def test_setup_takes_extra_params_as_object_or_json_string(client: TestClient, extra_params: Any) -> None:
    """Defect of the example: extra params sent as an object crashed /setup."""
    answer = setup(client, extra_params)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"].startswith("llm-")


def test_setup_version_follows_the_extra_params(client: TestClient) -> None:
    assert setup(client, {"TEMPERATURE": 0.1}).json() != setup(client, {"TEMPERATURE": 0.9}).json()
    assert setup(client, {"TEMPERATURE": 0.1}).json() == setup(client, {"TEMPERATURE": 0.1}).json()


@pytest.mark.parametrize(
    ("extra_params", "message"),
    [
        ({"TEMPRATURE": 0.1}, "Unknown extra param 'TEMPRATURE'"),
        ('{"TEMPERATURE": ', "not valid JSON"),
        ({"NUM_RESPONSES": "many"}, "NUM_RESPONSES must be a whole number"),
    ],
)
def test_setup_refuses_bad_extra_params_in_one_line(client: TestClient, extra_params: Any, message: str) -> None:
    answer = setup(client, extra_params)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert "\n" not in answer.json()["error"]


def test_setup_refuses_a_config_without_prompt(client: TestClient) -> None:
    config = '<View><Text name="t" value="$t"/><TextArea name="answer" toName="t"/></View>'
    answer = setup(client, None, config)
    assert answer.status_code == 400
    assert 'no <TextArea name="prompt...">' in answer.json()["error"]
    assert "no DEFAULT_PROMPT is set" in answer.json()["error"]


CLASSIFY_ONLY = """<View><Text name="text" value="$text"/>
  <Choices name="topic" toName="text"><Choice value="Sports"/><Choice value="Politics"/></Choices></View>"""


def test_a_classification_config_without_prompt_is_served_with_default_prompt(
    client: TestClient, fake_openai: FakeOpenAI
) -> None:
    """Pre-labelling an existing Text + Choices project: no prompt field in the form, DEFAULT_PROMPT does it."""
    fake_openai.responder = lambda request: Reply.of_json({"topic": "Sports"})
    answer = setup(client, {"DEFAULT_PROMPT": "Which topic is this? {text}"}, CLASSIFY_ONLY)
    assert answer.status_code == 200, answer.text
    body = {"tasks": [{"id": 1, "data": {"text": "The match ended 2-1."}}], "project": "7.1700000000"}
    predicted = client.post("/predict", json={**body, "label_config": CLASSIFY_ONLY})
    assert predicted.status_code == 200, predicted.text
    [prediction] = predicted.json()["results"]
    assert [(r["from_name"], r["value"]) for r in prediction["result"]] == [("topic", {"choices": ["Sports"]})]
    assert "The match ended 2-1." in fake_openai.requests[-1].json["messages"][-1]["content"]


def test_setup_finds_a_missing_key_or_an_unknown_provider(tmp_path: Path) -> None:
    """The real chat model factory: the errors come from building the model, before any call."""
    client = TestClient(create_app(Settings(model_dir=str(tmp_path))))
    missing = setup(client)
    assert missing.status_code == 400
    assert "OPENAI_PROVIDER=openai needs OPENAI_API_KEY" in missing.json()["error"]
    unknown = setup(client, {"OPENAI_PROVIDER": "nosuch:model", "OPENAI_API_KEY": "sk-secret-1234"})
    assert unknown.status_code == 400
    assert "Cannot set up the chat model for OPENAI_PROVIDER=nosuch:model" in unknown.json()["error"]
    assert "sk-secret-1234" not in unknown.text
    azure = setup(client, {"OPENAI_PROVIDER": "azure", "OPENAI_API_KEY": "sk-secret-1234"})
    assert "needs AZURE_RESOURCE_ENDPOINT, AZURE_DEPLOYMENT_NAME" in azure.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "tasks: Field required"),
        ({"tasks": "not a list"}, "tasks: Input should be a valid list"),
        ({"tasks": [1, 2]}, "tasks.0: Input should be a valid dictionary"),
    ],
)
def test_malformed_predict_bodies_get_one_line_and_no_traceback(
    client: TestClient, body: dict[str, Any], message: str
) -> None:
    """Defect of the example: error bodies held Python tracebacks."""
    answer = client.post("/predict", json=body)
    assert answer.status_code == 422
    assert message in answer.json()["error"]
    assert "Traceback" not in answer.text


def test_a_body_that_is_not_json_gets_a_clear_4xx(client: TestClient) -> None:
    answer = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["error"].startswith("Malformed request")


def test_a_bug_answers_500_with_a_line_not_a_traceback(tmp_path: Path) -> None:
    """Test double: a chat model factory that raises, standing in for a bug."""

    def broken(settings: Settings) -> BaseChatModel:
        raise RuntimeError("boom at /secret/path")

    client = TestClient(create_app(Settings(model_dir=str(tmp_path)), chat_model_factory=broken))
    answer = setup(client)
    assert answer.status_code == 500
    assert answer.json() == {"error": "Internal error in the ML backend; its log has the details."}


def test_batch_predict_gives_one_item_per_task_and_none_for_a_failed_task(client: TestClient) -> None:
    setup(client, None, TEXT_CLASSIFICATION)
    client.post(
        "/webhook",
        json={
            "action": "ANNOTATION_CREATED",
            "project": {"id": 7, "label_config": TEXT_CLASSIFICATION},
            "annotation": {"result": [{**PROMPT_ITEM, "to_name": "text"}]},
        },
    )
    body = {"tasks": [{"id": 1, "data": {"text": "ok"}}, {"id": 2, "data": {}}], "project": "7.1700000000"}
    answer = client.post("/predict", json={**body, "label_config": TEXT_CLASSIFICATION, "params": {"context": None}})
    assert answer.status_code == 200
    first, second = answer.json()["results"]
    assert {item["from_name"] for item in first["result"]} >= {"response", "prompt"}
    assert second == []
    assert client.get("/metrics").json() == {
        "setups": 1,
        "tasks": 2,
        "predictions": 1,
        "failed_tasks": 1,
        "webhooks": 1,
    }


def test_interactive_predict_reports_a_failure(client: TestClient, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(400)
    body = {
        "tasks": [{"id": 1, "data": {"text": "t"}}],
        "label_config": PROMPT_ENGINEERING,
        "params": {"context": {"result": [PROMPT_ITEM]}},
    }
    answer = client.post("/predict", json=body)
    assert answer.status_code == 502
    assert "Error code: 400 - injected failure" in answer.json()["error"]


def test_webhook_keeps_the_prompt_and_changes_the_version(client: TestClient) -> None:
    before = setup(client).json()["model_version"]
    event = {
        "action": "ANNOTATION_UPDATED",
        "project": {"id": 7, "label_config": PROMPT_ENGINEERING},
        "annotation": {"result": [PROMPT_ITEM]},
    }
    stored = client.post("/webhook", json=event)
    assert stored.status_code == 201
    assert stored.json()["changed"] is True
    assert client.post("/webhook", json=event).json()["changed"] is False
    after = setup(client).json()["model_version"]
    assert after != before
    assert client.request("GET", "/versions", json={"project": "7.1700000000"}).json() == {"versions": [before, after]}


def test_other_webhook_events_are_answered_politely(client: TestClient) -> None:
    answer = client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 7}})
    assert answer.status_code == 200
    assert answer.json() == {"status": "ignored", "action": "PROJECT_UPDATED"}
    assert client.post("/webhook", json={"project": {}}).status_code == 422
    missing = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": 7}})
    assert missing.status_code == 422
    assert "project.label_config" in missing.json()["error"]


def test_basic_auth_guards_every_route(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(model_dir=str(tmp_path)), basic_auth=("ls", "s3cret")))
    assert client.get("/health").status_code == 401
    assert client.get("/health", auth=("ls", "wrong")).status_code == 401
    assert client.get("/health", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/health", auth=("ls", "s3cret")).status_code == 200
    token = base64.b64encode(b"ls:s3cret").decode()
    assert client.get("/metrics", headers={"Authorization": f"Basic {token}"}).status_code == 200


@pytest.mark.parametrize(
    ("prompt", "data", "message"),
    [
        ("Summarize {text.__class__}", {"text": "t"}, "attribute"),
        ("Summarize {missing}", {"text": "t"}, "missing"),
        ("Summarize {text}", ["not", "an", "object"], "not an object"),
    ],
)
def test_interactive_predict_blames_the_request_with_422(
    client: TestClient, fake_openai: FakeOpenAI, prompt: str, data: Any, message: str
) -> None:
    """A prompt or task the backend cannot use is the caller's fault (422), not a gateway failure (502)."""
    item = {**PROMPT_ITEM, "value": {"text": [prompt]}}
    body = {
        "tasks": [{"id": 1, "data": data}],
        "label_config": PROMPT_ENGINEERING,
        "params": {"context": {"result": [item]}},
    }
    answer = client.post("/predict", json=body)
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["error"]
    assert "\n" not in answer.json()["error"]
    assert fake_openai.requests == []


def test_two_apps_in_a_row_both_predict(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    """Each TestClient runs its own event loop; the provider's cached async client must not outlive the first."""
    body = {
        "tasks": [{"id": 1, "data": {"text": "t"}}],
        "label_config": PROMPT_ENGINEERING,
        "params": {"context": {"result": [PROMPT_ITEM]}},
    }

    def model_for(settings: Settings) -> BaseChatModel:
        return ChatOpenAI(model="gpt-4o-mini", api_key="sk-test-key", base_url=fake_openai.base_url, max_retries=0)

    for _ in range(2):
        with TestClient(create_app(Settings(model_dir=str(tmp_path)), chat_model_factory=model_for)) as client:
            answer = client.post("/predict", json=body)
            assert answer.status_code == 200, answer.text
