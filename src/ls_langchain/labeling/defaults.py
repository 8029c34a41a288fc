"""The labeling configs a new project gets, per mode: the input, the retrieved documents, an editable response,
a rating.

The response TextArea has ``rows``: Label Studio edits a TextArea without it (or with ``rows="1"``) in a one-line
``<input>``, which drops the line breaks of an answer as soon as someone edits it.

The one home of the default configs; ``LabelStudioMode`` says which one a handler uses. The documents a retriever
gave the model sit in a collapsed panel above the answer, as a table of source and text (``<Table>`` shows an empty
list as "No data", where ``<Paragraphs>`` fails on it, and Label Studio needs the key in every task).
"""

from __future__ import annotations

import enum

__all__ = ["DEFAULT_IMAGES_KEY", "TOOL_CALLS_KEY", "LabelStudioMode", "default_config"]

#: The data key of a conversation's images when a config has no image list of its own.
DEFAULT_IMAGES_KEY = "images"
#: The data key of the tool calls of an answer made only of tool calls, per candidate.
TOOL_CALLS_KEY = "response_tool_calls"


class LabelStudioMode(str, enum.Enum):
    """What a handler logs by default: one prompt and its response, or a whole chat."""

    PROMPT = "prompt"
    CHAT = "chat"


_PROMPT_CONFIG = """<View>
  <Style>
    .prompt-box { background-color: white; border-radius: 10px; box-shadow: 0px 4px 6px rgba(0, 0, 0, 0.1);
                  padding: 20px; }
  </Style>
  <View className="root">
    <View className="prompt-box">
      <Text name="prompt" value="$prompt"/>
    </View>
    <Image name="images" valueList="$images" maxHeight="400px"/>
    <Collapse>
      <Panel value="Retrieved context">
        <Table name="context" value="$context"/>
      </Panel>
    </Collapse>
    <TextArea name="response" toName="prompt" maxSubmissions="1" editable="true" required="true" rows="4"/>
  </View>
  <Header value="Rate the response:"/>
  <Rating name="rating" toName="prompt"/>
</View>"""

_CHAT_CONFIG = """<View>
  <View className="root">
    <Paragraphs name="dialogue" value="$prompt" layout="dialogue" textKey="content" nameKey="role"
                granularity="sentence"/>
    <Image name="images" valueList="$images" maxHeight="400px"/>
    <Collapse>
      <Panel value="Retrieved context">
        <Table name="context" value="$context"/>
      </Panel>
    </Collapse>
    <Header value="Final response:"/>
    <TextArea name="response" toName="dialogue" maxSubmissions="1" editable="true" required="true" rows="4"/>
  </View>
  <Header value="Rate the response:"/>
  <Rating name="rating" toName="dialogue"/>
</View>"""


def default_config(mode: LabelStudioMode) -> str:
    """The labeling config a new project of this mode gets: the input, an editable response, a rating."""
    return _CHAT_CONFIG if mode is LabelStudioMode.CHAT else _PROMPT_CONFIG
