"""The FakeOpenAI test double, driven through the real langchain-openai classes and the real openai client.

None of these tests needs Label Studio.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_core.tools import tool
from langchain_openai import AzureChatOpenAI, ChatOpenAI, OpenAI
from pydantic import BaseModel, SecretStr

from fake_openai import FakeOpenAI, Replies, Reply, ToolCall


class Weather(BaseModel):
    """Structured answer used by the structured-output tests."""

    city: str
    celsius: int


@tool
def get_weather(city: str) -> str:
    """Look up the weather in a city."""
    return f"sunny in {city}"


def chat(server: FakeOpenAI, **kwargs: Any) -> ChatOpenAI:
    """The real ChatOpenAI pointed at the test double, without retries unless asked for."""
    settings: dict[str, Any] = {"model": "gpt-4o-mini", "max_retries": 0, **kwargs}
    return ChatOpenAI(base_url=server.base_url, api_key=SecretStr("sk-test"), **settings)


def test_invoke_answers_with_the_default_offline_reply_and_echoes_the_model(fake_openai: FakeOpenAI) -> None:
    message = chat(fake_openai).invoke("what is two plus two")

    assert message.content == "offline reply to: what is two plus two"
    assert message.response_metadata["model_name"] == "gpt-4o-mini"
    assert message.response_metadata["finish_reason"] == "stop"
    assert message.usage_metadata == {
        "input_tokens": 5,
        "output_tokens": 8,
        "total_tokens": 13,
        "input_token_details": {},
        "output_token_details": {},
    }
    [sent] = fake_openai.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.json["messages"] == [{"role": "user", "content": "what is two plus two"}]


def test_stream_sends_the_text_in_pieces_and_a_final_usage_chunk(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: "one two three four"

    chunks = list(chat(fake_openai, stream_usage=True).stream("count"))

    assert len([chunk for chunk in chunks if chunk.content]) == 4
    whole = sum(chunks[1:], chunks[0])
    assert isinstance(whole, AIMessageChunk)
    assert whole.content == "one two three four"
    assert whole.usage_metadata is not None
    assert (whole.usage_metadata["input_tokens"], whole.usage_metadata["output_tokens"]) == (1, 4)
    sent = fake_openai.requests[-1].json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


def test_stream_without_include_usage_sends_no_usage(fake_openai: FakeOpenAI) -> None:
    chunks = list(chat(fake_openai, stream_usage=False).stream("hello"))

    assert "".join(str(chunk.content) for chunk in chunks) == "offline reply to: hello"
    assert all(chunk.usage_metadata is None for chunk in chunks)


def test_batch_answers_each_input_in_order(fake_openai: FakeOpenAI) -> None:
    answers = chat(fake_openai).batch(["first", "second", "third"])

    assert [answer.content for answer in answers] == [
        f"offline reply to: {word}" for word in ("first", "second", "third")
    ]
    assert len(fake_openai.requests) == 3


async def test_ainvoke_with_n_2_gets_two_choices(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: ["first choice", "second choice"]
    model = chat(fake_openai, n=2)

    message = await model.ainvoke("pick")
    result = await model.agenerate([[HumanMessage("pick")]])

    assert message.content == "first choice"
    assert [generation.text for generation in result.generations[0]] == ["first choice", "second choice"]
    assert [request.json["n"] for request in fake_openai.requests] == [2, 2]


def test_a_single_reply_is_repeated_for_each_of_n_choices(fake_openai: FakeOpenAI) -> None:
    result = chat(fake_openai, n=3).generate([[HumanMessage("again")]])

    assert [generation.text for generation in result.generations[0]] == ["offline reply to: again"] * 3


def weather_tool_call(request: dict[str, Any]) -> Replies:
    """Asks for get_weather when tools are offered, answers in text once the tool result is back."""
    if request["messages"][-1]["role"] == "tool":
        return f"tool said: {request['messages'][-1]['content']}"
    assert request["tools"][0]["function"]["name"] == "get_weather"
    return Reply(tool_calls=(ToolCall("get_weather", {"city": "Oslo"}, id="call_weather"),))


def test_bind_tools_gives_tool_calls(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = weather_tool_call

    message = chat(fake_openai).bind_tools([get_weather]).invoke("weather in Oslo?")

    assert message.tool_calls == [
        {"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_weather", "type": "tool_call"}
    ]
    assert message.response_metadata["finish_reason"] == "tool_calls"
    assert fake_openai.requests[-1].json["tools"][0]["function"]["parameters"]["properties"] == {
        "city": {"type": "string"}
    }


def test_tool_call_round_trip_sends_the_tool_result_back(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = weather_tool_call
    model = chat(fake_openai).bind_tools([get_weather])
    question = HumanMessage("weather in Oslo?")

    call = model.invoke([question])
    answer = model.invoke([question, call, get_weather.invoke(call.tool_calls[0])])

    assert answer.content == "tool said: sunny in Oslo"
    assert fake_openai.requests[-1].json["messages"][-1] == {
        "role": "tool",
        "content": "sunny in Oslo",
        "tool_call_id": "call_weather",
    }


def test_streamed_tool_calls_arrive_as_deltas(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: Reply(
        tool_calls=(ToolCall("get_weather", {"city": "New York City"}), ToolCall("get_weather", '{"city": "Rome"}'))
    )

    chunks = list(chat(fake_openai).bind_tools([get_weather]).stream("two cities"))
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    whole = sum(chunks[1:], chunks[0])

    assert isinstance(whole, AIMessageChunk)
    assert len([chunk for chunk in chunks if isinstance(chunk, AIMessageChunk) and chunk.tool_call_chunks]) > 2
    assert [(call["name"], call["args"], call["id"]) for call in whole.tool_calls] == [
        ("get_weather", {"city": "New York City"}, "call_0_0"),
        ("get_weather", {"city": "Rome"}, "call_0_1"),
    ]


def test_structured_output_with_json_schema(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: Reply.of_json({"city": "Lima", "celsius": 19})

    result = chat(fake_openai).with_structured_output(Weather, method="json_schema").invoke("weather in Lima")

    assert result == Weather(city="Lima", celsius=19)
    response_format = fake_openai.requests[-1].json["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Weather"
    assert set(response_format["json_schema"]["schema"]["properties"]) == {"city", "celsius"}


def test_structured_output_with_function_calling(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: Reply(tool_calls=(ToolCall("Weather", {"city": "Pune", "celsius": 31}),))

    result = chat(fake_openai).with_structured_output(Weather, method="function_calling").invoke("weather in Pune")

    assert result == Weather(city="Pune", celsius=31)
    sent = fake_openai.requests[-1].json
    assert sent["tool_choice"]["function"]["name"] == "Weather"
    assert sent["tools"][0]["function"]["name"] == "Weather"


def test_json_mode_is_accepted(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: Reply.of_json({"city": "Baku", "celsius": 25})

    result = chat(fake_openai).with_structured_output(method="json_mode").invoke("weather in Baku, as JSON")

    assert result == {"city": "Baku", "celsius": 25}
    assert fake_openai.requests[-1].json["response_format"] == {"type": "json_object"}


def test_image_url_parts_reach_the_server(fake_openai: FakeOpenAI) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    message = HumanMessage(
        content=[
            {"type": "text", "text": "what is in this picture"},
            {"type": "image_url", "image_url": {"url": image}},
        ]
    )

    answer = chat(fake_openai).invoke([message])

    assert answer.content == "offline reply to: what is in this picture"
    [part] = [part for part in fake_openai.requests[-1].json["messages"][0]["content"] if part["type"] == "image_url"]
    assert part["image_url"]["url"] == image


def test_legacy_completions_through_openai_llm(fake_openai: FakeOpenAI) -> None:
    llm = OpenAI(
        base_url=fake_openai.base_url, api_key=SecretStr("sk-test"), model="gpt-3.5-turbo-instruct", max_retries=0
    )

    text = llm.invoke("Once upon a time")
    result = llm.generate(["red", "green"])

    assert text == "offline reply to: Once upon a time"
    assert [generations[0].text for generations in result.generations] == [
        "offline reply to: red",
        "offline reply to: green",
    ]
    assert result.llm_output is not None
    assert result.llm_output["token_usage"]["prompt_tokens"] == 2
    assert fake_openai.requests[-1].path == "/v1/completions"
    assert fake_openai.requests[-1].json["prompt"] == ["red", "green"]


def test_legacy_completions_stream(fake_openai: FakeOpenAI) -> None:
    llm = OpenAI(
        base_url=fake_openai.base_url, api_key=SecretStr("sk-test"), model="gpt-3.5-turbo-instruct", max_retries=0
    )

    pieces = list(llm.stream("tell me"))

    assert len(pieces) > 1
    assert "".join(pieces) == "offline reply to: tell me"


def test_azure_chat_openai_uses_the_deployment_path(fake_openai: FakeOpenAI) -> None:
    model = AzureChatOpenAI(
        azure_endpoint=fake_openai.url,
        azure_deployment="my-gpt",
        api_version="2024-10-21",
        api_key=SecretStr("azure-test-key"),
        max_retries=0,
    )

    message = model.invoke("hello Azure")

    assert message.content == "offline reply to: hello Azure"
    assert message.response_metadata["model_name"] == "my-gpt"
    [sent] = fake_openai.requests
    assert sent.path == "/openai/deployments/my-gpt/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "azure-test-key"


def test_ollama_style_base_url(fake_openai: FakeOpenAI) -> None:
    model = ChatOpenAI(base_url=f"{fake_openai.url}/v1", api_key=SecretStr("ollama"), model="llama3.1", max_retries=0)

    message = model.invoke("hi llama")

    assert message.content == "offline reply to: hi llama"
    assert message.response_metadata["model_name"] == "llama3.1"
    assert fake_openai.requests[-1].headers["authorization"] == "Bearer ollama"


def test_models_are_listed(fake_openai: FakeOpenAI) -> None:
    fake_openai.models = ("gpt-4o-mini", "llama3.1")
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0)

    assert [model.id for model in client.models.list()] == ["gpt-4o-mini", "llama3.1"]
    assert fake_openai.requests[-1].method == "GET"


def test_injected_failure_is_an_openai_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(500)

    with pytest.raises(openai.InternalServerError, match="injected failure: HTTP 500") as caught:
        chat(fake_openai).invoke("hi")

    assert caught.value.status_code == 500
    assert chat(fake_openai).invoke("hi").content == "offline reply to: hi"


def test_fail_next_counts_down(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(503, count=2)
    model = chat(fake_openai)

    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            model.invoke("hi")

    assert model.invoke("hi").content == "offline reply to: hi"
    assert len(fake_openai.requests) == 3


def test_rate_limit_with_retry_after_is_honoured_by_the_client(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(429, retry_after=0.5)

    started = time.monotonic()
    message = chat(fake_openai, max_retries=1).invoke("hi")
    elapsed = time.monotonic() - started

    assert message.content == "offline reply to: hi"
    assert len(fake_openai.requests) == 2
    assert elapsed >= 0.5


def test_rate_limit_error_surfaces_without_retries(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(429, retry_after=3)

    with pytest.raises(openai.RateLimitError) as caught:
        chat(fake_openai).invoke("hi")

    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.body == {
        "message": "injected failure: HTTP 429 from FakeOpenAI",
        "type": "rate_limit_error",
        "param": None,
        "code": None,
    }


def test_fail_next_refuses_a_success_status(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(ValueError, match="400-599"):
        fake_openai.fail_next(200)


async def test_delay_does_not_hold_up_other_requests(fake_openai: FakeOpenAI) -> None:
    fake_openai.delay = 0.2
    model = chat(fake_openai)

    started = time.monotonic()
    answers = await asyncio.gather(*(model.ainvoke(f"question {i}") for i in range(8)))
    elapsed = time.monotonic() - started

    assert sorted(str(answer.content) for answer in answers) == [f"offline reply to: question {i}" for i in range(8)]
    assert 0.2 <= elapsed < 8 * 0.2 / 2


def test_kept_alive_connections_are_not_slowed_by_delayed_acks(fake_openai: FakeOpenAI) -> None:
    with httpx.Client(base_url=fake_openai.base_url) as client:
        client.get("/models")
        started = time.monotonic()
        for _ in range(20):
            client.get("/models").raise_for_status()
        elapsed = time.monotonic() - started

    assert elapsed < 20 * 0.040 / 2  # with Nagle on, each answer waits ~40 ms for the client's delayed ACK


def test_a_failing_responder_gives_a_500_naming_the_error(fake_openai: FakeOpenAI) -> None:
    def broken(request: dict[str, Any]) -> Replies:
        raise KeyError("no such fixture")

    fake_openai.responder = broken

    with pytest.raises(openai.InternalServerError, match="the responder failed: KeyError"):
        chat(fake_openai).invoke("hi")


def test_a_responder_with_no_replies_gives_a_500(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: []

    with pytest.raises(openai.InternalServerError, match="the responder returned no replies"):
        chat(fake_openai).invoke("hi")


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v1/chat/completions", b"not json", 400, "must be a JSON object"),
        ("/v1/chat/completions", b'{"model": "m"}', 400, "'messages' must be a non-empty list"),
        ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "x"}], "n": 0}', 400, "'n'"),
        ("/v1/completions", b'{"prompt": 3}', 400, "'prompt' must be a string"),
        ("/v1/responses", b"{}", 404, "no endpoint POST /v1/responses"),
        ("/v1/models", None, 404, "no endpoint POST /v1/models"),
    ],
)
def test_bad_requests_get_openai_style_errors(
    fake_openai: FakeOpenAI, path: str, body: bytes | None, status: int, message: str
) -> None:
    response = httpx.post(fake_openai.url + path, content=body)

    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_url_before_start_says_how_to_start() -> None:
    with pytest.raises(RuntimeError, match="context manager"):
        _ = FakeOpenAI().url


def test_stop_frees_the_port() -> None:
    with FakeOpenAI() as server:
        url = server.base_url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models")
