"""Pure functions that turn the facts of one LLM run into a task's ``meta``: what a team filters and evaluates on.

Model and provider, invocation parameters, token usage, timings, lineage (run, parent and root run ids), tags and
the user's metadata. Secrets never get in: entries whose key names one (``api_key``, ``*token``, ``password``...)
and pydantic secret values are dropped, wherever they sit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from langchain_core.outputs import ChatGeneration, Generation
from pydantic import SecretBytes, SecretStr

from ls_langchain.jsonsafe import MAX_DEPTH, json_safe, text_of

__all__ = [
    "drop_secrets",
    "error_facts",
    "finish_reasons",
    "milliseconds",
    "names_secret",
    "pick_model_name",
    "run_meta",
    "token_usage",
]

_SECRET_KEY = re.compile(
    r"api[_-]?key|secret|passw(?:or)?d|authori[sz]ation|credential|private[_-]?key|cookie|token$", re.IGNORECASE
)
_MODEL_NAME_KEYS = ("model_name", "model", "deployment_name", "model_id")
_MAX_TOKENS_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens", "num_predict")
# OpenAI-style usage names -> LangChain's usage_metadata names, so every provider reads the same.
_USAGE_NAMES = {"prompt_tokens": "input_tokens", "completion_tokens": "output_tokens"}
_ERROR_MESSAGE_LIMIT = 2000
_SECRET_TYPES = (SecretStr, SecretBytes)
_SCALARS = frozenset({str, int, float, bool, type(None)})


@functools.lru_cache(maxsize=4096)
def names_secret(key: str) -> bool:
    """Whether a key (or a URL's query parameter) names a secret; cached, since the same few keys come back."""
    return _SECRET_KEY.search(key) is not None


def _keeps(key: Any, item: Any) -> bool:
    return not (type(key) is str and names_secret(key)) and not isinstance(item, _SECRET_TYPES)


def drop_secrets(value: Any, depth: int = 0) -> Any:
    """A copy without entries whose key names a secret and without pydantic secret values, at any depth (values
    deeper than ``MAX_DEPTH``, or a value that holds itself, are cut)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth >= MAX_DEPTH:
        return json_safe(value, MAX_DEPTH)
    if kind is dict:
        return {
            key: item if type(item) in _SCALARS else drop_secrets(item, depth + 1)
            for key, item in value.items()
            if _keeps(key, item)
        }
    if kind is list or kind is tuple:
        return [drop_secrets(item, depth + 1) for item in value if not isinstance(item, _SECRET_TYPES)]
    if isinstance(value, Mapping):
        try:
            return drop_secrets(dict(value), depth)
        except Exception:  # a mapping that fails while being read is kept as its text
            return text_of(value)
    return value


def pick_model_name(
    metadata: Mapping[str, Any] | None,
    invocation_params: Mapping[str, Any] | None,
    llm_output: Mapping[str, Any] | None = None,
) -> str | None:
    """The model's name: LangChain's ``ls_model_name``, then the invocation params, then the provider's output."""
    if metadata and metadata.get("ls_model_name"):
        return text_of(metadata["ls_model_name"])
    for source in (invocation_params, llm_output):
        for key in _MODEL_NAME_KEYS:
            if source and source.get(key):
                return text_of(source[key])
    return None


def _message(generation: Generation) -> Any:
    """A chat candidate's message; None for a plain one (asking pydantic for a missing attribute is slow)."""
    return generation.message if isinstance(generation, ChatGeneration) else None


def token_usage(generations: Sequence[Generation], llm_output: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Token counts: the message's ``usage_metadata`` when the model gives it, else the provider's ``llm_output``.

    With several candidates LangChain repeats the call's usage on each message, so the first one found is the call's.
    """
    for generation in generations:
        usage = getattr(_message(generation), "usage_metadata", None)
        if usage:
            return {key: value for key, value in dict(usage).items() if value not in (None, {})}
    raw = (llm_output or {}).get("token_usage") or (llm_output or {}).get("usage")
    if not isinstance(raw, Mapping) or not raw:
        return None
    return {_USAGE_NAMES.get(str(key), str(key)): value for key, value in raw.items() if value not in (None, {})}


def finish_reasons(generations: Sequence[Generation]) -> list[str | None]:
    """Why each candidate stopped (``stop``, ``length``, ``tool_calls``...), as the provider said."""
    reasons = []
    for generation in generations:
        info = generation.generation_info or {}
        response_metadata = getattr(_message(generation), "response_metadata", None) or {}
        reason = info.get("finish_reason") or response_metadata.get("finish_reason")
        reasons.append(text_of(reason) if reason is not None else None)
    return reasons


def _max_tokens(metadata: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    if metadata.get("ls_max_tokens") is not None:
        return metadata["ls_max_tokens"]
    return next((params[key] for key in _MAX_TOKENS_KEYS if params.get(key) is not None), None)


def error_facts(error: BaseException) -> dict[str, str]:
    """What failed, for ``meta``: the exception's type and its message (cut short)."""
    return {"type": type(error).__name__, "message": text_of(error)[:_ERROR_MESSAGE_LIMIT]}


def milliseconds(seconds: float) -> float:
    """A duration in milliseconds, to a tenth."""
    return round(seconds * 1000, 1)


def run_meta(
    *,
    run_id: UUID,
    parent_run_id: UUID | None,
    root_run_id: UUID | None,
    tags: Sequence[str],
    metadata: Mapping[str, Any],
    invocation_params: Mapping[str, Any],
    started: float,
    ended: float,
    first_token: float | None,
    generations: Sequence[Generation] = (),
    llm_output: Mapping[str, Any] | None = None,
    error: BaseException | None = None,
) -> dict[str, Any]:
    """The ``meta`` of a run's task, free of secrets; times are ``time.time()`` seconds."""
    params = drop_secrets(dict(invocation_params))
    user_metadata = {
        key: value for key, value in metadata.items() if not text_of(key).startswith("ls_") and key != "lc_versions"
    }
    meta: dict[str, Any] = {
        "run_id": str(run_id),
        "parent_run_id": str(parent_run_id) if parent_run_id else None,
        "root_run_id": str(root_run_id or run_id),
        "started_at": datetime.fromtimestamp(started, tz=timezone.utc).isoformat(timespec="milliseconds"),
        "latency_ms": milliseconds(ended - started),
        "streamed": first_token is not None,
        "provider": metadata.get("ls_provider") or (llm_output or {}).get("model_provider"),
        "model_type": metadata.get("ls_model_type"),
        "temperature": metadata.get("ls_temperature", params.get("temperature")),
        "max_tokens": _max_tokens(metadata, params),
        "invocation_params": params,
        "usage": token_usage(generations, llm_output),
        "finish_reasons": finish_reasons(generations) or None,
        "tags": list(tags),
        "metadata": drop_secrets(user_metadata),
    }
    if first_token is not None:
        meta["time_to_first_token_ms"] = milliseconds(first_token - started)
    if error is not None:
        meta["error"] = error_facts(error)
    # Made JSON-safe when the record is written (RunRecord.to_json): one walk over the values instead of two.
    return {key: value for key, value in meta.items() if value is not None}
