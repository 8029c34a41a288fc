"""The retrieved documents in Label Studio's labeling editor, in a real chromium: a collapsed panel above the answer
that opens on a table of source and text, in both default configs; a task without documents opens cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
from playwright.sync_api import Page, expect

from ls_langchain import LabelStudioCallbackHandler
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import sdk_client

from browser import open_task

DOCUMENTS = [
    Document("Paris is the capital of France.", metadata={"source": "france.md"}),
    Document("Berlin is the capital of Germany.", metadata={"source": "germany.md"}),
]


def log_runs(studio: LocalStudio, pat: str, title: str, outbox: Path, mode: str) -> tuple[int, dict[str, int]]:
    """Log a retrieval chain's answer and a plain model call into one project; returns the project id and the task
    ids by prompt."""
    handler = LabelStudioCallbackHandler(
        api_key=pat, url=studio.url, mode=mode, project_name=title, outbox_dir=outbox, flush_interval=0.05
    )
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
    store.add_documents(DOCUMENTS)
    prompt = ChatPromptTemplate.from_messages([("system", "Context:\n{context}"), ("human", "{question}")])
    documents = store.as_retriever(search_kwargs={"k": 2})
    model = FakeListChatModel(responses=["Paris.", "A joke."])
    chain = (
        {
            "context": documents | (lambda found: "\n".join(d.page_content for d in found)),
            "question": RunnablePassthrough(),
        }
        | prompt
        | model
        | StrOutputParser()
    )
    chain.invoke("Capital of France?", config={"callbacks": [handler]})
    model.invoke("Tell me a joke", config={"callbacks": [handler]})
    assert handler.flush(timeout=30)
    handler.close(timeout=10)
    assert handler.project is not None
    ls = sdk_client(studio.url, pat)
    tasks = {str(task.data["prompt"]): task.id for task in ls.tasks.list(project=handler.project.id)}
    return handler.project.id, {("rag" if "France" in text else "plain"): task_id for text, task_id in tasks.items()}


@pytest.mark.parametrize("mode", ["prompt", "chat"])
def test_the_documents_open_in_a_panel_above_the_answer(
    studio_page: Page, studio: LocalStudio, pat: str, title: str, tmp_path: Path, mode: str
) -> None:
    project_id, tasks = log_runs(studio, pat, title, tmp_path / "outbox", mode)
    retrieved = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
    retrieved.add_documents(DOCUMENTS)
    expected = retrieved.similarity_search("Capital of France?", k=2)

    open_task(studio_page, studio, project_id, tasks["rag"])
    panel = studio_page.get_by_text("Retrieved context", exact=True)
    expect(panel).to_be_visible()
    table = studio_page.locator(".ant-table")
    expect(table).to_be_hidden()  # collapsed until the annotator opens it
    answer = studio_page.get_by_test_id("htx-textbox-content")
    assert panel.bounding_box()["y"] < answer.bounding_box()["y"]  # type: ignore[index]
    panel.click()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    for row, document in zip(rows.all(), expected, strict=True):
        expect(row.locator("td").nth(0)).to_have_text(document.metadata["source"])
        expect(row.locator("td").nth(1)).to_have_text(document.page_content)
    expect(table.locator("thead th")).to_have_text(["source", "text"])

    open_task(studio_page, studio, project_id, tasks["plain"])
    studio_page.get_by_text("Retrieved context", exact=True).click()
    expect(studio_page.locator(".ant-table").get_by_text("No data")).to_be_visible()
    expect(studio_page.get_by_test_id("htx-textbox-content")).to_have_text("A joke.")
