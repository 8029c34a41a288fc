"""The handler's view of a labeling config: where a logged run goes in a project.

``task_layout`` reads a ``LabelingConfig`` into a small ``TaskLayout`` that the pure task builders in ``tasks.py``
follow, so a custom config with ``$text`` or ``$dialogue`` works like the defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ls_langchain.errors import LabelingConfigError
from ls_langchain.labeling.model import INPUT_TAGS, ConfigControl, ConfigObject, LabelingConfig, ObjectKind
from ls_langchain.labeling.parse import parse_config

__all__ = ["CONTEXT_KEY", "TaskLayout", "input_layout", "read_layout", "task_layout"]

#: The data key of the documents retrieved before a model call; a config shows them if it references ``$context``.
CONTEXT_KEY = "context"


@dataclass(frozen=True)
class TaskLayout:
    """Where a logged run goes in a project: the data key of the input, the response TextArea, the data key of
    an ``<Image valueList="$...">`` that shows the conversation's images, if the config has one, and
    ``context_key`` when the config shows the retrieved documents (it references ``$context``).

    ``response_multiline`` is False when Label Studio edits the response in a one-line ``<input>`` (no ``rows``, or
    ``rows="1"``): an edited answer then loses its line breaks."""

    input_name: str
    input_key: str
    input_kind: Literal["text", "dialogue"]
    response_name: str
    text_key: str = "content"
    role_key: str = "role"
    images_key: str | None = None
    response_multiline: bool = True
    context_key: str | None = None


def task_layout(config: LabelingConfig) -> TaskLayout:
    """Find the response TextArea and the Text/HyperText/Paragraphs input it annotates.

    The TextArea named ``response`` wins; otherwise the first TextArea on a supported input. Raises
    ``LabelingConfigError`` naming what is missing.
    """
    inputs = {obj.name: obj for obj in config.objects if obj.tag in INPUT_TAGS and obj.value_key}
    if not inputs:
        raise LabelingConfigError(
            "The labeling config has no <Text>, <HyperText> or <Paragraphs> input with a $variable value: "
            'add one, e.g. <Text name="prompt" value="$prompt"/>.'
        )
    textareas = [c for c in config.controls_of("TextArea") if any(target in inputs for target in c.to_name)]
    if not textareas:
        raise LabelingConfigError(
            "The labeling config has no <TextArea> on its input to hold the LLM response: add one, e.g. "
            f'<TextArea name="response" toName="{next(iter(inputs))}" editable="true"/>.'
        )
    response = next((c for c in textareas if c.name == "response"), textareas[0])
    target = next(name for name in response.to_name if name in inputs)
    context_key = CONTEXT_KEY if any(obj.value_key == CONTEXT_KEY for obj in config.objects) else None
    return input_layout(inputs[target], response=response, images_key=_images_key(config), context_key=context_key)


def input_layout(
    obj: ConfigObject,
    *,
    response: ConfigControl | None = None,
    images_key: str | None = None,
    context_key: str | None = None,
) -> TaskLayout:
    """The layout of a run logged into the input ``obj`` (a Text, HyperText or Paragraphs with a ``$variable``) and
    answered in the TextArea ``response``, if there is one; ``context_key`` when the config shows ``$context``."""
    return TaskLayout(
        input_name=obj.name,
        input_key=obj.value_key or "",
        input_kind="dialogue" if obj.kind is ObjectKind.DIALOGUE else "text",
        response_name=response.name if response is not None else "",
        text_key=obj.text_key,
        role_key=obj.name_key,
        images_key=images_key,
        response_multiline=response is None or _multiline(response),
        context_key=context_key,
    )


def read_layout(xml: str) -> TaskLayout:
    """The handler's layout of a config given as XML: ``task_layout(parse_config(xml))``."""
    return task_layout(parse_config(xml))


def _multiline(textarea: ConfigControl) -> bool:
    """Whether Label Studio edits this TextArea in a textarea: it does when ``rows`` is a number above 1."""
    rows = re.match(r"\s*(\d+)", textarea.attrs.get("rows", ""))  # read as the editor's parseInt reads it
    return rows is not None and int(rows.group(1)) > 1


def _images_key(config: LabelingConfig) -> str | None:
    """The data key of the first ``<Image valueList="$key">``: a list of images, one shown at a time."""
    for obj in config.objects:
        value_list = obj.attrs.get("valueList", "")
        if obj.tag == "Image" and value_list.startswith("$"):
            return value_list[1:]
    return None
