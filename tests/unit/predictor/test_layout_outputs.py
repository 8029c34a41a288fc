"""Reading the seed configs, and turning answers into Label Studio results."""

from __future__ import annotations

import pytest

from ls_langchain.errors import LabelingConfigError
from ls_langchain.predictor.layout import read_layout
from ls_langchain.predictor.outputs import regions
from ls_langchain.predictor.structured import answer_schema

from seed_configs import DIALOGUE_SFT, IMAGE_SUMMARIZATION, PROMPT_ENGINEERING, TEXT_CLASSIFICATION

TWO_RESPONSES = """<View><Text name="text" value="$text"/>
<TextArea name="prompt" toName="text"/><TextArea name="draft" toName="text"/><TextArea name="final" toName="text"/>
</View>"""


@pytest.mark.parametrize(
    ("config", "source", "responses", "controls"),
    [
        (PROMPT_ENGINEERING, "Text", ["response"], ["evals", "rating"]),
        (TEXT_CLASSIFICATION, "Text", ["response"], ["sentiment"]),
        (DIALOGUE_SFT, "Paragraphs", ["response"], []),
        (IMAGE_SUMMARIZATION, "Image", ["summarization-response"], ["category"]),
    ],
)
def test_the_seed_configs_are_read(config: str, source: str, responses: list[str], controls: list[str]) -> None:
    layout = read_layout(config, "prompt")
    assert layout.prompt.name == "prompt"
    assert layout.source.tag == source
    assert [tag.name for tag in layout.responses] == responses
    assert [tag.name for tag in layout.controls] == controls


def test_a_config_without_a_prompt_textarea_says_what_to_add() -> None:
    config = '<View><Text name="t" value="$t"/><TextArea name="answer" toName="t"/></View>'
    with pytest.raises(LabelingConfigError, match=r'no <TextArea name="prompt\.\.\.">.*set PROMPT_PREFIX'):
        read_layout(config, "prompt")


def test_a_config_with_nothing_to_fill_says_so() -> None:
    config = '<View><Text name="t" value="$t"/><TextArea name="prompt" toName="t"/></View>'
    with pytest.raises(LabelingConfigError, match="nothing to fill in"):
        read_layout(config, "prompt")


def test_invalid_xml_is_one_clear_error() -> None:
    with pytest.raises(LabelingConfigError, match="cannot be read"):
        read_layout("<View><Text", "prompt")


def test_the_answer_schema_respects_single_and_multiple() -> None:
    layout = read_layout(TEXT_CLASSIFICATION, "prompt")
    schema = answer_schema(layout.controls, with_answer=True)
    assert schema["properties"]["sentiment"]["type"] == "array"
    assert schema["properties"]["sentiment"]["items"]["enum"] == ["Sarcastic", "Not Sarcastic"]
    image = read_layout(IMAGE_SUMMARIZATION, "prompt")
    single = answer_schema(image.controls, with_answer=True)["properties"]["category"]
    assert single["anyOf"][0]["enum"][0] == "Groceries"
    assert single["anyOf"][1] == {"type": "null"}


def test_every_response_textarea_is_filled_and_the_prompt_echoed() -> None:
    """Defect of the example: only the first response TextArea was filled."""
    layout = read_layout(TWO_RESPONSES, "prompt")
    result = regions(layout.prompt, "Summarize", layout.responses, ["one", "two"], [])
    by_name = {item["from_name"]: item["value"] for item in result}
    assert by_name == {
        "draft": {"text": ["one", "two"]},
        "final": {"text": ["one", "two"]},
        "prompt": {"text": ["Summarize"]},
    }
    assert all(item["type"] == "textarea" and item["to_name"] == "text" for item in result)
