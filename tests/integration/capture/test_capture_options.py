"""The handler's options, checked through the real Label Studio: log_errors, sample_rate, mask, enabled."""

from __future__ import annotations

import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from ls_langchain import ConfigurationError, LabelStudioCallbackHandler
from ls_langchain.localstudio import LocalStudio

from fake_openai import FakeOpenAI
from test_handler import FailingLLM, MakeHandler, response_texts, tasks_of

EMAIL = re.compile(r"[\w.]+@[\w.]+")


def test_without_log_errors_a_failed_call_leaves_nothing(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    handler = make_handler(project_name=title)
    with pytest.raises(RuntimeError):
        FailingLLM(callbacks=[handler]).invoke("doomed")
    assert handler._runs == {}
    assert handler.flush(timeout=30)
    assert tasks_of(ls, handler.project_id) == []


def test_log_errors_makes_a_failed_call_a_task_that_says_what_failed(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title, log_errors=True)
    fake_openai.fail_next(400)
    model = ChatOpenAI(model="gpt-4o-mini", base_url=fake_openai.base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(Exception, match="400"):
        model.invoke([HumanMessage("Will this work?")], config={"callbacks": [handler]})
    assert handler._runs == {}
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    assert task["data"] == {"prompt": [{"role": "user", "content": "Will this work?"}], "context": []}
    assert task["predictions"] == []
    error = task["meta"]["error"]
    assert error["type"] == "OpenAIInvalidRequestError" and "injected failure: HTTP 400" in error["message"]
    assert task["meta"]["model_name"] == "gpt-4o-mini" and task["meta"]["latency_ms"] > 0


def test_log_errors_keeps_what_a_broken_stream_had_sent(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(mode="chat", project_name=title, log_errors=True)
    model = FakeListChatModel(responses=["hello there"], error_on_chunk_number=3, callbacks=[handler])
    with pytest.raises(Exception):  # noqa: B017 - FakeListChatModelError is not importable from a public module
        for _ in model.stream("Greet me"):
            pass
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    assert response_texts(task) == [["hel"]]
    assert task["meta"]["error"]["type"] == "FakeListChatModelError"
    assert task["meta"]["streamed"] is True


def run_ids(count: int) -> list[uuid.UUID]:
    return [uuid.uuid5(uuid.NAMESPACE_URL, f"run-{index}") for index in range(count)]


def logged_run_ids(ls: LabelStudio, handler: LabelStudioCallbackHandler) -> set[str]:
    assert handler.flush(timeout=30)
    return {task["meta"]["run_id"] for task in tasks_of(ls, handler.project_id)}


def test_sample_rate_logs_a_share_of_runs_decided_by_run_id(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    first = make_handler(project_name=f"{title}-a", sample_rate=0.5)
    second = make_handler(project_name=f"{title}-b", sample_rate=0.5)
    model = FakeListLLM(responses=["x"])
    ids = run_ids(120)
    for run_id in ids:
        model.invoke("p", config={"callbacks": [first, second], "run_id": run_id})
    logged = logged_run_ids(ls, first)
    assert 36 <= len(logged) <= 84  # half of 120, give or take; fixed ids make this exact run after run
    assert logged == logged_run_ids(ls, second)  # the same runs, whichever handler decides
    assert logged <= {str(run_id) for run_id in ids}


def test_sample_rate_zero_logs_nothing_and_keeps_no_state(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    handler = make_handler(project_name=title, sample_rate=0.0)
    FakeListLLM(responses=["x"], callbacks=[handler]).batch(["a", "b", "c"])
    assert handler._runs == {}
    assert logged_run_ids(ls, handler) == set()


def test_sample_rate_from_the_environment(
    make_handler: MakeHandler, ls: LabelStudio, title: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LS_LANGCHAIN_SAMPLE_RATE", "0")
    handler = make_handler(project_name=title)
    assert handler.sample_rate == 0.0
    monkeypatch.setenv("LS_LANGCHAIN_SAMPLE_RATE", "half")
    with pytest.raises(ConfigurationError, match="LS_LANGCHAIN_SAMPLE_RATE"):
        make_handler(project_name=title)


@pytest.mark.parametrize("rate", [-0.1, 1.5, "0.5", True])
def test_bad_sample_rate_is_one_readable_line(make_handler: MakeHandler, rate: Any) -> None:
    with pytest.raises(ConfigurationError, match="from 0 to 1") as caught:
        make_handler(sample_rate=rate)
    assert "\n" not in str(caught.value)


def test_mask_applies_to_prompt_response_and_meta(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(mode="chat", project_name=title, mask=lambda text: EMAIL.sub("<email>", text))
    model = FakeListChatModel(responses=["Sure, I wrote to bob@example.org"])
    model.invoke(
        [HumanMessage("Mail alice@example.com please")],
        config={"callbacks": [handler], "metadata": {"owner": "carol@example.net"}, "tags": ["dave@example.io"]},
    )
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    assert "@example" not in json.dumps(task)
    assert task["data"]["prompt"][0]["content"] == "Mail <email> please"
    assert response_texts(task) == [["Sure, I wrote to <email>"]]
    assert task["meta"]["metadata"] == {"owner": "<email>"} and "<email>" in task["meta"]["tags"]


def test_a_failing_mask_masks_values_fully(
    make_handler: MakeHandler, ls: LabelStudio, title: str, caplog: pytest.LogCaptureFixture
) -> None:
    def fragile(text: str) -> str:
        if "secret" in text:
            raise ValueError("cannot mask this")
        return text

    caplog.set_level(logging.WARNING, logger="ls_langchain")
    handler = make_handler(project_name=title, mask=fragile)
    FakeListLLM(responses=["the secret is 42"], callbacks=[handler]).invoke("what is the secret?")
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    assert task["data"] == {"prompt": "[masked]", "context": []}
    assert response_texts(task) == [["[masked]"]]
    assert task["meta"]["model_name"] == "FakeListLLM"  # values the mask handled stay as it made them
    [record] = [r for r in caplog.records if "mask failed" in r.getMessage()]
    assert "secret" not in record.getMessage()


def test_mask_must_be_callable(make_handler: MakeHandler) -> None:
    with pytest.raises(ConfigurationError, match="mask must be a function"):
        make_handler(mask="email")


def test_disabled_handler_needs_no_settings_and_logs_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LABEL_STUDIO_API_KEY", "LABEL_STUDIO_URL", "LABEL_STUDIO_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    handler = LabelStudioCallbackHandler(enabled=False, outbox_dir=tmp_path)
    assert FakeListLLM(responses=["still works"], callbacks=[handler]).invoke("p") == "still works"
    assert handler._runs == {} and handler.project is None and handler.project_id is None
    assert handler.flush(timeout=1) and handler.close(timeout=1)
    assert list(tmp_path.iterdir()) == []  # not even an outbox


def test_environment_switch_turns_logging_off(
    studio_env: LocalStudio, ls: LabelStudio, title: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LS_LANGCHAIN_ENABLED", "false")
    handler = LabelStudioCallbackHandler(project_name=title, outbox_dir=tmp_path)
    FakeListLLM(responses=["x"], callbacks=[handler]).invoke("p")
    assert not handler.enabled and handler.flush(timeout=5)
    assert [p for p in ls.projects.list() if p.title == title] == []
    # An explicit argument wins over the environment.
    on = LabelStudioCallbackHandler(project_name=title, outbox_dir=tmp_path, enabled=True)
    FakeListLLM(responses=["x"], callbacks=[on]).invoke("p")
    assert on.flush(timeout=30)
    assert len(tasks_of(ls, on.project_id)) == 1
    on.close(timeout=10)


def test_unrecognised_environment_switch_is_one_readable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LS_LANGCHAIN_ENABLED", "disable")
    with pytest.raises(ConfigurationError, match="LS_LANGCHAIN_ENABLED='disable'") as caught:
        LabelStudioCallbackHandler(api_key="k", url="http://127.0.0.1:9")
    assert "\n" not in str(caught.value)
