"""SFT export against the real Label Studio: what ends up as the final assistant turn, and what is left out."""

from __future__ import annotations

from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.errors import LabelingConfigError
from ls_langchain.export import export_project
from ls_langchain.studio import Studio

from export_shapes import CHAT_CONFIG, PROMPT_CONFIG, answer, prompt_task, rating, read_lines


def test_prompt_mode_takes_edits_accepted_answers_and_leaves_out_skipped_and_unannotated(
    studio_client: Studio, ls: LabelStudio, make_project, tmp_path: Path
) -> None:
    project, (edited, kept, rated_only, skipped, untouched) = make_project(
        PROMPT_CONFIG,
        [
            prompt_task("Capital of France?", "Paris, I think."),
            prompt_task("2 + 2?", "4"),
            prompt_task("Colour of the sky?", "Blue."),
            prompt_task("Tell me a secret.", "No."),
            prompt_task("Nobody looked at this.", "Ignored."),
        ],
    )
    ls.annotations.create(id=edited, result=[answer("The capital of France is Paris."), rating(4)])
    ls.annotations.create(id=kept, result=[answer("4"), rating(5)])
    ls.annotations.create(id=rated_only, result=[rating(3)])  # judged, answer left as the model gave it
    ls.annotations.create(id=skipped, result=[], was_cancelled=True)
    del untouched

    out = tmp_path / "sft.jsonl"
    summary = export_project(studio_client, project, "sft", out)

    assert read_lines(out) == [
        {
            "messages": [
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "The capital of France is Paris."},
            ]
        },
        {"messages": [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": "4"}]},
        {"messages": [{"role": "user", "content": "Colour of the sky?"}, {"role": "assistant", "content": "Blue."}]},
    ]
    assert (summary.tasks_read, summary.tasks_exported, summary.records) == (5, 3, 3)
    assert summary.left_out == {"skipped": 1, "not_annotated": 1}
    assert "1 skipped by the annotator" in summary.describe()
    assert not out.with_name("sft.jsonl.partial").exists()


def test_prompt_mode_as_prompt_completion_lines(
    studio_client: Studio, ls: LabelStudio, make_project, tmp_path: Path
) -> None:
    project, (task,) = make_project(PROMPT_CONFIG, [prompt_task("Say hi", "hi")])
    ls.annotations.create(id=task, result=[answer("Hello!")])

    export_project(studio_client, project, "sft", tmp_path / "c.jsonl", completions=True)

    assert read_lines(tmp_path / "c.jsonl") == [{"prompt": "Say hi", "completion": "Hello!"}]


def test_chat_mode_keeps_the_conversation_with_tool_calls(
    studio_client: Studio, ls: LabelStudio, make_project, tmp_path: Path
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
    conversation = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "-3 C, snow", "tool_call_id": "call_1"},
    ]
    project, (task,) = make_project(
        CHAT_CONFIG,
        [
            {
                "data": {"prompt": conversation, "context": []},
                "meta": {"model_name": "gpt-x"},
                "predictions": [{"model_version": "gpt-x", "result": [answer("Cold.", to="dialogue")]}],
            }
        ],
    )
    ls.annotations.create(id=task, result=[answer("It is -3 C and snowing in Oslo.", to="dialogue")])

    export_project(studio_client, project, "sft", tmp_path / "chat.jsonl")

    assert read_lines(tmp_path / "chat.jsonl") == [
        {"messages": [*conversation, {"role": "assistant", "content": "It is -3 C and snowing in Oslo."}]}
    ]


def test_chat_mode_refuses_prompt_completion_lines(studio_client: Studio, make_project, tmp_path: Path) -> None:
    project, _ = make_project(CHAT_CONFIG, [{"data": {"prompt": [{"role": "user", "content": "hi"}], "context": []}}])

    with pytest.raises(LabelingConfigError, match="is a dialogue"):
        export_project(studio_client, project, "sft", tmp_path / "x.jsonl", completions=True)
    assert not (tmp_path / "x.jsonl").exists()


def test_several_annotators_give_one_line_each_unless_they_agree(
    studio_client: Studio, ls: LabelStudio, make_project, second_annotator: int, tmp_path: Path
) -> None:
    project, (differ, agree) = make_project(PROMPT_CONFIG, [prompt_task("A?", "a"), prompt_task("B?", "b")])
    ls.annotations.create(id=differ, result=[answer("First view.")])
    ls.annotations.create(id=differ, result=[answer("Second view.")], completed_by=second_annotator)
    ls.annotations.create(id=agree, result=[answer("Same.")])
    ls.annotations.create(id=agree, result=[answer("Same.")], completed_by=second_annotator)

    summary = export_project(studio_client, project, "sft", tmp_path / "o.jsonl")

    finals = [line["messages"][-1]["content"] for line in read_lines(tmp_path / "o.jsonl")]
    assert finals == ["First view.", "Second view.", "Same."]
    assert summary.records == 3


# Label Studio's "collecting data for LLM supervised fine-tuning" example: the chat under $dialogue, plus a prompt
# TextArea; the answer TextArea is the one named "response".
_SFT_EXAMPLE_CONFIG = """<View>
  <Paragraphs name="chat" value="$dialogue" layout="dialogue" textKey="text" nameKey="author"/>
  <TextArea name="prompt" toName="chat" rows="4" editable="true" maxSubmissions="1" showSubmitButton="false"/>
  <TextArea name="response" toName="chat" rows="4" editable="true" smart="false" maxSubmissions="1"/>
</View>"""


def test_a_custom_dialogue_config_with_its_own_keys_and_speaker_names(
    studio_client: Studio, ls: LabelStudio, make_project, tmp_path: Path
) -> None:
    dialogue = [
        {"author": "Human", "text": "What is the capital of France?"},
        {"author": "Bot", "text": "Paris."},
        {"author": "Human", "text": "Tell me a joke."},
    ]
    project, (task,) = make_project(_SFT_EXAMPLE_CONFIG, [{"data": {"dialogue": dialogue}}])
    ls.annotations.create(
        id=task,
        result=[
            {"from_name": "prompt", "to_name": "chat", "type": "textarea", "value": {"text": ["ignored"]}},
            answer("Why did the chicken cross the road?", to="chat"),
        ],
    )

    export_project(studio_client, project, "sft", tmp_path / "o.jsonl")

    assert read_lines(tmp_path / "o.jsonl") == [
        {
            "messages": [
                {"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "Tell me a joke."},
                {"role": "assistant", "content": "Why did the chicken cross the road?"},
            ]
        }
    ]
