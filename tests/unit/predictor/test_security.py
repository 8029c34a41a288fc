"""Hostile input to the running backend (the ASGI app through FastAPI's TestClient): what a project may configure,
what it may make the backend read, and how auth and request bodies are guarded.

The LLM is ``FakeOpenAI`` (a local OpenAI-compatible HTTP server, a test double) behind the real ``ChatOpenAI``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from ls_langchain.predictor.server import create_app
from ls_langchain.predictor.settings import Settings

from fake_openai import FakeOpenAI
from seed_configs import PROMPT_ENGINEERING


def _app(settings: Settings, fake_openai: FakeOpenAI, **options: Any) -> TestClient:
    """The app with its chat model pointed at FakeOpenAI (the test double)."""

    def model_for(project: Settings) -> BaseChatModel:
        return ChatOpenAI(model="gpt-4o-mini", api_key="sk-test-key", base_url=fake_openai.base_url, max_retries=0)

    return TestClient(create_app(settings, chat_model_factory=model_for, **options))


@pytest.fixture
def client(tmp_path: Path, fake_openai: FakeOpenAI) -> TestClient:
    return _app(Settings(model_dir=str(tmp_path)), fake_openai)


def _setup(client: TestClient, extra_params: Any) -> Any:
    return client.post(
        "/setup", json={"project": "7.1700000000", "schema": PROMPT_ENGINEERING, "extra_params": extra_params}
    )


def _batch_predict(client: TestClient) -> Any:
    body = {"tasks": [{"id": 1, "data": {"text": "t"}}], "project": "7.1700000000", "params": {"context": None}}
    return client.post("/predict", json={**body, "label_config": PROMPT_ENGINEERING})


# DEFAULT_PROMPT: text from a project, a file only from the server's environment


def test_a_default_prompt_from_extra_params_is_text_never_a_file(
    client: TestClient, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """The attack: a project admin names a file on the backend host; its content must reach neither model nor answer."""
    secret_file = tmp_path / "secret.env"
    secret_file.write_text("OPENAI_API_KEY=sk-host-secret-1234", encoding="utf-8")
    for path in (str(secret_file), "/proc/self/environ"):
        assert _setup(client, {"DEFAULT_PROMPT": path}).status_code == 200
        answer = _batch_predict(client)
        assert answer.status_code == 200, answer.text
        sent = fake_openai.requests[-1].json["messages"][-1]["content"]
        assert f"Task Directive: {path}" in str(sent)
        assert "sk-host-secret-1234" not in answer.text
        assert "sk-host-secret-1234" not in str(sent)
        assert "OPENAI_API_KEY" not in str(sent)


def test_the_servers_environment_may_name_a_prompt_file_and_the_log_says_which(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text("Classify {text}", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="ls_langchain.predictor.settings"):
        settings = Settings.from_env({"DEFAULT_PROMPT": str(path)})
    assert settings.default_prompt == "Classify {text}"
    assert str(path) in caplog.text
    assert Settings.from_env({"DEFAULT_PROMPT": "Just text"}).default_prompt == "Just text"
    assert Settings().merged({"DEFAULT_PROMPT": str(path)}).default_prompt == str(path)
