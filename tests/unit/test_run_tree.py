"""The run tree without a server: every LangChain callback that starts a run is one the handler follows, so no run
type can hide a model call's root run; the others (agent actions, custom events, text, retries) start none."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from ls_langchain import LabelStudioCallbackHandler

# The hooks that open a run and the ones that close it, by run type.
RUN_HOOKS = {
    "chain": ("on_chain_start", "on_chain_end", "on_chain_error"),
    "tool": ("on_tool_start", "on_tool_end", "on_tool_error"),
    "retriever": ("on_retriever_start", "on_retriever_end", "on_retriever_error"),
    "llm": ("on_llm_start", "on_llm_end", "on_llm_error"),
    "chat_model": ("on_chat_model_start", "on_llm_end", "on_llm_error"),
}


def test_every_hook_that_starts_a_run_is_followed() -> None:
    """A LangChain release that adds a run type fails here first: its runs would cut model calls off their root."""
    starts = {name for name, _ in inspect.getmembers(BaseCallbackHandler) if _starts_a_run(name)}
    assert starts == {hooks[0] for hooks in RUN_HOOKS.values()}
    for hooks in RUN_HOOKS.values():
        for hook in hooks:
            assert getattr(LabelStudioCallbackHandler, hook) is not getattr(BaseCallbackHandler, hook), hook


def _starts_a_run(name: str) -> bool:
    return name.startswith("on_") and name.endswith("_start")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LabelStudioCallbackHandler]:
    """A handler whose Label Studio is unreachable (nothing listens on port 9): hooks run, runs wait in the outbox."""
    monkeypatch.setenv("LS_LANGCHAIN_OUTBOX_DIR", str(tmp_path))
    handler = LabelStudioCallbackHandler(api_key="k", url="http://127.0.0.1:9", project_name="offline")
    yield handler
    handler.close(timeout=0)


def test_events_inside_runs_leave_the_tree_as_it_was(offline: LabelStudioCallbackHandler) -> None:
    root, retriever, model = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    offline.on_chain_start({}, {}, run_id=root)
    offline.on_retriever_start({}, "query", run_id=retriever, parent_run_id=root)
    for event in (
        lambda: offline.on_agent_action(object(), run_id=retriever, parent_run_id=root),
        lambda: offline.on_custom_event("progress", {"done": 1}, run_id=retriever),
        lambda: offline.on_text("hello", run_id=retriever, parent_run_id=root),
        lambda: offline.on_retry(object(), run_id=retriever, parent_run_id=root),
        lambda: offline.on_agent_finish(object(), run_id=root),
    ):
        event()
    assert offline._root(retriever) == root
    offline.on_llm_start({}, ["rewrite the query"], run_id=model, parent_run_id=retriever)
    assert offline._runs[model].root_run_id == root
    offline.on_retriever_end([], run_id=retriever)
    offline.on_chain_end({}, run_id=root)
    assert offline._parents == {} and offline._retrieving == {} and offline._retrieved == {}


def test_a_disabled_handler_is_not_called_for_any_run_type() -> None:
    handler = LabelStudioCallbackHandler(enabled=False)
    assert all(getattr(handler, f"ignore_{kind}") for kind in ("llm", "chat_model", "chain", "agent", "retriever"))
