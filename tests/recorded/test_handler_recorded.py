"""The handler end to end on answers recorded from the real Label Studio: construct, one LLM call, flush.

The LLMs are LangChain's fake models (test doubles for a provider). Replay matches the import's body apart from
the tasks' meta, so a change in what the handler sends for a call fails here without a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from ls_langchain import LabelStudioCallbackHandler

from recorded_http import Target

pytestmark = [pytest.mark.vcr, pytest.mark.block_network]


@pytest.fixture
def handlers(tmp_path: Path) -> Iterator[list[LabelStudioCallbackHandler]]:
    """Handlers the test makes, closed before its cassette is: their worker thread must not outlive it."""
    made: list[LabelStudioCallbackHandler] = []
    yield made
    for handler in made:
        handler.close(timeout=5)


def make_handler(target: Target, outbox: Path, project_name: str, mode: str = "prompt") -> LabelStudioCallbackHandler:
    return LabelStudioCallbackHandler(
        api_key=target.api_key,
        url=target.url,
        project_name=project_name,
        mode=mode,
        outbox_dir=outbox,
        flush_interval=0.05,
    )


def test_prompt_mode_creates_the_project_and_delivers_one_call(
    target: Target, tmp_path: Path, handlers: list[LabelStudioCallbackHandler]
) -> None:
    handler = make_handler(target, tmp_path, "Recorded handler prompt")
    handlers.append(handler)
    project = handler.project
    assert project is not None and project.title == "Recorded handler prompt"
    assert '<Text name="prompt" value="$prompt"/>' in project.label_config

    answer = FakeListLLM(responses=["A recorded joke."]).invoke("Tell me a joke", config={"callbacks": [handler]})

    assert answer == "A recorded joke."
    assert handler.flush(timeout=10)


def test_chat_mode_reuses_the_project_with_the_exact_title(
    target: Target, tmp_path: Path, handlers: list[LabelStudioCallbackHandler]
) -> None:
    first = make_handler(target, tmp_path / "first", "Recorded handler chat", mode="chat")
    handlers.append(first)
    second = make_handler(target, tmp_path / "second", "Recorded handler chat", mode="chat")
    handlers.append(second)
    assert first.project_id is not None and second.project_id == first.project_id

    chat = FakeListChatModel(responses=["Hello! 👋"])
    chat.invoke([SystemMessage(content="Use emojis"), HumanMessage(content="Hi")], config={"callbacks": [second]})

    assert second.flush(timeout=10)
