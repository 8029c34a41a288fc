"""The facts of a run reach the task's meta, JSON-safe and without secrets, read back from the real Label Studio."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from label_studio_sdk import LabelStudio
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI, OpenAI
from pydantic import SecretStr

from fake_openai import FakeOpenAI
from test_handler import MakeHandler, tasks_of


class KeyHoldingChatModel(BaseChatModel):
    """Test double: a chat model that puts its credentials into its invocation params, as some integrations do."""

    @property
    def _llm_type(self) -> str:
        return "key-holding"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": "keyed-model",
            "temperature": 0.2,
            "openai_api_key": SecretStr("sk-leak-secretstr"),
            "api_key": "sk-leak-plain",
            "default_headers": {"Authorization": "Bearer sk-leak-header", "X-Team": "search"},
            "endpoint": {"url": "https://llm.internal", "access_token": "sk-leak-nested"},
            "extra": [SecretStr("sk-leak-in-list"), "kept"],
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **_: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("fine"))])


def test_meta_holds_model_provider_params_usage_timings_and_the_users_metadata(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    model = ChatOpenAI(
        model="gpt-4o-mini", temperature=0.3, max_tokens=64, base_url=fake_openai.base_url, api_key="sk-real-key"
    )
    chain = ChatPromptTemplate.from_messages([("human", "Tell me about {topic}")]) | model
    chain.invoke(
        {"topic": "owls"},
        config={"callbacks": [handler], "tags": ["nightly", "owls"], "metadata": {"user_id": "u-42", "plan": "pro"}},
    )
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    meta = task["meta"]
    assert (meta["model_name"], meta["provider"], meta["model_type"]) == ("gpt-4o-mini", "openai", "chat")
    assert (meta["temperature"], meta["max_tokens"]) == (0.3, 64)
    assert meta["invocation_params"]["max_completion_tokens"] == 64
    # FakeOpenAI counts words: "Tell me about owls" in, "offline reply to: Tell me about owls" out.
    assert meta["usage"] == {"input_tokens": 4, "output_tokens": 7, "total_tokens": 11}
    assert meta["metadata"] == {"user_id": "u-42", "plan": "pro"}
    assert set(meta["tags"]) >= {"nightly", "owls"}
    assert meta["latency_ms"] > 0 and datetime.fromisoformat(meta["started_at"]).tzinfo is not None
    # The model ran inside the chain: its parent is the chain's run, which is also the root.
    assert meta["parent_run_id"] == meta["root_run_id"] != meta["run_id"]
    assert uuid.UUID(meta["run_id"]) and meta["record_id"] == meta["run_id"]
    assert "sk-real-key" not in json.dumps(task)


def test_usage_of_a_plain_llm_comes_from_llm_output(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(project_name=title)
    OpenAI(max_tokens=20, base_url=fake_openai.base_url, api_key="sk-test", callbacks=[handler]).invoke("two words")
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    meta = task["meta"]
    assert meta["usage"]["input_tokens"] == 2 and meta["usage"]["output_tokens"] > 0
    assert meta["max_tokens"] == 20 and meta["model_name"] == "gpt-3.5-turbo-instruct"
    # Called on its own, the model's run is its own root.
    assert "parent_run_id" not in meta and meta["root_run_id"] == meta["run_id"]


def test_secrets_in_invocation_params_never_reach_the_task(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    KeyHoldingChatModel(callbacks=[handler]).invoke("hi", config={"metadata": {"session_token": "sk-leak-metadata"}})
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    text = json.dumps(task)
    assert "sk-leak" not in text
    params = task["meta"]["invocation_params"]
    assert params["default_headers"] == {"X-Team": "search"}
    assert params["endpoint"] == {"url": "https://llm.internal"}
    assert params["extra"] == ["kept"]
    assert params["temperature"] == 0.2 and task["meta"]["model_name"] == "keyed-model"


def test_objects_that_are_not_json_become_readable_strings(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque thing"

    handler = make_handler(project_name=title)
    metadata = {"when": datetime(2024, 5, 6, 7, 8, 9), "what": Opaque(), "ratio": float("nan"), 3: {1, 2}}
    FakeListLLM(responses=["ok"], callbacks=[handler]).invoke("p", config={"metadata": metadata})
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert task["meta"]["metadata"] == {
        "when": "2024-05-06 07:08:09",
        "what": "opaque thing",
        "ratio": "nan",
        "3": [1, 2],
    }
