"""A retrieval chain (RAG): a retriever over a few documents in LangChain's in-memory vector store, then a chat model.
Each answer's task shows the documents the model was given, in a "Retrieved context" panel above the answer, and
``meta.retrieval`` holds the query, the document ids and the retrieval's latency."""

from __future__ import annotations

from _common import chat_model, report
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from ls_langchain import LabelStudioCallbackHandler

DOCUMENTS = [
    Document(
        "Refunds are paid within 14 days of the returned item arriving.", metadata={"source": "policy/refunds.md"}
    ),
    Document("Items can be returned for 30 days after delivery, unused.", metadata={"source": "policy/returns.md"}),
    Document("Standard delivery takes 2 to 4 working days.", metadata={"source": "policy/delivery.md"}),
    Document("Support answers by email on working days, 9:00 to 17:00.", metadata={"source": "support/hours.md"}),
]
QUESTIONS = ("How long do refunds take?", "Can I return something I used?")


def run() -> list[LabelStudioCallbackHandler]:
    handler = LabelStudioCallbackHandler(mode="chat", project_name="RAG answers")
    # A fake embeddings model keeps the example offline; any LangChain embeddings and vector store work the same.
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=64))
    store.add_documents(DOCUMENTS)
    retriever = store.as_retriever(search_kwargs={"k": 2})
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from this context only:\n\n{context}"), ("human", "{question}")]
    )
    context = retriever | (lambda found: "\n\n".join(document.page_content for document in found))
    chain = (
        {"context": context, "question": RunnablePassthrough()} | prompt | chat_model(callbacks=[]) | StrOutputParser()
    )
    # The handler in the run's config sees the retriever as well as the model.
    for answer in chain.batch(list(QUESTIONS), config={"callbacks": [handler]}):
        print(answer)
    return [handler]


if __name__ == "__main__":
    report(run())
