"""Pure functions that shape what an LLM run holds into a Label Studio task.

The handler captures a run as a ``RunRecord`` (JSON-safe, independent of any project); ``build_task`` shapes it
for a project's ``TaskLayout`` when it is sent, so one record fits a prompt-mode or a chat-mode project alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from ls_langchain.errors import RecordFormatError
from ls_langchain.jsonsafe import json_safe, readable
from ls_langchain.labeling import DEFAULT_IMAGES_KEY, TOOL_CALLS_KEY, TaskLayout
from ls_langchain.messages import render_dialogue

__all__ = ["RECORD_FORMAT", "RunRecord", "build_task"]


@dataclass(frozen=True)
class RunRecord:
    """One task's worth of an LLM run, as captured by the handler: the input, the candidates, the facts.

    ``responses`` holds each candidate's text; ``response_tool_calls`` the tool calls of each, in the same order,
    when any candidate made some. A failed run logged with ``log_errors`` has no responses. ``context`` holds the
    documents retrieved earlier in the same root run, as ``{"source", "text"}`` (``retrieval.context_of``).
    """

    id: str
    responses: list[str]
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    model_name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    response_tool_calls: list[list[dict[str, Any]]] | None = None
    context: list[dict[str, str]] | None = None

    def to_json(self) -> str:
        """The record in its stored form (a versioned envelope), whatever objects it holds; this runs in the hook,
        so the common case is one C call."""
        # A shallow dict of the fields, not dataclasses.asdict: its deep copy cost more than the rest of the hook.
        envelope = {"v": RECORD_FORMAT, "run": {f.name: getattr(self, f.name) for f in fields(self)}}
        try:
            return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=readable)
        except (TypeError, ValueError, RecursionError):  # NaN, odd keys, deep nesting: the thorough way
            return json.dumps(json_safe(envelope), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        """A stored record of any version: the bare fields written before the envelope, this version's, and newer
        ones as far as their fields are known here (fields it does not know are kept in ``meta.unknown_fields``).
        Raises ``RecordFormatError`` saying what is wrong when the text is no record."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise RecordFormatError(f"the stored record is not valid JSON ({exc})") from exc
        if isinstance(data, dict) and "v" in data:
            version, run = data["v"], data.get("run")
            if type(version) is not int or not isinstance(run, dict):
                raise RecordFormatError("the stored record's envelope is damaged (no version number or no run)")
        else:
            version, run = 0, data
        if not isinstance(run, dict):
            raise RecordFormatError("the stored record is not a JSON object")
        known = {f.name: run[f.name] for f in fields(cls) if f.name in run}
        for name, value in known.items():
            expected = _FIELD_TYPES.get(name)
            if expected is not None and not isinstance(value, expected):
                raise RecordFormatError(
                    f"the stored record (format {version}) has {name} of type {type(value).__name__}"
                )
        missing = [name for name in ("id", "responses") if name not in known]
        if missing:
            raise RecordFormatError(f"the stored record (format {version}) has no {' or '.join(missing)}")
        if not all(isinstance(text, str) for text in known["responses"]):
            raise RecordFormatError(f"the stored record (format {version}) has a response that is not text")
        unknown = {key: value for key, value in run.items() if key not in known}
        if unknown:
            known["meta"] = {**known.get("meta", {}), "unknown_fields": unknown}
        return cls(**known)


#: The version of a record's stored form. Adding an optional field keeps it (older readers keep what they do not
#: know in meta); changing what a field means raises it, and ``from_json`` learns to read the old form.
RECORD_FORMAT = 1
_NONE = type(None)
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "responses": list,
    "prompt": (str, _NONE),
    "messages": (list, _NONE),
    "model_name": (str, _NONE),
    "meta": dict,
    "response_tool_calls": (list, _NONE),
    "context": (list, _NONE),
}


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
    The retrieved documents go under ``context`` when the config shows them, an empty list when there were none
    (Label Studio refuses a task without a key its config references).
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
    if layout.context_key is not None:
        data[layout.context_key] = record.context or []
    meta = {**record.meta, "model_name": record.model_name, "record_id": record.id}
    return {"data": data, "meta": meta, "predictions": predictions}
