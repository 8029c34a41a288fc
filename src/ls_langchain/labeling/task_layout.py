"""What a project's labeling config says about where a logged run goes.

Configs are read with the SDK's ``LabelInterface``; the result is a small ``TaskLayout`` that the pure task
builders in ``tasks.py`` follow, so a custom config with ``$text`` or ``$dialogue`` works like the defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from label_studio_sdk.label_interface import LabelInterface

from ls_langchain.errors import LabelingConfigError

__all__ = ["CONTEXT_KEY", "TaskLayout", "read_layout"]

#: The data key of the documents retrieved before a model call; a config shows them if it references ``$context``.
CONTEXT_KEY = "context"

_INPUT_KINDS: dict[str, Literal["text", "dialogue"]] = {
    "Text": "text",
    "HyperText": "text",
    "Paragraphs": "dialogue",
}


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


def _parse(config: str) -> LabelInterface:
    # Imported when a config is first read: the SDK's LabelInterface brings jsf, faker and pandas (~60 MiB).
    from label_studio_sdk.label_interface import LabelInterface

    try:
        return LabelInterface(config)
    except Exception as exc:  # the SDK raises lxml and its own legacy exception types
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LabelingConfigError(f"The labeling config is not valid XML: {first_line}.") from exc


def _attr(tag: Any, name: str) -> str:
    value = (getattr(tag, "attr", None) or {}).get(name)
    return str(value) if value is not None else ""


def read_layout(config: str) -> TaskLayout:
    """Find the response TextArea and the Text/HyperText/Paragraphs input it annotates.

    The TextArea named ``response`` wins; otherwise the first TextArea on a supported input. Raises
    ``LabelingConfigError`` naming what is missing.
    """
    interface = _parse(config)
    inputs = {
        obj.name: obj for obj in interface.objects if obj.tag in _INPUT_KINDS and str(obj.value or "").startswith("$")
    }
    if not inputs:
        raise LabelingConfigError(
            "The labeling config has no <Text>, <HyperText> or <Paragraphs> input with a $variable value: "
            'add one, e.g. <Text name="prompt" value="$prompt"/>.'
        )
    textareas = [
        control
        for control in interface.controls
        if control.tag == "TextArea" and any(target in inputs for target in control.to_name or ())
    ]
    if not textareas:
        raise LabelingConfigError(
            "The labeling config has no <TextArea> on its input to hold the LLM response: add one, e.g. "
            f'<TextArea name="response" toName="{next(iter(inputs))}" editable="true"/>.'
        )
    response = next((c for c in textareas if c.name == "response"), textareas[0])
    target = next(name for name in response.to_name if name in inputs)
    obj = inputs[target]
    return TaskLayout(
        input_name=obj.name,
        input_key=str(obj.value).lstrip("$"),
        input_kind=_INPUT_KINDS[obj.tag],
        response_name=response.name,
        # Paragraphs read each message's speaker and text from these keys (Label Studio's defaults: author, text).
        text_key=_attr(obj, "textKey") or "text",
        role_key=_attr(obj, "nameKey") or "author",
        images_key=_images_key(interface),
        response_multiline=_multiline(response),
        context_key=CONTEXT_KEY if any(obj.value == f"${CONTEXT_KEY}" for obj in interface.objects) else None,
    )


def _multiline(textarea: Any) -> bool:
    """Whether Label Studio edits this TextArea in a textarea: it does when ``rows`` is a number above 1."""
    rows = re.match(r"\s*(\d+)", _attr(textarea, "rows"))  # read as the editor's parseInt reads it
    return rows is not None and int(rows.group(1)) > 1


def _images_key(interface: LabelInterface) -> str | None:
    """The data key of the first ``<Image valueList="$key">``: a list of images, one shown at a time."""
    for obj in interface.objects:
        value_list = _attr(obj, "valueList")
        if obj.tag == "Image" and value_list.startswith("$"):
            return value_list[1:]
    return None
