"""A run with unusual content is stored whole: nothing the user's chain holds may lose the run.

The handler points at a closed loopback port, so its runs wait in the outbox, where the test reads them back.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from langchain_core.language_models.fake import FakeListLLM

from ls_langchain import LabelStudioCallbackHandler
from ls_langchain.delivery import Outbox
from ls_langchain.labeling import LabelStudioMode, default_config, read_layout
from ls_langchain.tasks import RunRecord, build_task


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": True}
    for _ in range(depth):
        value = {"inner": value}
    return value


def test_runs_with_unusual_content_are_all_stored_and_can_be_sent(tmp_path: Path) -> None:
    handler = LabelStudioCallbackHandler(
        api_key="a-key", url="http://127.0.0.1:9", project_name="unusual", outbox_dir=tmp_path, flush_interval=3600
    )
    llm = FakeListLLM(responses=["ok"], callbacks=[handler])
    llm.invoke("a lone surrogate: \ud800 here")
    llm.invoke("deep metadata", config={"metadata": {"deep": nested(600)}})
    llm.invoke("a value without text", config={"metadata": {"odd": Unprintable()}})
    handler.close(timeout=0)
    outbox, target = Outbox(tmp_path), handler._delivery.target  # type: ignore[union-attr]
    items = sorted(outbox.claimed(target) + outbox.claim(target, 10), key=lambda item: item.seq)
    records = [RunRecord.from_json(item.body) for item in items]
    assert [r.prompt for r in records] == ["a lone surrogate: \ufffd here", "deep metadata", "a value without text"]
    layout = read_layout(default_config(LabelStudioMode.PROMPT))
    for record in records:  # each makes a task that the import's JSON encoding accepts
        json.dumps(build_task(record, layout), ensure_ascii=False).encode()
    assert "nested deeper than" in json.dumps(records[1].meta)
    assert "Unprintable object" in records[2].meta["metadata"]["odd"]


def test_a_call_does_not_wait_for_a_locked_outbox_and_its_run_is_kept(tmp_path: Path) -> None:
    handler = LabelStudioCallbackHandler(
        api_key="a-key", url="http://127.0.0.1:9", project_name="locked", outbox_dir=tmp_path, flush_interval=3600
    )
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    started = time.monotonic()
    FakeListLLM(responses=["ok"], callbacks=[handler]).invoke("while locked")
    assert time.monotonic() - started < 5  # before: SQLite's 30 s busy timeout, then the run was lost
    other.execute("COMMIT")
    handler.close(timeout=0)
    outbox, target = Outbox(tmp_path), handler._delivery.target  # type: ignore[union-attr]
    items = outbox.claimed(target) + outbox.claim(target, 10)
    assert [RunRecord.from_json(item.body).prompt for item in items] == ["while locked"]
