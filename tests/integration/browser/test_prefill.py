"""The ML backend as a person uses it, in a real chromium: interactive prefill with Shift+Enter, and Retrieve
Predictions from the Data Manager. The LLM is ``FakeOpenAI`` (a test double: a local OpenAI-compatible HTTP server)
behind the backend's real ``ChatOpenAI``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from playwright.sync_api import Page, expect

from ls_langchain.localstudio import LocalStudio

from browser import open_task
from fake_openai import FakeOpenAI, Reply
from seed_configs import TEXT_CLASSIFICATION
from serving import running_backend

SARCASTIC = "Oh great, another Monday."
PLAIN = "The train was on time."


def judge(request: dict[str, Any]) -> Reply:
    """The test double's answers: sarcastic when the task is the Monday one, with an answer naming its verdict."""
    sarcastic = SARCASTIC in json.dumps(request["messages"])
    label = "Sarcastic" if sarcastic else "Not Sarcastic"
    return Reply.of_json({"answer": f"Verdict: {label.lower()}.", "sentiment": [label]})


@pytest.fixture(scope="module")
def backend(studio: LocalStudio, pat: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ls-langchain serve`` on a free port, its model aimed at the test double; yields its URL."""
    with FakeOpenAI(responder=judge) as llm:
        env = {
            "MODEL_DIR": str(tmp_path_factory.mktemp("model_dir")),
            "OPENAI_API_KEY": "sk-browser-test",
            "OPENAI_BASE_URL": llm.base_url,
            "OPENAI_MODEL": "gpt-4o-mini",
            "LABEL_STUDIO_URL": studio.url,
            "LABEL_STUDIO_API_KEY": pat,
        }
        with running_backend(env, tmp_path_factory.mktemp("serve") / "serve.log") as url:
            yield url


def classification_project(ls: LabelStudio, backend: str, title: str, **extra_params: str) -> tuple[int, list[int]]:
    """The seed's text classification project with two tasks and the backend connected; its id and task ids."""
    project = ls.projects.create(title=title, label_config=TEXT_CLASSIFICATION)
    assert project.id is not None
    ls.projects.import_tasks(id=project.id, request=[{"text": SARCASTIC}, {"text": PLAIN}])
    ls.ml.create(url=backend, project=project.id, is_interactive=True, title="llm", extra_params=extra_params)
    return project.id, sorted(task.id for task in ls.tasks.list(project=project.id) if task.id is not None)


def test_shift_enter_on_a_prompt_fills_the_response_and_picks_the_choice(
    studio_page: Page, studio: LocalStudio, ls: LabelStudio, backend: str, title: str
) -> None:
    project_id, (monday, _) = classification_project(ls, backend, title)
    open_task(studio_page, studio, project_id, monday)

    toggle = studio_page.get_by_test_id("bottombar-auto-annotation-toggle")
    expect(toggle).not_to_be_checked()  # a new browser starts with it off
    studio_page.get_by_text("Auto-Annotation").click()
    expect(toggle).to_be_checked()
    prompt = studio_page.locator('textarea[name="prompt"]')
    prompt.fill("Is this text sarcastic? {text}")
    prompt.press("Shift+Enter")

    expect(studio_page.get_by_test_id("textarea-region").get_by_text("Verdict: sarcastic.")).to_be_visible()
    expect(studio_page.locator('input[name="Sarcastic"]')).to_be_checked()
    expect(studio_page.locator('input[name="Not Sarcastic"]')).not_to_be_checked()


def test_retrieve_predictions_from_the_data_manager_fills_every_task(
    studio_page: Page, studio: LocalStudio, ls: LabelStudio, backend: str, title: str
) -> None:
    project_id, task_ids = classification_project(ls, backend, title, DEFAULT_PROMPT="Is this sarcastic? {text}")
    studio_page.goto(f"{studio.url}/projects/{project_id}/data")
    studio_page.get_by_label("Select all rows").check()
    studio_page.get_by_text("2 Tasks", exact=True).click()  # the actions menu of the selection
    studio_page.get_by_text("Retrieve Predictions").click()
    studio_page.get_by_text("OK", exact=True).click()

    def labels() -> dict[int, list[Any]]:
        """Each task's Choice values in its predictions, as Label Studio stored them."""
        tasks = [task.model_dump(mode="json") for task in ls.tasks.list(project=project_id, fields="all")]
        return {
            task["id"]: [
                item["value"] for p in task["predictions"] for item in p["result"] if item["type"] == "choices"
            ]
            for task in tasks
        }

    deadline = time.monotonic() + 60
    while not all(labels().values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert labels() == {task_ids[0]: [{"choices": ["Sarcastic"]}], task_ids[1]: [{"choices": ["Not Sarcastic"]}]}
    expect(studio_page.get_by_text("Predictions: 2")).to_be_visible()  # the grid's footer counts them
