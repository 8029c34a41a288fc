"""End to end, with the real Label Studio as the client of ``ls-langchain serve``, for the four seed configs.

Label Studio validates the backend (``/health``, ``/setup``), asks for interactive predictions with a prompt in
the context, sends the webhook of a submitted annotation, and retrieves batch predictions. The LLM is
``FakeOpenAI`` (a local OpenAI-compatible HTTP server, a test double), reached through the real ``ChatOpenAI``,
``AzureChatOpenAI`` and Ollama base-URL code paths of the backend, including a vision request.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from ls_langchain.localstudio import LocalStudio

from fake_openai import FakeOpenAI, Reply
from seed_configs import DIALOGUE_SFT, IMAGE_SUMMARIZATION, PROMPT_ENGINEERING, TEXT_CLASSIFICATION
from serving import running_backend

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
PNG_URI_PREFIX = "data:image/png;base64," + base64.b64encode(PNG).decode()
OPENAI_KEY = "sk-e2e-openai-secret"
AZURE_KEY = "sk-e2e-azure-secret"


def first_allowed(spec: dict[str, Any]) -> Any:
    """The first value a property's schema allows: its first label, its minimum, or an empty list of spans."""
    spec = spec["anyOf"][0] if "anyOf" in spec else spec
    if spec.get("type") == "array":
        items = spec["items"]
        return [items["enum"][0]] if "enum" in items else []
    return spec["enum"][0] if "enum" in spec else spec.get("minimum", 0)


def structured_or_plain(request: dict[str, Any]) -> Reply:
    """The test double's answers: the first value each control allows, or a text naming the prompt."""
    messages = request["messages"]
    content = messages[-1]["content"]
    text = content if isinstance(content, str) else next(p["text"] for p in content if p["type"] == "text")
    answer = f"answer to: {text[-60:]}"
    schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema")
    if not schema:
        return Reply(content=answer)
    value: dict[str, Any] = {"answer": answer}
    for name, spec in schema["properties"].items():
        if name != "answer":
            value[name] = first_allowed(spec)
    return Reply.of_json(value)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    """One FakeOpenAI (test double) for the module, answering with ``structured_or_plain``."""
    with FakeOpenAI(responder=structured_or_plain) as server:
        yield server


@pytest.fixture(scope="module")
def image_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PNG served over real HTTP on 127.0.0.1, as a public image host would."""
    root = tmp_path_factory.mktemp("images")
    (root / "receipt.png").write_bytes(PNG)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/receipt.png"
    server.shutdown()


@pytest.fixture(scope="module")
def serve_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the backend subprocess writes its console output."""
    return tmp_path_factory.mktemp("serve") / "serve.log"


@pytest.fixture(scope="module")
def backend_env(
    studio: LocalStudio, pat: str, llm: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The environment of the backend: the provider=openai path aimed at the test double, Label Studio's files."""
    return {
        "MODEL_DIR": str(tmp_path_factory.mktemp("model_dir")),
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": llm.base_url,  # read by ChatOpenAI itself
        "OPENAI_MODEL": "gpt-4o-mini",
        "LABEL_STUDIO_URL": studio.url,
        "LABEL_STUDIO_API_KEY": pat,
        "ALLOW_PRIVATE_URLS": "true",  # the image host of the Image test stands on 127.0.0.1
    }


@pytest.fixture(scope="module")
def backend(backend_env: dict[str, str], serve_log: Path) -> Iterator[str]:
    """The backend for this module's tests; yields its URL."""
    with running_backend(backend_env, serve_log, secrets=(OPENAI_KEY, AZURE_KEY)) as url:
        yield url


def studio_call(ls: LabelStudio, method: str, path: str, **kwargs: Any) -> Any:
    """A Label Studio API call the SDK has no typed answer for, authenticated like the SDK."""
    headers = ls._client_wrapper.get_headers()
    answer = httpx.request(method, f"{ls._client_wrapper.get_base_url()}{path}", headers=headers, timeout=120, **kwargs)
    answer.raise_for_status()
    return answer.json()


def prompt_item(to_name: str, prompt: str) -> dict[str, Any]:
    return {"from_name": "prompt", "to_name": to_name, "type": "textarea", "value": {"text": [prompt]}}


def connect(ls: LabelStudio, backend: str, project_id: int, extra_params: Any) -> Any:
    """Add the backend to the project the way the Settings > Model page does, and check Label Studio accepted it."""
    ml = ls.ml.create(url=backend, project=project_id, is_interactive=True, title="llm", extra_params=extra_params)
    [listed] = ls.ml.list(project=project_id)  # listing makes Label Studio call /health and /setup again
    assert listed.state == "CO", listed.error_message
    assert (listed.model_version or "").startswith("llm-")
    return ml


def results_by_name(result: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["from_name"]: item["value"] for item in result}


CASES = {
    "prompt_engineering/azure": (
        PROMPT_ENGINEERING,
        "context",
        [{"text": "The Eiffel Tower is in Berlin."}, {"text": "Water boils at 100 C at sea level."}],
        "extra_params_azure",
    ),
    "text_classification/openai": (
        TEXT_CLASSIFICATION,
        "text",
        [{"text": "I love it when my computer crashes"}, {"text": "The meeting is at noon."}],
        None,
    ),
    "dialogue_sft/ollama": (
        DIALOGUE_SFT,
        "chat",
        [
            {
                "dialogue": [
                    {"role": "user", "content": "What is the capital of France?"},
                    {"role": "assistant", "content": "The capital of France is Paris."},
                    {"role": "user", "content": "Tell me a joke."},
                ]
            },
            {"dialogue": [{"role": "user", "content": "Hello?"}]},
        ],
        "extra_params_ollama",
    ),
}


def extra_params_for(kind: str | None, llm: FakeOpenAI) -> Any:
    if kind == "extra_params_azure":  # as an object, with the setting names
        return {
            "OPENAI_PROVIDER": "azure",
            "AZURE_RESOURCE_ENDPOINT": llm.url,
            "AZURE_DEPLOYMENT_NAME": "gpt-4o-mini",
            "OPENAI_API_KEY": AZURE_KEY,
        }
    if kind == "extra_params_ollama":  # as a JSON string, with the example's own keys
        return json.dumps({"provider": "ollama", "base_url": llm.base_url, "model": "llama3.1"})
    return None


@pytest.mark.engines
@pytest.mark.parametrize("case", list(CASES))
def test_seed_config_end_to_end(case: str, ls: LabelStudio, backend: str, llm: FakeOpenAI, title: str) -> None:
    config, to_name, data, params_kind = CASES[case]
    project = ls.projects.create(title=title, label_config=config)
    ls.projects.import_tasks(id=project.id, request=data)
    task_ids = sorted(int(task.id) for task in ls.tasks.list(project=project.id))
    ml = connect(ls, backend, project.id, extra_params_for(params_kind, llm))

    # interactive: the annotator types a prompt and presses Shift+Enter
    seen = len(llm.requests)
    answer = studio_call(
        ls,
        "POST",
        f"/api/ml/{ml.id}/interactive-annotating",
        json={"task": task_ids[0], "context": {"result": [prompt_item(to_name, "Explain this")]}},
    )
    assert "errors" not in answer, answer
    interactive = results_by_name(answer["data"]["result"])
    assert interactive["prompt"] == {"text": ["Explain this"]}
    assert interactive["response"]["text"][0].startswith("answer to: ")
    assert interactive["response"]["text"][0].endswith("Task Directive: Explain this")
    if config == TEXT_CLASSIFICATION:
        assert interactive["sentiment"] == {"choices": ["Sarcastic"]}
    if config == PROMPT_ENGINEERING:  # the judge: the first leaf path of the evals, the lowest rating
        assert interactive["evals"] == {"taxonomy": [["Relevance", "Relevant"]]}
        assert interactive["rating"] == {"rating": 1}
    request = llm.requests[seen]
    if params_kind == "extra_params_azure":
        assert request.path == "/openai/deployments/gpt-4o-mini/chat/completions"
        assert request.headers["api-key"] == AZURE_KEY
    elif params_kind == "extra_params_ollama":
        assert (request.path, request.json["model"]) == ("/v1/chat/completions", "llama3.1")
        assert "user: Tell me a joke." in request.json["messages"][0]["content"]
    else:
        assert (request.path, request.json["model"]) == ("/v1/chat/completions", "gpt-4o-mini")
        assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"

    # webhook: submitting an annotation keeps its prompt for the project, and the model version moves
    version_before = ls.ml.get(id=ml.id).model_version
    ls.annotations.create(id=task_ids[0], result=[prompt_item(to_name, "Give a one-line verdict")])
    [listed] = ls.ml.list(project=project.id)
    assert listed.model_version != version_before

    # batch: Retrieve Predictions for every task, with the submitted prompt
    ls.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items={"all": True, "excluded": []})
    predictions = {int(p.task): p for p in ls.predictions.list(project=project.id)}
    assert sorted(predictions) == task_ids
    for prediction in predictions.values():
        assert prediction.model_version == listed.model_version
        batch = results_by_name(prediction.result)
        assert batch["prompt"] == {"text": ["Give a one-line verdict"]}
        assert batch["response"]["text"][0].endswith("Task Directive: Give a one-line verdict")


JUDGE = """<View>
  <Text name="answer_a" value="$a"/>
  <Text name="answer_b" value="$b"/>
  <Pairwise name="better" toName="answer_a,answer_b"/>
</View>"""


def test_a_pairwise_judgement_is_prefilled_from_the_default_prompt(
    ls: LabelStudio, backend: str, llm: FakeOpenAI, title: str
) -> None:
    """LLM as a judge: a Pairwise config without a prompt TextArea, predicted in batch from DEFAULT_PROMPT."""
    project = ls.projects.create(title=title, label_config=JUDGE)
    pairs = [{"a": "Paris is the capital of France.", "b": "Lyon."}, {"a": "2 + 2 = 5", "b": "2 + 2 = 4"}]
    ls.projects.import_tasks(id=project.id, request=pairs)
    seen = len(llm.requests)
    connect(ls, backend, project.id, {"DEFAULT_PROMPT": "Which answer is better? A: {a} B: {b}"})
    ls.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items={"all": True, "excluded": []})
    predictions = list(ls.predictions.list(project=project.id))
    assert len(predictions) == 2
    for prediction in predictions:  # the test double answers the first side the schema allows
        [judged] = [item for item in prediction.result if item["from_name"] == "better"]
        assert (judged["type"], judged["value"]) == ("pairwise", {"selected": "left"})
    asked = [r.json for r in llm.requests[seen:]]
    schema = asked[0]["response_format"]["json_schema"]["schema"]["properties"]["better"]
    assert schema["anyOf"][0]["enum"] == ["left", "right"]
    prompts = " ".join(str(request["messages"][-1]["content"]) for request in asked)
    assert "A: 2 + 2 = 5 B: 2 + 2 = 4" in prompts


def test_image_summarization_end_to_end_with_vision(
    ls: LabelStudio, backend: str, llm: FakeOpenAI, title: str, image_url: str
) -> None:
    """The Image config: a file uploaded to Label Studio (read with LABEL_STUDIO_API_KEY) and a public URL."""
    project = ls.projects.create(title=title, label_config=IMAGE_SUMMARIZATION)
    studio_call(ls, "POST", f"/api/projects/{project.id}/import", files={"file": ("receipt.png", PNG, "image/png")})
    ls.projects.import_tasks(id=project.id, request=[{"image": image_url}])
    tasks = sorted(ls.tasks.list(project=project.id), key=lambda task: int(task.id))
    assert tasks[0].data["image"].startswith("/data/upload/")
    ml = connect(ls, backend, project.id, None)

    seen = len(llm.requests)
    answer = studio_call(
        ls,
        "POST",
        f"/api/ml/{ml.id}/interactive-annotating",
        json={"task": tasks[0].id, "context": {"result": [prompt_item("image", "Summarize the receipt")]}},
    )
    assert "errors" not in answer, answer
    interactive = results_by_name(answer["data"]["result"])
    assert interactive["category"] == {"choices": ["Groceries"]}  # single choice: exactly one label
    assert interactive["summarization-response"]["text"][0].startswith("answer to: ")
    parts = llm.requests[seen].json["messages"][0]["content"]
    assert parts[0]["text"] == "Source Text: (the attached image)\n\nTask Directive: Summarize the receipt"
    assert parts[1] == {"type": "image_url", "image_url": {"url": PNG_URI_PREFIX}}

    ls.annotations.create(id=tasks[0].id, result=[prompt_item("image", "What was bought?")])
    seen = len(llm.requests)
    ls.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items={"all": True, "excluded": []})
    predictions = list(ls.predictions.list(project=project.id))
    assert len(predictions) == 2
    assert all(results_by_name(p.result)["category"] == {"choices": ["Groceries"]} for p in predictions)
    images = [r.json["messages"][0]["content"][1]["image_url"]["url"] for r in llm.requests[seen:]]
    assert images == [PNG_URI_PREFIX, PNG_URI_PREFIX]  # both the Label Studio file and the public URL, inlined


def test_label_studio_refuses_a_backend_with_bad_settings_and_the_log_says_why(
    ls: LabelStudio, backend: str, title: str, serve_log: Path
) -> None:
    """Label Studio shows only "400 Client Error" from /setup; the backend's console has the one-line reason."""
    project = ls.projects.create(title=title, label_config=TEXT_CLASSIFICATION)
    with pytest.raises(ApiError) as refused:
        ls.ml.create(url=backend, project=project.id, extra_params={"OPENAI_PROVIDER": "nosuch:model"})
    assert refused.value.status_code == 400
    assert "400 Client Error" in str(refused.value.body)
    deadline = time.monotonic() + 5
    while "POST /setup refused: Cannot set up the chat model for OPENAI_PROVIDER=nosuch:model" not in (
        serve_log.read_text()
    ):
        assert time.monotonic() < deadline, serve_log.read_text()[-2000:]
        time.sleep(0.1)


def test_basic_auth_with_the_webhook_given_the_header(
    ls: LabelStudio, backend_env: dict[str, str], title: str, tmp_path: Path
) -> None:
    """With BASIC_AUTH_USER/PASS, Label Studio sends them to /health, /setup and /predict; its webhook needs the
    Authorization header added by hand (Settings > Webhooks), as the README says."""
    env = {**backend_env, "MODEL_DIR": str(tmp_path / "model_dir"), "BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "pw"}
    with running_backend(env, tmp_path / "serve.log", secrets=(OPENAI_KEY, AZURE_KEY)) as url:
        project = ls.projects.create(title=title, label_config=TEXT_CLASSIFICATION)
        ls.projects.import_tasks(id=project.id, request=[{"text": "I love it when my computer crashes"}])
        [task] = ls.tasks.list(project=project.id)
        with pytest.raises(ApiError):  # without the credentials, Label Studio is refused at /health
            ls.ml.create(url=url, project=project.id, is_interactive=True)
        ml = ls.ml.create(
            url=url,
            project=project.id,
            is_interactive=True,
            auth_method="BASIC_AUTH",
            basic_auth_user="ls",
            basic_auth_pass="pw",
        )
        [webhook] = [w for w in ls.webhooks.list(project=project.id) if w.url == f"{url}/webhook"]
        token = base64.b64encode(b"ls:pw").decode()
        ls.webhooks.update(id=webhook.id, url=webhook.url, headers={"Authorization": f"Basic {token}"})
        version_before = ls.ml.get(id=ml.id).model_version
        ls.annotations.create(id=task.id, result=[prompt_item("text", "Is it sarcastic?")])
        [listed] = ls.ml.list(project=project.id)
        assert listed.state == "CO"
        assert listed.model_version != version_before  # the webhook got through and stored the prompt
        answer = studio_call(
            ls,
            "POST",
            f"/api/ml/{ml.id}/interactive-annotating",
            json={"task": task.id, "context": {"result": [prompt_item("text", "Classify")]}},
        )
        assert results_by_name(answer["data"]["result"])["sentiment"] == {"choices": ["Sarcastic"]}
