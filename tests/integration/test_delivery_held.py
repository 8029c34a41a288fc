"""What cannot be delivered is held with its reason, never in a silent loop, and never holds up the rest: a record
this version cannot read, a refused key next to a good one, a deleted project, a config that no longer fits."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from langchain_core.language_models.fake import FakeListLLM

from ls_langchain import LabelStudioCallbackHandler
from ls_langchain.cli import main
from ls_langchain.labeling import LabelStudioMode, default_config
from ls_langchain.localstudio import LocalStudio
from ls_langchain.tasks import RunRecord


def handler_on(studio: LocalStudio, outbox: Path, **kwargs: Any) -> LabelStudioCallbackHandler:
    kwargs.setdefault("flush_interval", 0.05)
    kwargs.setdefault("api_key", studio.personal_token())
    return LabelStudioCallbackHandler(url=studio.url, outbox_dir=outbox, **kwargs)


def prompts(ls: LabelStudio, project_id: int | None) -> list[str]:
    assert project_id is not None
    return sorted(t.data["prompt"] for t in ls.tasks.list(project=project_id, fields="task_only", page_size=1000))


def status(outbox: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["outbox", "status", "--outbox-dir", str(outbox)]) == 0
    return capsys.readouterr().out


@pytest.fixture
def project(ls: LabelStudio, title: str) -> Iterator[int]:
    """A project made beforehand, logged into by id."""
    made = ls.projects.create(title=title, label_config=default_config(LabelStudioMode.PROMPT))
    assert made.id is not None
    yield made.id
    with contextlib.suppress(Exception):  # deleted by the test already
        ls.projects.delete(id=made.id)


def test_a_record_that_cannot_be_read_is_held_and_the_rest_go_out(
    studio: LocalStudio, ls: LabelStudio, tmp_path: Path, title: str, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = handler_on(studio, tmp_path, project_name=title, flush_interval=3600)
    llm = FakeListLLM(responses=["ok"], callbacks=[handler])
    llm.invoke("before")
    assert handler._delivery is not None
    # Written by another version: a field this one does not know, and a record without responses at all.
    handler._delivery.submit("newer", '{"v": 2, "run": {"id": "newer", "responses": ["a"], "prompt": "newer", "x": 1}}')
    handler._delivery.submit("broken", '{"v": 1, "run": {"id": "broken", "prompt": "broken"}}')
    llm.invoke("after")
    assert not handler.flush(timeout=30)
    assert prompts(ls, handler.project_id) == ["after", "before", "newer"]
    shown = status(tmp_path, capsys)
    assert "cannot read the record" in shown and "has no responses" in shown
    assert main(["outbox", "drop", "--project", title, "--outbox-dir", str(tmp_path)]) == 0
    assert "1: dropped by hand: this version of ls-langchain cannot read" in status(tmp_path, capsys)
    handler.close(timeout=0)


def test_a_second_handler_with_a_wrong_key_does_not_stall_a_good_one(
    studio: LocalStudio, pat: str, ls: LabelStudio, tmp_path: Path, title: str
) -> None:
    good = handler_on(studio, tmp_path, project_name=title)
    bad = handler_on(studio, tmp_path, project_name=title, api_key="wrong-key-0123456789")
    good_llm = FakeListLLM(responses=["ok"], callbacks=[good])
    bad_llm = FakeListLLM(responses=["ok"], callbacks=[bad])
    for index in range(5):
        good_llm.invoke(f"good-{index}")
        bad_llm.invoke(f"bad-{index}")
    assert good.flush(timeout=15)
    assert prompts(ls, good.project_id) == [f"good-{i}" for i in range(5)]  # none sent with the good key
    assert not bad.flush(timeout=1)
    bad.close(timeout=0)
    good.close(timeout=0)
    # Fixed by hand: the runs logged with the wrong key go out with the key given now.
    assert main(["outbox", "flush", "--outbox-dir", str(tmp_path), "--api-key", pat, "--timeout", "60"]) == 0
    assert prompts(ls, good.project_id) == sorted([f"good-{i}" for i in range(5)] + [f"bad-{i}" for i in range(5)])


def test_runs_for_a_deleted_project_are_held_then_redirected(
    studio: LocalStudio,
    pat: str,
    ls: LabelStudio,
    project: int,
    tmp_path: Path,
    title: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = handler_on(studio, tmp_path, project_id=project, flush_interval=3600)
    llm = FakeListLLM(responses=["ok"], callbacks=[handler])
    for index in range(5):
        llm.invoke(f"call-{index}")
    ls.projects.delete(id=project)
    started = time.monotonic()
    assert not handler.flush(timeout=15)
    assert time.monotonic() - started < 10  # said at once: waiting cannot help
    handler.close(timeout=0)
    shown = status(tmp_path, capsys)
    assert f"no project with id {project}" in shown and "outbox redirect" in shown
    other = ls.projects.create(title=f"{title}-new", label_config=default_config(LabelStudioMode.PROMPT))
    try:
        args = ["--project", str(project), "--to-project", str(other.id), "--outbox-dir", str(tmp_path)]
        assert main(["outbox", "redirect", *args]) == 0
        assert main(["outbox", "flush", "--outbox-dir", str(tmp_path), "--api-key", pat, "--timeout", "60"]) == 0
        assert prompts(ls, other.id) == [f"call-{i}" for i in range(5)]
    finally:
        ls.projects.delete(id=other.id)


def test_a_config_without_the_input_holds_runs_until_it_is_fixed(
    studio: LocalStudio, ls: LabelStudio, project: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = handler_on(studio, tmp_path, project_id=project)
    llm = FakeListLLM(responses=["ok"], callbacks=[handler])
    llm.invoke("first")
    assert handler.flush(timeout=30)
    ls.projects.update(id=project, label_config='<View><Image name="img" value="$image"/></View>')
    time.sleep(2.5)  # past the time the config read before is trusted
    llm.invoke("second")
    assert not handler.flush(timeout=10)
    assert "has no <Text>, <HyperText> or <Paragraphs> input" in status(tmp_path, capsys)
    ls.projects.update(id=project, label_config=default_config(LabelStudioMode.PROMPT))
    assert main(["outbox", "retry", "--project", str(project), "--outbox-dir", str(tmp_path)]) == 0
    assert handler.flush(timeout=30)
    assert prompts(ls, project) == ["first", "second"]
    handler.close(timeout=0)


def test_a_renamed_response_textarea_gets_the_predictions_under_its_new_name(
    studio: LocalStudio, ls: LabelStudio, project: int, tmp_path: Path
) -> None:
    handler = handler_on(studio, tmp_path, project_id=project)
    llm = FakeListLLM(responses=["ok"], callbacks=[handler])
    llm.invoke("first")
    assert handler.flush(timeout=30)
    renamed = default_config(LabelStudioMode.PROMPT).replace('TextArea name="response"', 'TextArea name="answer"')
    ls.projects.update(id=project, label_config=renamed)
    time.sleep(2.5)  # past the time the config read before is trusted
    llm.invoke("second")
    assert handler.flush(timeout=30)
    [task] = [t for t in ls.tasks.list(project=project, fields="all") if t.data["prompt"] == "second"]
    assert [result["from_name"] for result in task.predictions[0].result] == ["answer"]
    handler.close(timeout=0)


def test_an_unknown_field_no_longer_blocks_the_records_behind_it(
    studio: LocalStudio, ls: LabelStudio, tmp_path: Path, title: str
) -> None:
    handler = handler_on(studio, tmp_path, project_name=title, flush_interval=3600)
    assert handler._delivery is not None
    body = RunRecord(id="odd", responses=["a"], prompt="odd").to_json().replace('"meta"', '"new_field":1,"meta"')
    handler._delivery.submit("odd", body)
    FakeListLLM(responses=["ok"], callbacks=[handler]).invoke("healthy")
    assert handler.flush(timeout=30)
    assert prompts(ls, handler.project_id) == ["healthy", "odd"]
    handler.close(timeout=0)
