"""``OPENAI_PROVIDER=offline``: a demo and test double in place of a chat model, for trying the backend (``make
demo``) without a provider account or network.

It is not a model and reads nothing of the task: it answers with the JSON the config's schema asks for, the answer
of the last few-shot example shown (the most similar one) when there is one, else the first label of each control,
the lowest rating or number, no spans, and a response saying it is offline. The same input gets the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda

__all__ = ["OFFLINE_ANSWER", "OfflineChatModel"]

#: The response text of every answer: what the double is, so nobody mistakes it for a model's work.
OFFLINE_ANSWER = (
    "[offline demo model (OPENAI_PROVIDER=offline), not a real answer: it picks each control's first label; "
    "set OPENAI_API_KEY and OPENAI_PROVIDER=openai for a real model]"
)


def _shown(messages: Sequence[BaseMessage]) -> dict[str, Any] | None:
    """The JSON answer of the last few-shot example in ``messages``, if any."""
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            try:
                shown = json.loads(message.text)
            except ValueError:
                return None
            return shown if isinstance(shown, dict) else None
    return None


def _first_value(schema: Mapping[str, Any]) -> Any:
    """The first valid value of a JSON schema: the first option of a choice, the minimum of a number, no spans."""
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        return _first_value(options[0]) if options else None
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: _first_value(part) for name, part in schema.get("properties", {}).items()}
    if kind == "array":
        items = schema.get("items", {})
        return [] if items.get("type") == "object" else [_first_value(items)]
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "string":
        return OFFLINE_ANSWER
    return None


class OfflineChatModel(BaseChatModel):
    """Demo and test double, not a model: answers from the schema (or the last example shown), never the network."""

    @property
    def _llm_type(self) -> str:
        return "offline-demo"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **_: Any,
    ) -> ChatResult:
        shown = _shown(messages)
        text = json.dumps(shown) if shown is not None else OFFLINE_ANSWER
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """The schema's first values, overridden by the last example shown; as ``{"raw", "parsed"}`` when asked."""
        if not isinstance(schema, dict):
            raise NotImplementedError("The offline demo model answers JSON schemas (dicts) only.")

        def answer(given: LanguageModelInput) -> Any:
            parsed = {**_first_value(schema), **(_shown(self._convert_input(given).to_messages()) or {})}
            raw = AIMessage(json.dumps(parsed))
            return {"raw": raw, "parsed": parsed, "parsing_error": None} if include_raw else parsed

        return RunnableLambda(answer)
