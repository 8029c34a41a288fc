"""Pure functions that turn what a LangChain run holds into Label Studio task dicts.

The handler captures a run as a ``RunRecord`` (JSON-safe, independent of any project); ``build_task`` shapes it
for a project's ``TaskLayout`` when it is sent, so one record fits a prompt-mode or a chat-mode project alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, Generation

from ls_langchain.labeling import TaskLayout

__all__ = [
    "RunRecord",
    "build_task",
    "generation_text",
    "json_safe",
    "message_to_dict",
    "pick_model_name",
    "render_dialogue",
]

# LangChain message types -> the role names people and the OpenAI format use.
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
_ROLE_TITLES = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}
_MODEL_NAME_KEYS = ("model_name", "model", "deployment_name", "model_id")


@dataclass(frozen=True)
class RunRecord:
    """One task's worth of an LLM run, as captured by the handler: the input, the candidates, the facts."""

    id: str
    responses: list[str]
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    model_name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        return cls(**json.loads(text))


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps`` accepts: unknown objects become readable strings, never errors."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    if hasattr(value, "model_dump"):
        try:
            return json_safe(value.model_dump(mode="json"))
        except Exception:  # a pydantic model that cannot dump itself is shown by its repr
            return repr(value)
    return str(value)


def _tool_call_text(name: str, args: Any) -> str:
    arguments = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False, sort_keys=True)
    return f"{name}({arguments})"


def message_to_dict(message: BaseMessage) -> dict[str, Any]:
    """A message as a role/content dict: OpenAI role names, readable text, tool calls kept structured."""
    role = getattr(message, "role", None) if message.type == "chat" else _ROLES.get(message.type, message.type)
    content = message.text
    result: dict[str, Any] = {"role": str(role or message.type), "content": content}
    tool_calls = getattr(message, "tool_calls", None) or []
    if tool_calls:
        result["tool_calls"] = [
            json_safe({"id": c.get("id"), "name": c["name"], "args": c["args"]}) for c in tool_calls
        ]
        calls = "\n".join(f"Calls {_tool_call_text(c['name'], c['args'])}" for c in tool_calls)
        result["content"] = f"{content}\n{calls}" if content else calls
    if message.type == "tool":
        result["tool_call_id"] = getattr(message, "tool_call_id", None)
        if message.name:
            result["name"] = message.name
    return result


def render_dialogue(messages: Sequence[Mapping[str, Any]]) -> str:
    """A conversation as plain text for a Text input: one ``Role: content`` paragraph per message."""
    parts = []
    for message in messages:
        role = str(message.get("role", ""))
        title = _ROLE_TITLES.get(role, role.title())
        if role == "tool" and message.get("name"):
            title = f"Tool {message['name']}"
        parts.append(f"{title}: {message.get('content', '')}")
    return "\n\n".join(parts)


def generation_text(generation: Generation) -> str:
    """The text of one candidate; a chat answer made only of tool calls reads as those calls."""
    if isinstance(generation, ChatGeneration):
        return str(message_to_dict(generation.message)["content"])
    return generation.text


def pick_model_name(
    metadata: Mapping[str, Any] | None,
    invocation_params: Mapping[str, Any] | None,
    llm_output: Mapping[str, Any] | None = None,
) -> str | None:
    """The model's name: LangChain's ``ls_model_name``, then the invocation params, then the provider's output."""
    if metadata and metadata.get("ls_model_name"):
        return str(metadata["ls_model_name"])
    for source in (invocation_params, llm_output):
        for key in _MODEL_NAME_KEYS:
            if source and source.get(key):
                return str(source[key])
    return None


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
    """The Label Studio task for a record: the input under the config's variable, one prediction per candidate."""
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
    meta = {**record.meta, "model_name": record.model_name, "record_id": record.id}
    return {"data": {layout.input_key: _input_value(record, layout)}, "meta": meta, "predictions": predictions}
