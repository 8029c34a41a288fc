"""Retrieval chains against the real Label Studio: each model call's task carries the documents retrieved before it
in the same run, retriever runs are in the run tree (root run, sampling), and a failing retriever changes nothing
for the user's chain."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import BaseLanguageModel
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from ls_langchain.export import Filters, export_project
from ls_langchain.handler import _sampled
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import Studio

from test_handler import MakeHandler, tasks_of

DOCUMENTS = [
    Document("Paris is the capital of France.", id="fr", metadata={"source": "france.md"}),
    Document("Berlin is the capital of Germany.", id="de", metadata={"source": "germany.md"}),
    Document("Madrid is the capital of Spain.", id="es", metadata={"source": "spain.md"}),
    Document("Rome is the capital of Italy.", id="it", metadata={"source": "italy.md"}),
]
QUESTIONS = ["What is the capital of France?", "Which city is Germany's capital?", "Tell me about Spain."]


def vector_store() -> InMemoryVectorStore:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
    store.add_documents(DOCUMENTS)
    return store


def expected_context(retriever: BaseRetriever, question: str) -> list[dict[str, str]]:
    """What the retriever returns for ``question``, as a task's ``data.context`` holds it (asked without callbacks)."""
    return [{"source": d.metadata["source"], "text": d.page_content} for d in retriever.invoke(question)]


def format_documents(documents: list[Document]) -> str:
    return "\n\n".join(document.page_content for document in documents)


def rag_chain(retriever: Runnable[str, list[Document]], model: BaseLanguageModel[Any]) -> Runnable[str, str]:
    """The retrieval chain of LangChain's guides: retrieve, stuff the documents into the prompt, answer."""
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from this context only:\n\n{context}"), ("human", "{question}")]
    )
    inputs = {"context": retriever | format_documents, "question": RunnablePassthrough()}
    return inputs | prompt | model | StrOutputParser()


class RewritingRetriever(BaseRetriever):
    """A retriever that asks a model to rewrite the query first (as LangChain's MultiQueryRetriever does), so a
    model call runs under the retriever run."""

    store: InMemoryVectorStore
    rewriter: FakeListLLM

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        rewritten = self.rewriter.invoke(query, config={"callbacks": run_manager.get_child()})
        return self.store.similarity_search(rewritten, k=2)


class BrokenRetriever(BaseRetriever):
    """A retriever whose index is down."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        raise ConnectionError("vector index unreachable")


def answers(count: int) -> FakeListChatModel:
    return FakeListChatModel(responses=[f"Answer {n}." for n in range(count)])


def by_question(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {task["data"]["prompt"][-1]["content"]: task for task in tasks}


def test_a_retrieval_chain_logs_the_documents_in_order_with_the_retrieval_facts(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    retriever = vector_store().as_retriever(search_kwargs={"k": 3})
    run_id = uuid.uuid4()
    answer = rag_chain(retriever, answers(1)).invoke(QUESTIONS[0], config={"callbacks": [handler], "run_id": run_id})
    assert answer == "Answer 0."
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    context = expected_context(retriever, QUESTIONS[0])
    assert len(context) == 3
    assert task["data"]["context"] == context
    # The model saw the documents stuffed into its prompt; the task shows that conversation unchanged.
    assert task["data"]["prompt"][0]["content"].endswith(format_documents(retriever.invoke(QUESTIONS[0])))
    meta = task["meta"]
    assert meta["root_run_id"] == str(run_id)
    [retrieval] = meta["retrieval"]
    assert retrieval["query"] == QUESTIONS[0]
    assert retrieval["document_ids"] == [d.id for d in retriever.invoke(QUESTIONS[0])]
    assert retrieval["sources"] == [entry["source"] for entry in context]
    assert retrieval["document_count"] == 3 and retrieval["latency_ms"] >= 0
    assert handler._retrieved == {} and handler._retrieving == {} and handler._parents == {}


def test_batch_runs_each_get_their_own_documents(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(mode="chat", project_name=title)
    retriever = vector_store().as_retriever(search_kwargs={"k": 2})
    rag_chain(retriever, answers(3)).batch(QUESTIONS, config={"callbacks": [handler]})
    assert handler.flush(timeout=30)

    tasks = by_question(tasks_of(ls, handler.project_id))
    assert sorted(tasks) == sorted(QUESTIONS)
    for question, task in tasks.items():
        assert task["data"]["context"] == expected_context(retriever, question)
        assert task["meta"]["retrieval"][0]["query"] == question
    assert len({task["meta"]["root_run_id"] for task in tasks.values()}) == 3


def test_a_streamed_answer_carries_the_documents(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(mode="chat", project_name=title)
    retriever = vector_store().as_retriever(search_kwargs={"k": 2})
    chunks = list(rag_chain(retriever, answers(1)).stream(QUESTIONS[1], config={"callbacks": [handler]}))
    assert "".join(chunks) == "Answer 0."
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    assert task["meta"]["streamed"] is True
    assert task["data"]["context"] == expected_context(retriever, QUESTIONS[1])


async def test_async_runs_keep_their_documents_apart(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(mode="chat", project_name=title)
    retriever = vector_store().as_retriever(search_kwargs={"k": 2})
    chain = rag_chain(retriever, answers(3))
    await asyncio.gather(*(chain.ainvoke(question, config={"callbacks": [handler]}) for question in QUESTIONS[:2]))
    streamed = [chunk async for chunk in chain.astream(QUESTIONS[2], config={"callbacks": [handler]})]
    assert streamed
    assert handler.flush(timeout=30)

    tasks = by_question(tasks_of(ls, handler.project_id))
    assert sorted(tasks) == sorted(QUESTIONS)
    for question, task in tasks.items():
        assert task["data"]["context"] == expected_context(retriever, question)


def test_a_model_call_inside_the_retriever_belongs_to_the_chain_run(
    make_handler: MakeHandler, ls: LabelStudio, title: str
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    store = vector_store()
    retriever = RewritingRetriever(store=store, rewriter=FakeListLLM(responses=["capital of Italy"]))
    run_id = uuid.uuid4()
    rag_chain(retriever, answers(1)).invoke(QUESTIONS[2], config={"callbacks": [handler], "run_id": run_id})
    assert handler.flush(timeout=30)

    tasks = sorted(tasks_of(ls, handler.project_id), key=lambda task: task["meta"]["started_at"])
    assert len(tasks) == 2
    rewrite, answer = tasks
    assert {task["meta"]["root_run_id"] for task in tasks} == {str(run_id)}
    assert rewrite["meta"]["parent_run_id"] == answer["meta"]["retrieval"][0]["run_id"]  # called by the retriever
    assert rewrite["data"]["context"] == []  # nothing was retrieved before it
    documents = store.similarity_search("capital of Italy", k=2)
    assert answer["data"]["context"] == [{"source": d.metadata["source"], "text": d.page_content} for d in documents]


def test_sampling_keeps_or_drops_a_whole_retrieval_run(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(mode="chat", project_name=title, sample_rate=0.5)
    store = vector_store()
    run_ids = [uuid.uuid4() for _ in range(16)]
    kept = {str(run_id) for run_id in run_ids if _sampled(run_id, 0.5)}
    assert 0 < len(kept) < len(run_ids)  # both outcomes occur (16 random ids: fails once in ~32,000 runs)
    for run_id in run_ids:
        retriever = RewritingRetriever(store=store, rewriter=FakeListLLM(responses=["capital"]))
        rag_chain(retriever, answers(1)).invoke(QUESTIONS[0], config={"callbacks": [handler], "run_id": run_id})
    assert handler.flush(timeout=30)

    tasks = tasks_of(ls, handler.project_id)
    roots = [task["meta"]["root_run_id"] for task in tasks]
    assert set(roots) == kept
    assert all(roots.count(root) == 2 for root in kept)  # the rewrite and the answer, both or neither
    assert all(task["data"]["context"] or "retrieval" not in task["meta"] for task in tasks)


def test_a_failing_retriever_is_the_chains_own_business(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(mode="chat", project_name=title)
    model = answers(1)
    with pytest.raises(ConnectionError, match="vector index unreachable"):
        rag_chain(BrokenRetriever(), model).invoke(QUESTIONS[0], config={"callbacks": [handler]})

    fallback = BrokenRetriever().with_fallbacks([RunnableLambda(lambda _: [])])
    answer = rag_chain(fallback, model).invoke(QUESTIONS[0], config={"callbacks": [handler]})
    assert answer == "Answer 0."
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)  # the first chain never reached its model
    assert task["data"]["context"] == []
    [failed] = task["meta"]["retrieval"]
    assert failed["error"] == {"type": "ConnectionError", "message": "vector index unreachable"}
    assert failed["query"] == QUESTIONS[0] and failed["document_ids"] == []
    assert handler._retrieved == {} and handler._retrieving == {} and handler._parents == {}


def test_the_mask_and_secret_rules_cover_the_documents(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    handler = make_handler(mode="chat", project_name=title, mask=lambda text: text.replace("alice@example.com", "<e>"))
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
    store.add_documents(
        [
            Document(
                "Write to alice@example.com for refunds.",
                metadata={"source": "https://bob:hunter2@wiki.example.com/refunds?token=s3cr3t&lang=en"},
            )
        ]
    )
    rag_chain(store.as_retriever(), answers(1)).invoke("refunds?", config={"callbacks": [handler]})
    assert handler.flush(timeout=30)

    [task] = tasks_of(ls, handler.project_id)
    assert task["data"]["context"] == [
        {"source": "https://wiki.example.com/refunds?lang=en", "text": "Write to <e> for refunds."}
    ]
    stored = json.dumps(task)
    assert "alice@example.com" not in stored and "hunter2" not in stored and "s3cr3t" not in stored


def test_a_run_tree_with_every_run_type_keeps_one_root(make_handler: MakeHandler, ls: LabelStudio, title: str) -> None:
    """Chains, a tool, a retriever with a model inside, a custom event and a nested chain: every model call of the
    run names the outermost run as its root, and the handler forgets the run once it ends."""
    from langchain_core.callbacks import dispatch_custom_event
    from langchain_core.tools import tool

    @tool
    def lookup(city: str) -> str:
        """Look a city up."""
        return f"{city}: capital"

    handler = make_handler(mode="chat", project_name=title)
    store = vector_store()
    retriever = RewritingRetriever(store=store, rewriter=FakeListLLM(responses=["capital of Spain"]))

    def step(question: str) -> str:
        dispatch_custom_event("progress", {"stage": "tool"})
        return lookup.invoke({"city": question})

    inner = RunnableLambda(step) | rag_chain(retriever, answers(1))
    run_id = uuid.uuid4()
    (RunnablePassthrough() | inner).invoke("Spain", config={"callbacks": [handler], "run_id": run_id})
    assert handler.flush(timeout=30)

    tasks = tasks_of(ls, handler.project_id)
    assert len(tasks) == 2
    assert {task["meta"]["root_run_id"] for task in tasks} == {str(run_id)}
    assert handler._parents == {} and handler._retrieved == {} and handler._retrieving == {}


def test_sft_lines_keep_the_conversation_the_model_saw(
    make_handler: MakeHandler, studio: LocalStudio, pat: str, ls: LabelStudio, title: str, tmp_path: Path
) -> None:
    handler = make_handler(mode="chat", project_name=title)
    retriever = vector_store().as_retriever(search_kwargs={"k": 2})
    rag_chain(retriever, answers(1)).invoke(QUESTIONS[0], config={"callbacks": [handler]})
    assert handler.flush(timeout=30)
    assert handler.project_id is not None

    out = tmp_path / "sft.jsonl"
    export_project(Studio(studio.url, pat), handler.project_id, "sft", out, filters=Filters(annotated_only=False))
    [line] = [json.loads(text) for text in out.read_text().splitlines()]
    [task] = tasks_of(ls, handler.project_id)
    assert line["messages"][:-1] == task["data"]["prompt"]  # the stuffed system prompt and the question, as sent
    assert line["messages"][0]["content"].endswith(format_documents(retriever.invoke(QUESTIONS[0])))
    assert line["messages"][-1] == {"role": "assistant", "content": "Answer 0."}
