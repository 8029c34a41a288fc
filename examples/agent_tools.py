"""A tool-calling agent (LangChain's ``create_agent``): each model call of the run becomes a chat task with the
tool calls readable in the dialogue, and the tasks of one run share ``meta.root_run_id``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from _common import OFFLINE_NOTE, report
from langchain.agents import create_agent
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool

from ls_langchain import LabelStudioCallbackHandler

QUESTIONS = ("What is the weather in Paris?", "What is the weather in Oslo?")


@tool
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"Sunny and 21 C in {city}" if city == "Paris" else f"Light rain and 9 C in {city}"


class OfflineToolCaller(BaseChatModel):
    """Stand-in for a tool-calling chat model when no provider is configured: asks for the weather tool once,
    then repeats what the tool said, and says plainly that it is offline."""

    @property
    def _llm_type(self) -> str:
        return "offline-demo-tools"

    def bind_tools(
        self, tools: Sequence[dict[str, Any] | type | BaseTool | Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **_: Any,
    ) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(f"{OFFLINE_NOTE} The weather tool says: {last.text}")
        else:
            city = "Paris" if "Paris" in last.text else "Oslo"
            reply = AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": city}, "id": f"call_{city}"}])
        return ChatResult(generations=[ChatGeneration(message=reply)])


def tool_calling_model() -> BaseChatModel:
    """``ChatOpenAI`` when OPENAI_API_KEY is set, else the offline stand-in."""
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model="gpt-4o-mini")
    return OfflineToolCaller()


def run() -> list[LabelStudioCallbackHandler]:
    handler = LabelStudioCallbackHandler(mode="chat", project_name="Agent with Tools")
    agent = create_agent(tool_calling_model(), tools=[get_weather])
    for question in QUESTIONS:
        # The handler in the run's config sees the chain and tool runs too, so each model call knows its root run.
        result = agent.invoke({"messages": [{"role": "user", "content": question}]}, config={"callbacks": [handler]})
        print(result["messages"][-1].text)
    return [handler]


if __name__ == "__main__":
    report(run())
