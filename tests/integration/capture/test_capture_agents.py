"""Agents and async chains: each model call of an agent run is a task that knows its parent and root run, and an
``ainvoke`` loop does not wait for the handler."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

from label_studio_sdk import LabelStudio
from langchain.agents import create_agent
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from fake_openai import FakeOpenAI, Reply, ToolCall
from test_handler import MakeHandler, response_texts, tasks_of

CALL_DELAY = 0.005


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def weather_agent_responder(request: dict[str, Any]) -> Reply:
    """Ask for the tool first; answer once the tool's result is in the conversation."""
    if any(message.get("role") == "tool" for message in request["messages"]):
        return Reply(content="It is sunny in Paris.")
    return Reply(tool_calls=(ToolCall("get_weather", {"city": "Paris"}, id="call_w"),))


def test_agent_steps_share_a_root_and_name_their_parents(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    fake_openai.responder = weather_agent_responder
    model = ChatOpenAI(model="gpt-4o-mini", base_url=fake_openai.base_url, api_key="sk-test")
    agent = create_agent(model, tools=[get_weather])
    result = agent.invoke(
        {"messages": [{"role": "user", "content": "Weather in Paris?"}]},
        config={"callbacks": [handler], "metadata": {"conversation": "c-1"}},
    )
    assert result["messages"][-1].content == "It is sunny in Paris."
    assert handler.flush(timeout=30)

    steps = sorted(tasks_of(ls, handler.project_id), key=lambda task: task["meta"]["started_at"])
    assert len(steps) == 2
    first, second = steps
    assert response_texts(first) == [['Calls get_weather({"city": "Paris"})']]
    assert first["data"]["response_tool_calls"] == [
        [{"id": "call_w", "name": "get_weather", "args": {"city": "Paris"}}]
    ]
    assert second["data"]["prompt"][-1] == {
        "role": "tool",
        "content": "Sunny in Paris",
        "tool_call_id": "call_w",
        "name": "get_weather",
    }
    assert response_texts(second) == [["It is sunny in Paris."]]
    metas = [step["meta"] for step in steps]
    assert metas[0]["root_run_id"] == metas[1]["root_run_id"] not in (metas[0]["run_id"], metas[1]["run_id"])
    assert all(meta["parent_run_id"] not in (None, meta["root_run_id"]) for meta in metas)  # the model node
    assert [meta["metadata"]["conversation"] for meta in metas] == ["c-1", "c-1"]
    assert [meta["metadata"]["langgraph_step"] for meta in metas] == [1, 3]
    assert handler._parents == {}  # chain and tool runs forgotten once they end


def test_sampling_keeps_or_drops_whole_agent_runs(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title, sample_rate=0.5)
    fake_openai.responder = weather_agent_responder
    agent = create_agent(
        ChatOpenAI(model="gpt-4o-mini", base_url=fake_openai.base_url, api_key="sk-test"), tools=[get_weather]
    )
    runs = 12
    for index in range(runs):
        agent.invoke(
            {"messages": [{"role": "user", "content": "Weather in Paris?"}]},
            config={"callbacks": [handler], "run_id": uuid.uuid5(uuid.NAMESPACE_URL, f"agent-{index}")},
        )
    assert handler.flush(timeout=30)

    steps_per_run = Counter(task["meta"]["root_run_id"] for task in tasks_of(ls, handler.project_id))
    assert set(steps_per_run.values()) == {2}  # each logged run has both of its model calls
    assert 0 < len(steps_per_run) < runs  # and some runs were left out (fixed ids: the same ones every time)


class SlowChatModel(BaseChatModel):
    """Test double: a chat model that takes CALL_DELAY seconds per async call, like a fast provider."""

    @property
    def _llm_type(self) -> str:
        return "slow-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **_: Any,
    ) -> ChatResult:
        raise NotImplementedError("async only")

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **_: Any,
    ) -> ChatResult:
        await asyncio.sleep(CALL_DELAY)
        return ChatResult(generations=[ChatGeneration(message=AIMessage("done"))])


async def timed_loop(model: SlowChatModel, calls: int) -> float:
    started = time.perf_counter()
    for index in range(calls):
        await model.ainvoke(f"call {index}")
    return time.perf_counter() - started


async def test_ainvoke_loop_is_not_slowed_by_the_handler(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title, flush_interval=1.0)  # the handler's default pace
    assert handler.run_inline  # async chains call it inline, without an executor hop
    calls, rounds = 40, 3
    plain, logged = SlowChatModel(), SlowChatModel(callbacks=[handler])
    await timed_loop(plain, 5)  # warm up imports and the event loop
    # Interleaved rounds, best of each: other processes on the machine slow both sides alike.
    without, with_handler = [], []
    for _ in range(rounds):
        without.append(await timed_loop(plain, calls))
        with_handler.append(await timed_loop(logged, calls))
    added_per_call = (min(with_handler) - min(without)) / calls
    assert added_per_call < CALL_DELAY / 2, f"the handler added {added_per_call * 1000:.2f} ms per call"
    assert handler.flush(timeout=30)
    assert len(tasks_of(ls, handler.project_id)) == calls * rounds
