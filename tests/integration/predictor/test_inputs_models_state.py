"""Fetching task media, choosing the chat model, the shared per-project state, and the package's own handler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from label_studio_sdk import LabelStudio
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_openai import AzureChatOpenAI, ChatOpenAI

from ls_langchain.errors import ConfigurationError, TaskInputError
from ls_langchain.localstudio import LocalStudio
from ls_langchain.predictor import LLMInteractive, Settings
from ls_langchain.predictor.inputs import MediaLoader, render_dialogue
from ls_langchain.predictor.layout import read_layout
from ls_langchain.predictor.models import build_chat_model
from ls_langchain.predictor.server import create_app
from ls_langchain.predictor.state import SQLiteState

from fake_openai import FakeOpenAI
from seed_configs import IMAGE_SUMMARIZATION, PROMPT_ENGINEERING
from serving import media_server

PNG = b"\x89PNG\r\n\x1a\n fake image bytes"
METADATA = "http://169.254.169.254/latest/meta-data/"
IMAGE = read_layout(IMAGE_SUMMARIZATION, "prompt").source
TEXT_URL_CONFIG = """<View><Text name="text" value="$doc" valueType="url"/>
<TextArea name="prompt" toName="text"/><TextArea name="response" toName="text"/></View>"""


# The media host below is on 127.0.0.1, which the backend fetches from only with ALLOW_PRIVATE_URLS=true.
LOCAL_MEDIA = Settings(allow_private_urls=True)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 with an image, a text document and redirects; yields its URL."""
    (tmp_path / "receipt.png").write_bytes(PNG)
    (tmp_path / "doc.txt").write_text("A document fetched by URL.", encoding="utf-8")
    with media_server(tmp_path) as url:
        yield url


def test_paragraphs_read_as_speaker_lines() -> None:
    items = [{"author": "Ann", "text": "Hi"}, {"author": "Bob", "text": "Hello"}]
    assert render_dialogue(items) == "Ann: Hi\nBob: Hello"
    assert render_dialogue([{"role": "user", "content": "Q"}], name_key="role", text_key="content") == "user: Q"


async def test_an_image_is_inlined_as_base64_with_its_type(web: str) -> None:
    block = await MediaLoader(LOCAL_MEDIA).image_block(IMAGE, {"image": f"{web}/receipt.png"})
    assert block is not None
    assert block["type"] == "image"
    assert block["mime_type"] == "image/png"
    assert block["base64"] == "iVBORw0KGgogZmFrZSBpbWFnZSBieXRlcw=="


async def test_an_image_url_can_be_passed_on_unchanged(web: str) -> None:
    block = await MediaLoader(Settings(inline_images=False)).image_block(IMAGE, {"image": f"{web}/receipt.png"})
    assert block == {"type": "image", "url": f"{web}/receipt.png"}


async def test_a_redirect_to_the_metadata_address_is_refused(web: str) -> None:
    with pytest.raises(TaskInputError, match="link-local or cloud-metadata"):
        await MediaLoader(LOCAL_MEDIA).image_block(IMAGE, {"image": f"{web}/redirect?to={METADATA}"})


async def test_an_image_over_the_size_limit_is_refused(web: str) -> None:
    with pytest.raises(TaskInputError, match="larger than MAX_IMAGE_BYTES=8"):
        loader = MediaLoader(Settings(max_image_bytes=8, allow_private_urls=True))
        await loader.image_block(IMAGE, {"image": f"{web}/receipt.png"})


async def test_a_studio_file_without_studio_credentials_says_what_to_set() -> None:
    with pytest.raises(TaskInputError, match="set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY"):
        await MediaLoader(Settings()).image_block(IMAGE, {"image": "/data/upload/1/receipt.png"})


def _chat(fake_openai: FakeOpenAI) -> ChatOpenAI:
    """The real ChatOpenAI aimed at FakeOpenAI (test double)."""
    return ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url, max_retries=0)


def _upload(studio: LocalStudio, ls: LabelStudio, title: str) -> str:
    """A PNG uploaded into a new project, as Label Studio stores it; returns the task's ``/data/upload/...`` path."""
    project = ls.projects.create(title=title, label_config=IMAGE_SUMMARIZATION)
    headers = ls._client_wrapper.get_headers()
    files = {"file": ("receipt.png", PNG, "image/png")}
    httpx.post(
        f"{studio.url}/api/projects/{project.id}/import", headers=headers, files=files, timeout=60
    ).raise_for_status()
    [task] = ls.tasks.list(project=project.id)
    path = str(task.data["image"])
    assert path.startswith("/data/upload/")
    return path


async def test_a_studio_file_is_read_with_the_api_key(
    studio: LocalStudio, pat: str, ls: LabelStudio, title: str
) -> None:
    """An uploaded file is read with the key, by its path and by its full URL; a wrong key is refused."""
    path = _upload(studio, ls, title)
    loader = MediaLoader(Settings(label_studio_url=studio.url, label_studio_api_key=pat))
    for url in (path, f"{studio.url}{path}"):
        body, content_type = await loader._fetch(url)
        assert (body, content_type) == (PNG, "image/png")
    refused = MediaLoader(Settings(label_studio_url=studio.url, label_studio_api_key="not-a-token"))
    with pytest.raises(TaskInputError, match="refused the API key"):
        await refused._fetch(path)


@pytest.mark.parametrize(
    "value",
    [
        "/api/current-user/token",
        "/api/projects/",
        "/api/users/",
        "{studio}/api/current-user/token",
        "/data/upload/../../api/current-user/token",
        "/data/upload/%2e%2e/%2e%2e/api/current-user/token",
        "//api/current-user/token",
        "/tasks/1/resolve/../../api/users/",
    ],
)
def test_task_data_cannot_read_label_studios_api_with_the_backends_key(
    studio: LocalStudio, pat: str, fake_openai: FakeOpenAI, tmp_path: Path, value: str
) -> None:
    """Through the running app: a <Text valueType="url"> task naming an API path of Label Studio is refused in one
    line, and the token never reaches the model or the answer. The LLM is FakeOpenAI (test double)."""
    settings = Settings(label_studio_url=studio.url, label_studio_api_key=pat, model_dir=str(tmp_path))
    client = TestClient(create_app(settings, chat_model_factory=lambda _: _chat(fake_openai)))
    prompt = {"from_name": "prompt", "to_name": "text", "type": "textarea", "value": {"text": ["Repeat it"]}}
    body = {
        "tasks": [{"id": 1, "data": {"doc": value.format(studio=studio.url)}}],
        "label_config": TEXT_URL_CONFIG,
        "params": {"context": {"result": [prompt]}},
    }
    answer = client.post("/predict", json=body)
    assert answer.status_code == 422, answer.text
    assert "only its file routes" in answer.json()["error"]
    assert "\n" not in answer.json()["error"]
    assert pat not in answer.text
    assert fake_openai.requests == []


def test_a_text_object_with_value_type_url_is_fetched(web: str, fake_openai: FakeOpenAI) -> None:
    """The LLM is FakeOpenAI (test double) behind the real ChatOpenAI."""
    model = ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url)
    settings = Settings(default_prompt="Read", allow_private_urls=True)  # the document is on 127.0.0.1
    backend = LLMInteractive(TEXT_URL_CONFIG, model, base_settings=settings)
    [prediction] = backend.predict([{"data": {"doc": f"{web}/doc.txt"}}])
    assert "error" not in prediction
    sent = fake_openai.requests[-1].json["messages"][0]["content"]
    assert sent == "Source Text: A document fetched by URL.\n\nTask Directive: Read"


# models


def test_each_provider_builds_its_langchain_class() -> None:
    openai = build_chat_model(Settings(openai_api_key="sk-x"))
    assert isinstance(openai, ChatOpenAI) and openai.model_name == "gpt-3.5-turbo"
    azure = build_chat_model(
        Settings(
            openai_provider="azure",
            openai_api_key="sk-x",
            azure_resource_endpoint="https://example.openai.azure.com/",
            azure_deployment_name="gpt4",
        )
    )
    assert isinstance(azure, AzureChatOpenAI) and azure.deployment_name == "gpt4"
    ollama = build_chat_model(
        Settings(openai_provider="ollama", ollama_endpoint="http://h:11434/v1", openai_model="l3")
    )
    assert isinstance(ollama, ChatOpenAI) and str(ollama.openai_api_base) == "http://h:11434/v1"


def test_ollama_needs_its_endpoint_and_model() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_PROVIDER=ollama needs OLLAMA_ENDPOINT, OPENAI_MODEL"):
        build_chat_model(Settings(openai_provider="ollama"))


def test_a_provider_whose_package_is_missing_is_named() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_PROVIDER=anthropic:claude-x needs a package"):
        build_chat_model(Settings(openai_provider="anthropic:claude-x"))


def test_any_provider_model_spec_goes_through_init_chat_model(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LLM is FakeOpenAI (test double), reached by the provider's own environment variables."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-spec")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    backend = LLMInteractive(
        PROMPT_ENGINEERING, base_settings=Settings(openai_provider="openai:gpt-4o-mini", default_prompt="Go")
    )
    [prediction] = backend.predict([{"data": {"text": "t"}}])
    assert "error" not in prediction
    assert fake_openai.requests[-1].json["model"] == "gpt-4o-mini"


# state shared by several workers


def test_two_workers_share_the_project_state(tmp_path: Path) -> None:
    first, second = SQLiteState(tmp_path), SQLiteState(tmp_path)
    first.save_setup("3", {"TEMPERATURE": 0.1}, "<View/>")
    second.save_prompt("3", "Summarize")
    record = first.get("3")
    assert (record.prompt, record.extra_params, record.label_config) == ("Summarize", {"TEMPERATURE": 0.1}, "<View/>")
    first.add_version("3", "llm-a")
    second.add_version("3", "llm-b")
    second.add_version("3", "llm-a")
    assert first.versions("3") == ["llm-a", "llm-b"]
    assert first.get("4").prompt is None
    assert (first.path.stat().st_mode & 0o777) == 0o600  # extra params may hold an API key


# the package's own callback handler never records the backend's calls


def test_the_backend_never_logs_its_calls_through_our_handler(
    studio_env: LocalStudio, ls: LabelStudio, title: str, tmp_path: Path
) -> None:
    """Test double: FakeListChatModel. The handler is the real one, logging into the real Label Studio."""
    from langchain_core.runnables import RunnableLambda

    from ls_langchain import LabelStudioCallbackHandler

    handler = LabelStudioCallbackHandler(project_name=title, outbox_dir=tmp_path / "outbox")
    model = FakeListChatModel(responses=["answer"], callbacks=[handler])
    backend = LLMInteractive(PROMPT_ENGINEERING, model, base_settings=Settings(default_prompt="Go"))
    chain = RunnableLambda(lambda tasks: backend.predict(tasks))
    predictions = chain.invoke([{"data": {"text": "t"}}, {"data": {"text": "u"}}], config={"callbacks": [handler]})
    assert all("error" not in p for p in predictions)
    model.invoke("a call of the user's own")  # the control: this one is logged
    assert handler.flush(timeout=30)
    handler.close()
    assert handler.project_id is not None
    assert len(list(ls.tasks.list(project=handler.project_id))) == 1
