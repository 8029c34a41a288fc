"""What an annotator sees in Label Studio's labeling editor, in a real chromium: the tasks the handler logs."""

from __future__ import annotations

from pathlib import Path

from label_studio_sdk import LabelStudio
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from playwright.sync_api import Page, expect

from ls_langchain import LabelStudioCallbackHandler
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import sdk_client

from browser import open_task

ANSWER = "- Paris: about 2.1 million people\n- Greater Paris: about 12 million"
# What LLM answers hold and an edit must keep: blank lines, indentation, code fences, accents, emoji, edge spaces.
RICH_ANSWER = '  Steps:\n1. Öffne den Deckel.\n2. Pour the water ✓\n\n```python\ndef brew():\n    return "🍵"\n```\n'


def log_chat(studio: LocalStudio, pat: str, title: str, outbox: Path, answer: str) -> tuple[int, int]:
    """Log one chat run (a system and a user message, a multi-line answer) with the default chat config; returns
    the project's and the task's id."""
    handler = LabelStudioCallbackHandler(
        api_key=pat, url=studio.url, mode="chat", project_name=title, outbox_dir=outbox, flush_interval=0.05
    )
    model = FakeListChatModel(responses=[answer], callbacks=[handler])
    model.invoke([SystemMessage("You answer in short lists."), HumanMessage("How many people live in Paris?")])
    assert handler.flush(timeout=30)
    handler.close(timeout=10)
    assert handler.project is not None
    project_id = handler.project.id
    ls = sdk_client(studio.url, pat)
    (task,) = ls.tasks.list(project=project_id)
    return project_id, task.id


def test_a_logged_chat_task_shows_speakers_the_prefilled_response_and_the_rating(
    studio_page: Page, studio: LocalStudio, pat: str, title: str, tmp_path: Path
) -> None:
    project_id, task_id = log_chat(studio, pat, title, tmp_path / "outbox", ANSWER)
    open_task(studio_page, studio, project_id, task_id)

    phrases = studio_page.locator('[data-testid^="phrase:"]')
    expect(phrases).to_have_count(2)
    expect(phrases.nth(0).locator('[class*="dialoguename"]')).to_have_text("system")
    expect(phrases.nth(0).locator('[class*="dialoguetext"]')).to_have_text("You answer in short lists.")
    expect(phrases.nth(1).locator('[class*="dialoguename"]')).to_have_text("user")
    expect(phrases.nth(1).locator('[class*="dialoguetext"]')).to_have_text("How many people live in Paris?")
    # The model's answer is there to correct, line by line as it was written.
    expect(studio_page.get_by_test_id("htx-textbox-content")).to_have_text(ANSWER.replace("\n", ""))
    assert studio_page.get_by_test_id("htx-textbox-content").inner_text() == ANSWER
    expect(studio_page.locator("ul.ant-rate [role=radio]")).to_have_count(5)


def test_an_edited_multiline_answer_keeps_its_line_breaks(
    studio_page: Page, studio: LocalStudio, pat: str, ls: LabelStudio, title: str, tmp_path: Path
) -> None:
    project_id, task_id = log_chat(studio, pat, title, tmp_path / "outbox", RICH_ANSWER)
    open_task(studio_page, studio, project_id, task_id)

    studio_page.get_by_test_id("htx-textbox-edit-button").click()
    editor = studio_page.get_by_test_id("textarea-region").locator("textarea")
    expect(editor).to_have_value(RICH_ANSWER)
    editor.press("Control+End")
    editor.press_sequentially("Checked.")
    studio_page.get_by_test_id("bottombar-submit-button").click()
    expect(studio_page.get_by_text("Annotation saved successfully", exact=True)).to_be_visible()

    (annotation,) = ls.annotations.list(id=task_id)
    (result,) = annotation.result
    assert result["from_name"] == "response"
    assert result["value"]["text"] == [RICH_ANSWER + "Checked."]
