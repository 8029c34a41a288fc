"""Shaping runs into tasks: roles, tool calls, images, text rendering, candidates, model names, meta, masking."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, Generation
from pydantic import SecretStr

from ls_langchain.errors import RecordFormatError
from ls_langchain.jsonsafe import json_safe
from ls_langchain.labeling import LabelStudioMode, default_config, read_layout
from ls_langchain.masking import MASKED, mask_record
from ls_langchain.messages import generation_to_dict, message_to_dict, render_dialogue
from ls_langchain.runmeta import drop_secrets, pick_model_name, token_usage
from ls_langchain.tasks import RECORD_FORMAT, RunRecord, build_task

PROMPT_LAYOUT = read_layout(default_config(LabelStudioMode.PROMPT))
CHAT_LAYOUT = read_layout(default_config(LabelStudioMode.CHAT))


def test_roles_are_openai_names_not_class_names() -> None:
    messages = [
        SystemMessage("be brief"),
        HumanMessage("hi"),
        AIMessage("hello"),
        ToolMessage("42", tool_call_id="c1", name="calc"),
        ChatMessage(role="critic", content="meh"),
    ]
    assert [message_to_dict(m)["role"] for m in messages] == ["system", "user", "assistant", "tool", "critic"]


def test_tool_calls_stay_structured_and_read_as_text() -> None:
    message = AIMessage("", tool_calls=[{"name": "search", "args": {"q": "paris"}, "id": "c1"}])
    as_dict = message_to_dict(message)
    assert as_dict["tool_calls"] == [{"id": "c1", "name": "search", "args": {"q": "paris"}}]
    assert as_dict["content"] == 'Calls search({"q": "paris"})'
    tool = message_to_dict(ToolMessage("sunny", tool_call_id="c1", name="search"))
    assert (tool["name"], tool["tool_call_id"]) == ("search", "c1")


def test_dialogue_renders_as_readable_text() -> None:
    text = render_dialogue([{"role": "system", "content": "Use emojis"}, {"role": "user", "content": "A joke"}])
    assert text == "System: Use emojis\n\nUser: A joke"


def test_tool_only_answer_still_has_text() -> None:
    generation = ChatGeneration(message=AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": "1"}]))
    assert generation_to_dict(generation)["content"] == "Calls f({})"
    assert generation_to_dict(Generation(text="plain")) == {"role": "assistant", "content": "plain"}


def test_prompt_record_in_prompt_project() -> None:
    record = RunRecord(id="r1", responses=["a", "b"], prompt="Tell me a joke", model_name="gpt-x", meta={"run_id": "r"})
    task = build_task(record, PROMPT_LAYOUT)
    assert task["data"] == {"prompt": "Tell me a joke", "context": []}
    assert [p["result"][0]["value"]["text"] for p in task["predictions"]] == [["a"], ["b"]]
    assert {p["model_version"] for p in task["predictions"]} == {"gpt-x"}
    assert task["predictions"][0]["result"][0]["from_name"] == "response"
    assert task["predictions"][0]["result"][0]["to_name"] == "prompt"
    assert task["meta"] == {"run_id": "r", "model_name": "gpt-x", "record_id": "r1"}


def test_chat_record_in_prompt_project_is_readable_text() -> None:
    messages = [{"role": "system", "content": "Be kind"}, {"role": "user", "content": "Hi"}]
    task = build_task(RunRecord(id="r", responses=["Hello"], messages=messages), PROMPT_LAYOUT)
    assert task["data"] == {"prompt": "System: Be kind\n\nUser: Hi", "context": []}


def test_prompt_record_in_chat_project_is_a_one_message_dialogue() -> None:
    task = build_task(RunRecord(id="r", responses=["Hello"], prompt="Hi"), CHAT_LAYOUT)
    assert task["data"] == {"prompt": [{"role": "user", "content": "Hi"}], "context": []}
    assert task["predictions"][0]["result"][0]["to_name"] == "dialogue"


def test_paragraphs_with_other_keys_get_those_keys() -> None:
    layout = read_layout(
        '<View><Paragraphs name="d" value="$dialogue" nameKey="author" textKey="text"/>'
        '<TextArea name="response" toName="d"/></View>'
    )
    task = build_task(RunRecord(id="r", responses=["x"], messages=[{"role": "user", "content": "Hi"}]), layout)
    assert task["data"]["dialogue"][0]["author"] == "user"
    assert task["data"]["dialogue"][0]["text"] == "Hi"


def test_model_name_order() -> None:
    assert pick_model_name({"ls_model_name": "a"}, {"model_name": "b"}, {"model_name": "c"}) == "a"
    assert pick_model_name({}, {"model": "b"}, {"model_name": "c"}) == "b"
    assert pick_model_name({}, {"deployment_name": "d"}) == "d"
    assert pick_model_name(None, {}, {"model_name": "c"}) == "c"
    assert pick_model_name(None, None, None) is None


def test_json_safe_never_raises() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    value = {"when": datetime(2024, 1, 2), "nan": float("nan"), "obj": Opaque(), "set": {1}, 3: (1, 2)}
    safe = json_safe(value)
    json.dumps(safe)
    assert safe["obj"] == "<opaque>" and safe["3"] == [1, 2] and safe["nan"] == "nan"


def test_record_round_trips_through_json() -> None:
    record = RunRecord(id="r", responses=["x"], messages=[{"role": "user", "content": "é"}], meta={"k": 1})
    assert RunRecord.from_json(record.to_json()) == record


def test_image_blocks_in_every_common_form_become_urls_or_data_uris() -> None:
    message = HumanMessage(
        content=[
            {"type": "text", "text": "Compare"},
            {"type": "image_url", "image_url": {"url": "https://a.example/1.png"}},
            {"type": "image_url", "image_url": "https://a.example/2.png"},
            {"type": "image", "url": "https://a.example/3.png"},
            {"type": "image", "base64": "QUJD", "mime_type": "image/jpeg"},
            {"type": "image", "source_type": "base64", "data": "REVG", "mime_type": "image/webp"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lG"}},
            {"type": "input_audio", "input_audio": {"data": "...", "format": "wav"}},
        ]
    )
    as_dict = message_to_dict(message, first_image=4)
    assert as_dict["images"] == [
        "https://a.example/1.png",
        "https://a.example/2.png",
        "https://a.example/3.png",
        "data:image/jpeg;base64,QUJD",
        "data:image/webp;base64,REVG",
        "data:image/gif;base64,R0lG",
    ]
    assert as_dict["content"] == "\n".join(["Compare", *(f"[image {n}]" for n in range(4, 10)), "[input_audio]"])


def test_images_stay_out_of_data_when_there_are_none() -> None:
    record = RunRecord(id="r", responses=["x"], messages=[{"role": "user", "content": "Hi"}])
    assert "images" not in build_task(record, CHAT_LAYOUT)["data"]
    with_image = RunRecord(id="r", responses=["x"], messages=[{"role": "user", "content": "", "images": ["u"]}])
    custom = read_layout(
        '<View><Text name="t" value="$text"/><Image name="pics" valueList="$pictures"/>'
        '<TextArea name="response" toName="t"/></View>'
    )
    assert build_task(with_image, custom)["data"]["pictures"] == ["u"]


def test_secrets_are_dropped_at_any_depth() -> None:
    params = {
        "model": "m",
        "max_tokens": 5,
        "openai_api_key": "a",
        "apiKey": "b",
        "hf_token": "c",
        "client_secret": "d",
        "nested": [{"Authorization": "e", "keep": SecretStr("f")}, "ok"],
        "password": "g",
    }
    assert drop_secrets(params) == {"model": "m", "max_tokens": 5, "nested": [{}, "ok"]}


def test_usage_from_llm_output_uses_langchain_names() -> None:
    llm_output = {"token_usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "details": None}}
    assert token_usage([Generation(text="x")], llm_output) == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    assert token_usage([Generation(text="x")], None) is None


def test_mask_reaches_every_text_but_the_record_id() -> None:
    record = RunRecord(
        id="secret-id",
        responses=["secret answer"],
        messages=[{"role": "user", "content": "a secret", "images": ["data:secret"]}],
        meta={"tags": ["secret"], "n": 1},
        response_tool_calls=[[{"name": "f", "args": {"q": "secret"}}]],
    )
    masked, failures = mask_record(record, lambda text: text.replace("secret", "***"))
    assert failures == 0 and masked.id == "secret-id"
    assert "secret" not in masked.to_json().replace('"secret-id"', "")
    assert masked.meta["n"] == 1


def test_a_mask_that_fails_or_returns_no_text_masks_fully() -> None:
    def bad(text: str) -> str:
        if text == "boom":
            raise RuntimeError(text)
        return None if text == "none" else text  # type: ignore[return-value]

    record = RunRecord(id="r", responses=["boom", "none", "fine"])
    masked, failures = mask_record(record, bad)
    assert masked.responses == [MASKED, MASKED, "fine"] and failures == 2


def test_a_record_is_stored_in_a_versioned_envelope() -> None:
    stored = json.loads(RunRecord(id="r", responses=["a"]).to_json())
    assert stored["v"] == RECORD_FORMAT and stored["run"]["id"] == "r"


def test_records_of_other_versions_are_read_where_possible() -> None:
    before_the_envelope = RunRecord.from_json('{"id": "r", "responses": ["a"], "prompt": "p"}')
    assert (before_the_envelope.id, before_the_envelope.prompt) == ("r", "p")
    newer = RunRecord.from_json('{"v": 9, "run": {"id": "r", "responses": ["a"], "meta": {"k": 1}, "citations": [1]}}')
    assert newer.meta == {"k": 1, "unknown_fields": {"citations": [1]}}  # kept, delivered in the task's meta


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "not valid JSON"),
        ('{"v": 1, "run": {"responses": []}}', "has no id"),
        ('{"v": 1, "run": {"id": 5, "responses": []}}', "id of type int"),
        ('{"v": 1, "run": {"id": "r", "responses": [5]}}', "a response that is not text"),
        ('{"v": null}', "envelope is damaged"),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_a_record_that_cannot_be_read_says_why(text: str, says: str) -> None:
    with pytest.raises(RecordFormatError, match=says):
        RunRecord.from_json(text)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")

    def __repr__(self) -> str:
        raise RuntimeError("nor a repr")


def nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": True}
    for _ in range(depth):
        value = {"inner": value}
    return value


def test_odd_values_become_text_and_deep_ones_are_cut() -> None:
    loop: list[object] = []
    loop.append(loop)
    safe = json_safe({"bad": Unprintable(), Unprintable(): 1, "deep": nested(600), "loop": loop})
    assert safe["bad"] == "<Unprintable object that cannot be shown>"
    assert json.loads(json.dumps(safe))["deep"]  # writable, however deep it was
    assert "nested deeper than" in json.dumps(safe["loop"])
    assert "nested deeper than" in json.dumps(drop_secrets({"deep": nested(600)}))
