"""What the examples share: the model to call (OpenAI when OPENAI_API_KEY is set, else an offline stand-in) and
a report of where the tasks went."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.language_models import LLM, BaseChatModel, BaseLLM
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from ls_langchain import LabelStudioCallbackHandler

OFFLINE_NOTE = "[offline demo model: OPENAI_API_KEY is not set, so this is not a real answer]"


def _last_text(messages: list[BaseMessage]) -> str:
    return messages[-1].text if messages else ""


class OfflineLLM(LLM):
    """Stand-in for an LLM when no provider is configured: says plainly that it is offline."""

    @property
    def _llm_type(self) -> str:
        return "offline-demo"

    def _call(
        self, prompt: str, stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **_: Any
    ) -> str:
        return f"{OFFLINE_NOTE} You asked: {prompt}"


class OfflineChatModel(BaseChatModel):
    """Stand-in for a chat model when no provider is configured: says plainly that it is offline."""

    @property
    def _llm_type(self) -> str:
        return "offline-demo-chat"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **_: Any,
    ) -> ChatResult:
        reply = AIMessage(f"{OFFLINE_NOTE} You said: {_last_text(messages)}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def llm(callbacks: list[BaseCallbackHandler]) -> BaseLLM:
    """The guide's ``OpenAI(temperature=0)`` when a key is set, else the offline stand-in."""
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import OpenAI

        return OpenAI(temperature=0, callbacks=callbacks)
    return OfflineLLM(callbacks=callbacks)


def chat_model(callbacks: list[BaseCallbackHandler]) -> BaseChatModel:
    """The guide's ``ChatOpenAI()`` when a key is set, else the offline stand-in."""
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(callbacks=callbacks)
    return OfflineChatModel(callbacks=callbacks)


def report(handlers: Iterable[LabelStudioCallbackHandler]) -> list[tuple[str, str, int]]:
    """Wait until every run is in Label Studio, then print each project's title, URL and task count."""
    rows = []
    for handler in handlers:
        handler.flush(timeout=60)
        project = handler.project
        if project is None:
            print(f"  {handler.project_name}: Label Studio was not reachable; runs are kept in the outbox")
            continue
        studio = handler._delivery.destination.studio  # a handler with a project delivers
        count = studio.count_tasks(project.id)
        rows.append((project.title, studio.project_url(project.id), count))
        print(f"  {project.title}: {studio.project_url(project.id)} ({count} tasks)")
    return rows
