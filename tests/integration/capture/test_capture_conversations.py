"""What a conversation holds reaches the task: streamed text, several candidates, tool calls, images.

Each test runs a real LangChain model class (against FakeOpenAI, the OpenAI-compatible test double, or a LangChain
fake model) and reads the task back from the real Label Studio.
"""

from __future__ import annotations

from typing import Any

from label_studio_sdk import LabelStudio
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAI

from fake_openai import FakeOpenAI, Reply, ToolCall
from test_handler import MakeHandler, response_texts, tasks_of

# A 1x1 PNG, as a data URI: what a user sends when the image is not on the web.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
DATA_URI = f"data:image/png;base64,{PIXEL}"
IMAGE_URL = "https://example.com/cat.png"


def chat(server: FakeOpenAI, handler: Any, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="sk-test", callbacks=[handler], **kwargs)


def test_stream_is_one_task_with_the_full_text_and_time_to_first_token(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    fake_openai.responder = lambda request: "one two three four five"
    pieces = [chunk.content for chunk in chat(fake_openai, handler, stream_usage=True).stream("Count to five")]
    assert len(pieces) > 3
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    assert response_texts(task) == [["one two three four five"]]
    meta = task["meta"]
    assert meta["streamed"] is True
    assert 0 < meta["time_to_first_token_ms"] <= meta["latency_ms"]
    assert meta["usage"]["output_tokens"] == 5


async def test_astream_is_one_task_too(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    fake_openai.responder = lambda request: "async words arrive"
    async for _ in chat(fake_openai, handler).astream("Say something"):
        pass
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert response_texts(task) == [["async words arrive"]]
    assert "time_to_first_token_ms" in task["meta"]


def test_a_streamed_completion_is_one_task_too(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(project_name=title)
    fake_openai.responder = lambda request: "plain words streamed"
    llm = OpenAI(base_url=fake_openai.base_url, api_key="sk-test", callbacks=[handler])
    assert "".join(llm.stream("Stream please")) == "plain words streamed"
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert task["data"] == {"prompt": "Stream please", "context": []}
    assert response_texts(task) == [["plain words streamed"]]
    assert task["meta"]["streamed"] is True and task["meta"]["time_to_first_token_ms"] > 0


def test_a_call_that_is_not_streamed_has_no_first_token_time(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    chat(fake_openai, handler).invoke("Hi")
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert task["meta"]["streamed"] is False and "time_to_first_token_ms" not in task["meta"]


def test_each_candidate_is_its_own_prediction(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    fake_openai.responder = lambda request: ["Red", "Green", Reply(content="Blue and", finish_reason="length")]
    chat(fake_openai, handler, n=3).invoke("Name a colour")
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    assert sorted(text for [text] in response_texts(task)) == ["Blue and", "Green", "Red"]
    assert {p["model_version"] for p in task["predictions"]} == {"gpt-4o-mini"}
    assert all(p["result"][0]["to_name"] == "dialogue" for p in task["predictions"])
    assert task["meta"]["finish_reasons"] == ["stop", "stop", "length"]
    assert task["meta"]["invocation_params"]["n"] == 3


def test_completion_candidates_of_a_plain_llm(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(project_name=title)
    fake_openai.responder = lambda request: ["first", "second"]
    OpenAI(n=2, best_of=2, base_url=fake_openai.base_url, api_key="sk-test", callbacks=[handler]).invoke("Go")
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert sorted(text for [text] in response_texts(task)) == ["first", "second"]
    assert task["meta"]["usage"] == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def test_tool_calls_read_in_the_dialogue_and_stay_structured(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    fake_openai.responder = lambda request: "It is sunny in Paris."
    conversation = [
        SystemMessage("You answer with tools."),
        HumanMessage("Weather in Paris?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
        ToolMessage("Sunny in Paris", tool_call_id="call_1", name="get_weather"),
    ]
    chat(fake_openai, handler).bind_tools([get_weather]).invoke(conversation)
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    _, _, call, result = task["data"]["prompt"]
    assert call["role"] == "assistant"
    assert call["content"] == 'Calls get_weather({"city": "Paris"})'
    assert call["tool_calls"] == [{"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}]
    assert result == {"role": "tool", "content": "Sunny in Paris", "tool_call_id": "call_1", "name": "get_weather"}
    assert response_texts(task) == [["It is sunny in Paris."]]
    assert "response_tool_calls" not in task["data"]


def test_a_response_made_only_of_tool_calls_is_a_useful_task(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="prompt", project_name=title)
    fake_openai.responder = lambda request: Reply(tool_calls=(ToolCall("get_weather", {"city": "Oslo"}, id="c9"),))
    chat(fake_openai, handler).bind_tools([get_weather]).invoke("Weather in Oslo?")
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    assert response_texts(task) == [['Calls get_weather({"city": "Oslo"})']]
    assert task["data"]["response_tool_calls"] == [[{"id": "c9", "name": "get_weather", "args": {"city": "Oslo"}}]]
    assert task["meta"]["finish_reasons"] == ["tool_calls"]


def test_tool_message_in_a_prompt_project_reads_with_the_tool_name(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="prompt", project_name=title)
    chat(fake_openai, handler).invoke(
        [
            HumanMessage("Weather?"),
            AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Rome"}, "id": "c1"}]),
            ToolMessage("Rainy", tool_call_id="c1", name="get_weather"),
        ]
    )
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert task["data"]["prompt"] == (
        'User: Weather?\n\nAssistant: Calls get_weather({"city": "Rome"})\n\nTool get_weather: Rainy'
    )


def multimodal_question() -> list[HumanMessage]:
    return [
        HumanMessage(
            content=[
                {"type": "text", "text": "Which of these is a cat?"},
                {"type": "image_url", "image_url": {"url": IMAGE_URL}},
                {"type": "image_url", "image_url": {"url": DATA_URI}},
            ]
        )
    ]


def test_images_are_kept_and_shown_by_the_default_chat_config(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    fake_openai.responder = lambda request: "The first one."
    chat(fake_openai, handler).invoke(multimodal_question())
    assert handler.flush(timeout=30)

    config = ls.projects.get(id=handler.project_id).label_config
    assert '<Image name="images" valueList="$images"' in config
    [task] = tasks_of(ls, handler.project_id)
    [question] = task["data"]["prompt"]
    assert question["content"] == "Which of these is a cat?\n[image 1]\n[image 2]"
    assert question["images"] == [IMAGE_URL, DATA_URI]
    assert task["data"]["images"] == [IMAGE_URL, DATA_URI]
    # The provider got the images too: logging took nothing away from the call.
    sent = fake_openai.requests[-1].json["messages"][0]["content"]
    assert [part["type"] for part in sent] == ["text", "image_url", "image_url"]


def test_images_are_numbered_across_the_conversation_in_a_prompt_project(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="prompt", project_name=title)
    follow_up = HumanMessage(content=[{"type": "text", "text": "And this?"}, {"type": "image", "url": IMAGE_URL}])
    chat(fake_openai, handler).invoke([*multimodal_question(), AIMessage("The first."), follow_up])
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    assert task["data"]["prompt"].endswith("User: And this?\n[image 3]")
    assert task["data"]["images"] == [IMAGE_URL, DATA_URI, IMAGE_URL]


def test_a_text_only_chat_has_no_images_key(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    chat(fake_openai, handler).invoke("Just text")
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert set(task["data"]) == {"prompt", "context"}
