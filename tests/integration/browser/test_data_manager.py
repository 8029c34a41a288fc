"""The Data Manager grid of a project the handler created, in a real chromium: readable, filterable facts."""

from __future__ import annotations

import base64
from pathlib import Path

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from playwright.sync_api import Page, expect

from ls_langchain import LabelStudioCallbackHandler
from ls_langchain.localstudio import LocalStudio

PIXEL_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360f8cfc0f01f0005000201e5f7c4e20000000049454e44ae426082"
    )
).decode()


def test_a_new_chat_project_shows_model_and_time_not_raw_json_or_base64(
    studio_page: Page, studio: LocalStudio, pat: str, title: str, tmp_path: Path
) -> None:
    handler = LabelStudioCallbackHandler(
        api_key=pat, url=studio.url, mode="chat", project_name=title, outbox_dir=tmp_path, flush_interval=0.05
    )
    model = FakeListChatModel(responses=["A single red pixel."], callbacks=[handler])
    picture = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL_PNG}"}}
    model.invoke([HumanMessage(content=[{"type": "text", "text": "What is in this picture?"}, picture])])
    assert handler.flush(timeout=30)
    handler.close(timeout=10)
    assert handler.project is not None

    studio_page.goto(f"{studio.url}/projects/{handler.project.id}/data")
    expect(studio_page.get_by_text("FakeListChatModel")).to_be_visible()  # the model, in its own column
    columns = studio_page.locator(".lsf-th[data-id]").evaluate_all("cells => cells.map(c => c.dataset.id)")
    assert {"tasks:id", "tasks:predictions_model_versions", "tasks:created_at"} <= set(columns)
    assert not {"tasks:data.prompt", "tasks:data.images"} & set(columns)
    grid = studio_page.locator(".lsf-table").first.inner_text()
    assert "base64" not in grid and '"role"' not in grid
