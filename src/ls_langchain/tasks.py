"""Pure functions that shape what an LLM run holds into a Label Studio task.

The handler captures a run as a ``RunRecord`` (JSON-safe, independent of any project); ``build_task`` shapes it
for a project's ``TaskLayout`` when it is sent, so one record fits a prompt-mode or a chat-mode project alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from ls_langchain.jsonsafe import json_safe, readable
from ls_langchain.labeling import DEFAULT_IMAGES_KEY, TOOL_CALLS_KEY, TaskLayout
from ls_langchain.messages import render_dialogue

__all__ = ["RunRecord", "build_task"]


@dataclass(frozen=True)
class RunRecord:
    """One task's worth of an LLM run, as captured by the handler: the input, the candidates, the facts.

    ``responses`` holds each candidate's text; ``response_tool_calls`` the tool calls of each, in the same order,
    when any candidate made some. A failed run logged with ``log_errors`` has no responses.
    """

    id: str
    responses: list[str]
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    model_name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    response_tool_calls: list[list[dict[str, Any]]] | None = None

    def to_json(self) -> str:
        """The record as JSON, whatever objects it holds; this runs in the hook, so the common case is one C call."""
        # A shallow dict of the fields, not dataclasses.asdict: its deep copy cost more than the rest of the hook.
        fields_ = {f.name: getattr(self, f.name) for f in fields(self)}
        try:
            return json.dumps(fields_, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=readable)
        except (TypeError, ValueError):  # NaN, or keys JSON cannot write: the thorough way
            return json.dumps(json_safe(fields_), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        return cls(**json.loads(text))


def _input_value(record: RunRecord, layout: TaskLayout) -> Any:
    if layout.input_kind == "text":
        return record.prompt if record.messages is None else render_dialogue(record.messages)
    messages = record.messages if record.messages is not None else [{"role": "user", "content": record.prompt or ""}]
    if (layout.role_key, layout.text_key) == ("role", "content"):
        return messages
    return [
        {**message, layout.role_key: message.get("role"), layout.text_key: message.get("content")}
        for message in messages
    ]


def build_task(record: RunRecord, layout: TaskLayout) -> dict[str, Any]:
    """The Label Studio task for a record: the input under the config's variable, one prediction per candidate.

    Images of the conversation go, in order, under the config's image list (``[image N]`` in the text points at
    the N-th); the key is left out when there are none, since Label Studio's image viewer fails on an empty list.
    """
    model_version = record.model_name or "unknown"
    predictions = [
        {
            "model_version": model_version,
            "result": [
                {
                    "from_name": layout.response_name,
                    "to_name": layout.input_name,
                    "type": "textarea",
                    "value": {"text": [text]},
                }
            ],
        }
        for text in record.responses
    ]
    data: dict[str, Any] = {layout.input_key: _input_value(record, layout)}
    images = [image for message in record.messages or () for image in message.get("images", ())]
    if images:
        data[layout.images_key or DEFAULT_IMAGES_KEY] = images
    if record.response_tool_calls:
        data[TOOL_CALLS_KEY] = record.response_tool_calls
    meta = {**record.meta, "model_name": record.model_name, "record_id": record.id}
    return {"data": data, "meta": meta, "predictions": predictions}
