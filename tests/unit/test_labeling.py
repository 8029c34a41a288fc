"""Reading labeling configs: the defaults, custom inputs, and the errors a broken config gets."""

from __future__ import annotations

import pytest

from ls_langchain.errors import LabelingConfigError
from ls_langchain.labeling import LabelStudioMode, TaskLayout, default_config, grid_view, read_layout


def test_default_prompt_config_reads_as_text_input_with_response() -> None:
    layout = read_layout(default_config(LabelStudioMode.PROMPT))
    assert layout == TaskLayout(
        "prompt", "prompt", "text", "response", "text", "author", images_key="images", context_key="context"
    )


def test_default_chat_config_reads_as_dialogue_with_role_and_content_keys() -> None:
    layout = read_layout(default_config(LabelStudioMode.CHAT))
    assert (layout.input_name, layout.input_key, layout.input_kind) == ("dialogue", "prompt", "dialogue")
    assert (layout.role_key, layout.text_key, layout.response_name) == ("role", "content", "response")


def test_custom_variable_names_are_followed() -> None:
    layout = read_layout(
        '<View><Text name="ctx" value="$text"/><TextArea name="answer" toName="ctx"/>'
        '<TextArea name="user_feedback" toName="ctx"/></View>'
    )
    assert (layout.input_key, layout.input_name, layout.response_name) == ("text", "ctx", "answer")


def test_textarea_named_response_wins_over_the_first_one() -> None:
    layout = read_layout(
        '<View><Paragraphs name="chat" value="$dialogue" layout="dialogue" textKey="content" nameKey="role"/>'
        '<TextArea name="prompt" toName="chat"/><TextArea name="response" toName="chat"/></View>'
    )
    assert (layout.input_key, layout.input_kind, layout.response_name) == ("dialogue", "dialogue", "response")


def test_missing_textarea_is_named() -> None:
    with pytest.raises(LabelingConfigError, match="no <TextArea>"):
        read_layout('<View><Text name="prompt" value="$prompt"/><Rating name="r" toName="prompt"/></View>')


def test_missing_input_is_named() -> None:
    with pytest.raises(LabelingConfigError, match=r"no <Text>, <HyperText> or <Paragraphs>"):
        read_layout('<View><Image name="img" value="$image"/><TextArea name="r" toName="img"/></View>')


def test_invalid_xml_is_one_readable_line() -> None:
    with pytest.raises(LabelingConfigError, match="not valid XML") as caught:
        read_layout("<View><Text name='prompt' value='$prompt'></View>")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("mode", list(LabelStudioMode))
def test_default_configs_edit_the_response_in_a_multiline_editor(mode: LabelStudioMode) -> None:
    assert read_layout(default_config(mode)).response_multiline


@pytest.mark.parametrize(
    ("rows", "multiline"), [("", False), (' rows="1"', False), (' rows="2"', True), (' rows="4px"', True)]
)
def test_a_response_textarea_is_multiline_only_with_rows_above_one(rows: str, multiline: bool) -> None:
    config = f'<View><Text name="prompt" value="$prompt"/><TextArea name="response" toName="prompt"{rows}/></View>'
    assert read_layout(config).response_multiline is multiline


# The shape of Label Studio's /api/dm/columns answer for a new chat project (a few of its columns).
COLUMNS = [
    {"id": "prompt", "parent": "data", "target": "tasks", "visibility_defaults": {"explore": True, "labeling": True}},
    {"id": "id", "target": "tasks", "visibility_defaults": {"explore": True, "labeling": False}},
    {"id": "inner_id", "target": "tasks", "visibility_defaults": {"explore": False, "labeling": False}},
    {"id": "total_annotations", "target": "tasks", "visibility_defaults": {"explore": True, "labeling": True}},
    {"id": "predictions_model_versions", "target": "tasks", "visibility_defaults": {"explore": False}},
    {"id": "created_at", "target": "tasks", "visibility_defaults": {"explore": False, "labeling": False}},
    {"id": "data", "target": "tasks", "children": ["prompt"]},
]


def test_the_grid_hides_conversations_images_tool_calls_and_documents_and_shows_model_and_time() -> None:
    view = grid_view(default_config(LabelStudioMode.CHAT), COLUMNS)
    explore, labeling = view["hiddenColumns"]["explore"], view["hiddenColumns"]["labeling"]
    for raw in ("tasks:data.prompt", "tasks:data.images", "tasks:data.response_tool_calls", "tasks:data.context"):
        assert raw in explore and raw in labeling
    assert "tasks:inner_id" in explore  # what Label Studio hides by itself stays hidden
    assert "tasks:predictions_model_versions" not in explore and "tasks:created_at" not in explore
    assert "tasks:id" not in labeling and "tasks:total_annotations" not in labeling
    assert "tasks:data" not in explore


def test_the_grid_keeps_a_text_prompt_and_hides_a_custom_image_list() -> None:
    config = (
        '<View><Text name="q" value="$question"/><Image name="pics" valueList="$pictures"/>'
        '<TextArea name="response" toName="q" rows="4"/></View>'
    )
    columns = [{**COLUMNS[0], "id": "question"}, *COLUMNS[1:]]
    explore = grid_view(config, columns)["hiddenColumns"]["explore"]
    assert "tasks:data.question" not in explore
    assert "tasks:data.pictures" in explore


def test_the_grid_hides_the_documents_of_the_prompt_config_too() -> None:
    assert (
        "tasks:data.context" in grid_view(default_config(LabelStudioMode.PROMPT), COLUMNS)["hiddenColumns"]["explore"]
    )
