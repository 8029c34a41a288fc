"""The handler against the real Label Studio: the guide's three usages, projects, auth, and the community
handler's defects, each checked by reading the tasks back from the server."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LLM
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI, OpenAI

from ls_langchain import LabelingConfigError, LabelStudioCallbackHandler, LabelStudioMode, ProjectNotFoundError
from ls_langchain.localstudio import LocalStudio, free_port

from fake_openai import FakeOpenAI

MakeHandler = Callable[..., LabelStudioCallbackHandler]

GUIDE_CUSTOM_CONFIG = """
<View>
<Text name="prompt" value="$prompt"/>
<TextArea name="response" toName="prompt"/>
<TextArea name="user_feedback" toName="prompt"/>
<Rating name="rating" toName="prompt"/>
<Choices name="sentiment" toName="prompt">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
</Choices>
</View>
"""


@pytest.fixture
def make_handler(studio: LocalStudio, pat: str, tmp_path: Path) -> Iterator[MakeHandler]:
    """Handlers on the session's server with an outbox of the test's own; closed at the end."""
    made: list[LabelStudioCallbackHandler] = []

    def make(**kwargs: Any) -> LabelStudioCallbackHandler:
        kwargs.setdefault("api_key", pat)
        kwargs.setdefault("url", studio.url)
        kwargs.setdefault("outbox_dir", tmp_path / "outbox")
        kwargs.setdefault("flush_interval", 0.05)
        handler = LabelStudioCallbackHandler(**kwargs)
        made.append(handler)
        return handler

    yield make
    for handler in made:
        handler.close(timeout=10)


def tasks_of(ls: LabelStudio, project_id: int | None) -> list[dict[str, Any]]:
    assert project_id is not None
    return [task.model_dump(mode="json") for task in ls.tasks.list(project=project_id, fields="all")]


def response_texts(task: dict[str, Any]) -> list[list[str]]:
    return [p["result"][0]["value"]["text"] for p in task["predictions"]]


class FailingLLM(LLM):
    """Test double: an LLM whose every call fails."""

    @property
    def _llm_type(self) -> str:
        return "failing"

    def _call(
        self, prompt: str, stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **_: Any
    ) -> str:
        raise RuntimeError("provider down")


@pytest.mark.engines
def test_guide_prompt_usage(make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str) -> None:
    handler = make_handler(project_name=title)
    llm = OpenAI(temperature=0, base_url=fake_openai.base_url, api_key="sk-secret-openai", callbacks=[handler])
    answer = llm.invoke("Tell me a joke")
    assert handler.flush(timeout=30)

    project = ls.projects.get(id=handler.project_id)
    assert project.title == title
    assert '<Text name="prompt" value="$prompt"/>' in project.label_config
    [task] = tasks_of(ls, handler.project_id)
    assert task["data"] == {"prompt": "Tell me a joke", "context": []}
    assert response_texts(task) == [[answer]]
    [prediction] = task["predictions"]
    assert prediction["result"][0]["from_name"] == "response" and prediction["result"][0]["to_name"] == "prompt"
    assert prediction["model_version"] == "gpt-3.5-turbo-instruct" == task["meta"]["model_name"]
    assert uuid.UUID(task["meta"]["run_id"])
    assert "sk-secret-openai" not in json.dumps(task)


@pytest.mark.engines
def test_guide_chat_usage(make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str) -> None:
    handler = make_handler(mode="chat", project_name=title)
    chat = ChatOpenAI(model="gpt-4o-mini", base_url=fake_openai.base_url, api_key="sk-test", callbacks=[handler])
    answer = chat.invoke([SystemMessage(content="Always use a lot of emojis"), HumanMessage(content="Tell me a joke")])
    assert handler.flush(timeout=30)

    project = ls.projects.get(id=handler.project_id)
    assert 'layout="dialogue"' in project.label_config
    [task] = tasks_of(ls, handler.project_id)
    assert task["data"] == {
        "prompt": [
            {"role": "system", "content": "Always use a lot of emojis"},
            {"role": "user", "content": "Tell me a joke"},
        ],
        "context": [],
    }
    assert response_texts(task) == [[answer.content]]
    assert task["predictions"][0]["result"][0]["to_name"] == "dialogue"
    assert task["predictions"][0]["model_version"] == "gpt-4o-mini"


def test_guide_custom_config(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(project_name=title, project_config=GUIDE_CUSTOM_CONFIG)
    FakeListLLM(responses=["Because."], callbacks=[handler]).invoke("Why?")
    assert handler.flush(timeout=30)

    assert 'name="user_feedback"' in ls.projects.get(id=handler.project_id).label_config
    [task] = tasks_of(ls, handler.project_id)
    assert task["data"] == {"prompt": "Why?"}
    assert task["predictions"][0]["result"][0]["from_name"] == "response"
    assert task["predictions"][0]["model_version"] == "FakeListLLM"


def test_enum_mode_and_several_candidates(
    make_handler: MakeHandler, ls: LabelStudio, fake_openai: FakeOpenAI, title: str
) -> None:
    handler = make_handler(mode=LabelStudioMode.CHAT, project_name=title)
    chat = ChatOpenAI(model="gpt-4o-mini", n=2, base_url=fake_openai.base_url, api_key="sk-test", callbacks=[handler])
    chat.generate([[HumanMessage("Name a colour")]])
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert len(task["predictions"]) == 2


@pytest.mark.parametrize(
    ("config", "key", "expected"),
    [
        (
            '<View><Text name="t" value="$text"/><TextArea name="response" toName="t"/></View>',
            "text",
            "Hi there",
        ),
        (
            '<View><Paragraphs name="chat" value="$dialogue" layout="dialogue" textKey="content" nameKey="role"/>'
            '<TextArea name="answer" toName="chat"/></View>',
            "dialogue",
            [{"role": "user", "content": "Hi there"}],
        ),
    ],
)
def test_custom_config_variables(
    make_handler: MakeHandler, ls: LabelStudio, title: str, config: str, key: str, expected: Any
) -> None:
    handler = make_handler(project_name=title, project_config=config)
    FakeListLLM(responses=["Hello"], callbacks=[handler]).invoke("Hi there")
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert task["data"] == {key: expected}
    assert response_texts(task) == [["Hello"]]


@pytest.mark.engines
def test_batch_of_prompts_makes_one_task_per_prompt(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(project_name=title)
    FakeListLLM(responses=["1", "2", "3"], callbacks=[handler]).generate(["a", "b", "c"])
    assert handler.flush(timeout=30)
    tasks = tasks_of(ls, handler.project_id)
    assert sorted(t["data"]["prompt"] for t in tasks) == ["a", "b", "c"]


def test_existing_project_by_id_and_environment(
    make_handler: MakeHandler, ls: LabelStudio, title: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = ls.projects.create(title=title, label_config=GUIDE_CUSTOM_CONFIG)
    by_argument = make_handler(project_id=project.id, project_name="ignored name")
    monkeypatch.setenv("LABEL_STUDIO_PROJECT_ID", str(project.id))
    by_environment = make_handler()
    FakeListLLM(responses=["x"], callbacks=[by_argument]).invoke("first")
    FakeListLLM(responses=["x"], callbacks=[by_environment]).invoke("second")
    assert by_argument.flush(timeout=30) and by_environment.flush(timeout=30)
    assert sorted(t["data"]["prompt"] for t in tasks_of(ls, project.id)) == ["first", "second"]
    assert by_argument.project_id == by_environment.project_id == project.id


def test_one_run_seen_by_two_handlers_of_one_project_is_one_task(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    first, second = make_handler(project_name=title), make_handler(project_name=title)
    FakeListLLM(responses=["x"], callbacks=[first, second]).invoke("p")
    assert first.flush(timeout=30) and second.flush(timeout=30)
    assert len(tasks_of(ls, first.project_id)) == 1


def test_unknown_project_id_is_a_clear_error(make_handler: MakeHandler) -> None:
    with pytest.raises(ProjectNotFoundError, match="no project with id 999999"):
        make_handler(project_id=999999)


def test_title_is_matched_exactly_not_as_substring(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    longer = ls.projects.create(title=f"{title}-Test", label_config=GUIDE_CUSTOM_CONFIG)
    upper = ls.projects.create(title=title.upper(), label_config=GUIDE_CUSTOM_CONFIG)
    handler = make_handler(project_name=title)
    assert handler.project is not None
    assert handler.project.id not in (longer.id, upper.id)
    assert handler.project.title == title
    again = make_handler(project_name=title)
    assert again.project_id == handler.project_id


def test_reused_project_without_textarea_names_what_is_missing(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    ls.projects.create(
        title=title, label_config='<View><Text name="t" value="$text"/><Rating name="r" toName="t"/></View>'
    )
    with pytest.raises(LabelingConfigError, match=rf"{title!r}.*no <TextArea>"):
        make_handler(project_name=title)


def test_reused_project_with_a_one_line_response_is_warned_about(
    make_handler: MakeHandler, ls: LabelStudio, title: str, caplog: pytest.LogCaptureFixture
) -> None:
    project = ls.projects.create(
        title=title, label_config='<View><Text name="t" value="$text"/><TextArea name="response" toName="t"/></View>'
    )
    with caplog.at_level(logging.WARNING, logger="ls_langchain"):
        make_handler(project_name=title)
    (warning,) = [r.getMessage() for r in caplog.records if "line breaks" in r.getMessage()]
    assert f"Project {project.id} ({title!r})" in warning and 'rows="4"' in warning


def test_chat_model_in_prompt_mode_logs_readable_text(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(mode="prompt", project_name=title)
    FakeListChatModel(responses=["Sure"], callbacks=[handler]).invoke([SystemMessage("Be nice"), HumanMessage("Hi")])
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert task["data"] == {"prompt": "System: Be nice\n\nUser: Hi", "context": []}
    assert response_texts(task) == [["Sure"]]


def test_plain_llm_in_chat_mode_logs_a_one_message_dialogue(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    FakeListLLM(responses=["Sure"], callbacks=[handler]).invoke("Hi")
    assert handler.flush(timeout=30)
    [task] = tasks_of(ls, handler.project_id)
    assert task["data"] == {"prompt": [{"role": "user", "content": "Hi"}], "context": []}


def test_failed_calls_leave_no_state_and_no_task(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(project_name=title)
    failing = FailingLLM(callbacks=[handler])
    for _ in range(50):
        with pytest.raises(RuntimeError, match="provider down"):
            failing.invoke("p")
    FakeListLLM(responses=["ok"], callbacks=[handler]).batch(["a", "b"])
    assert handler._runs == {}
    assert handler.flush(timeout=30)
    assert sorted(t["data"]["prompt"] for t in tasks_of(ls, handler.project_id)) == ["a", "b"]


def test_legacy_token_works_when_enabled(
    make_handler: MakeHandler, ls: LabelStudio, legacy_tokens: str, title: str
) -> None:
    handler = make_handler(api_key=legacy_tokens, project_name=title)
    FakeListLLM(responses=["x"], callbacks=[handler]).invoke("p")
    assert handler.flush(timeout=30)
    assert len(tasks_of(ls, handler.project_id)) == 1


def test_personal_access_token_works_where_the_community_handler_fails(
    make_handler: MakeHandler, ls: LabelStudio, studio: LocalStudio, pat: str, title: str
) -> None:
    community = pytest.importorskip("langchain_community.callbacks.labelstudio_callback")
    with pytest.raises(Exception, match="401"):
        community.LabelStudioCallbackHandler(api_key=pat, url=studio.url, project_name=title)
    handler = make_handler(project_name=title)
    FakeListLLM(responses=["x"], callbacks=[handler]).invoke("p")
    assert handler.flush(timeout=30)
    assert len(tasks_of(ls, handler.project_id)) == 1


def test_community_handler_labels_roles_with_class_names_ours_does_not(
    make_handler: MakeHandler, ls: LabelStudio, studio: LocalStudio, legacy_tokens: str, title: str
) -> None:
    community = pytest.importorskip("langchain_community.callbacks.labelstudio_callback")
    theirs = community.LabelStudioCallbackHandler(
        api_key=legacy_tokens, url=studio.url, mode="chat", project_name=f"{title}-community"
    )
    ours = make_handler(mode="chat", project_name=title)
    FakeListChatModel(responses=["a", "b"], callbacks=[theirs, ours]).invoke([HumanMessage("Hi")])
    assert ours.flush(timeout=30)
    [their_task] = tasks_of(ls, theirs.project_id)
    [our_task] = tasks_of(ls, ours.project_id)
    assert their_task["data"]["prompt"][0]["role"] == "HumanMessage"
    assert our_task["data"]["prompt"][0]["role"] == "user"


def test_default_url_when_none_is_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: Any) -> None:
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_PROJECT_ID", raising=False)
    community = pytest.importorskip("langchain_community.callbacks.labelstudio_callback")
    with pytest.raises(Exception):  # noqa: B017 - the community handler fails in a variety of ways without a URL
        community.LabelStudioCallbackHandler(api_key="k")
    handler = LabelStudioCallbackHandler(api_key="k", outbox_dir=tmp_path)
    assert handler.url == "http://localhost:8080"
    handler.close(timeout=0)


def test_wrong_key_is_reported_in_one_line_and_the_chain_goes_on(
    make_handler: MakeHandler, studio: LocalStudio, title: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="ls_langchain")
    handler = make_handler(api_key="not-a-valid-key-0001", project_name=title)
    assert FakeListLLM(responses=["still works"], callbacks=[handler]).invoke("p") == "still works"
    [record] = [r for r in caplog.records if r.name == "ls_langchain"]
    message = record.getMessage()
    assert studio.url in message and "401" in message and "LABEL_STUDIO_API_KEY" in message
    assert "not-a-valid-key-0001" not in message and record.exc_info is None
    assert handler._delivery.pending() == 1


def test_unreachable_server_is_reported_in_one_line_and_the_chain_goes_on(
    make_handler: MakeHandler, title: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="ls_langchain")
    url = f"http://127.0.0.1:{free_port()}"
    handler = make_handler(url=url, project_name=title)
    assert FakeListLLM(responses=["ok"], callbacks=[handler]).invoke("p") == "ok"
    [record] = [r for r in caplog.records if r.name == "ls_langchain"]
    assert f"Cannot reach Label Studio at {url}" in record.getMessage() and record.exc_info is None
