"""Where the handler's time per LLM call goes: a cProfile of many calls, grouped by what the time is spent on.

A fake LLM answers at once (``FakeListLLM``, and ``FakeMessagesListChatModel`` with tool calls and metadata for the
chat case); the handler logs into a local Label Studio. Only the call's thread is profiled (the worker thread that
sends batches runs apart). Time is attributed to the innermost function of ours or of the standard library that
runs it, so the durable write (sqlite3), building the record, and LangChain's own dispatch show apart.

    .venv/bin/python bench/handler_profile.py --calls 3000
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
from collections import Counter

from _common import local_studio, table
from langchain_core.language_models.fake import FakeListLLM

from ls_langchain import LabelStudioCallbackHandler

# Where a function lives, by the file its code is in: the order matters (the first match wins).
_GROUPS = (
    ("sqlite3", "durable write: SQLite (sqlite3)"),
    ("ls_langchain/delivery", "outbox and worker hand-off (delivery/)"),
    ("ls_langchain/handler", "hooks and per-run state (handler.py)"),
    ("ls_langchain/runmeta", "meta: model, params without secrets (runmeta.py)"),
    ("ls_langchain/messages", "messages and generations (messages.py)"),
    ("ls_langchain/jsonsafe", "JSON safety (jsonsafe.py)"),
    ("ls_langchain/tasks", "the record and its JSON (tasks.py)"),
    ("ls_langchain", "other ls_langchain"),
    ("json/", "JSON encoding (json)"),
    ("langchain_core/callbacks", "LangChain's dispatch (callbacks)"),
    ("langchain_core", "LangChain's model call itself"),
)


def _group(filename: str, function: str) -> str:
    """The group of one profiled function; built-ins (file ``~``) are told apart by their name."""
    where = function if filename == "~" else filename
    for marker, name in _GROUPS:
        if marker in where:
            return name
    return "other (stdlib, uuid, time, ...)"


def _profile(llm: FakeListLLM, calls: int) -> Counter[str]:
    """Seconds of own time per group over ``calls`` calls."""
    profile = cProfile.Profile()
    profile.enable()
    for index in range(calls):
        llm.invoke(f"prompt {index}")
    profile.disable()
    spent: Counter[str] = Counter()
    for (filename, _, function), (_, _, own, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        spent[_group(filename, function)] += own
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    with local_studio() as studio, tempfile.TemporaryDirectory() as outbox:
        handler = LabelStudioCallbackHandler(
            api_key=studio.personal_token(), url=studio.url, project_name="bench-profile", outbox_dir=outbox
        )
        llm = FakeListLLM(responses=["a fine answer"], callbacks=[handler])
        bare = FakeListLLM(responses=["a fine answer"])
        for index in range(200):
            llm.invoke(f"warm-up {index}")
        without = _profile(bare, args.calls)
        spent = _profile(llm, args.calls)
        handler.close(timeout=120)
    added = {name: spent[name] - without[name] for name in spent}
    total = sum(seconds for seconds in added.values() if seconds > 0)
    rows = [
        (name, f"{seconds / args.calls * 1e6:.1f}", f"{seconds / total:.0%}")
        for name, seconds in sorted(added.items(), key=lambda item: -item[1])
        if seconds / args.calls > 0.5e-6
    ]
    print(f"### Added per LLM call by the handler: {args.calls} calls with and without, under cProfile\n")
    print(table(("where", "us added per call (profiled, ~2x slower)", "share"), rows))


if __name__ == "__main__":
    main()
