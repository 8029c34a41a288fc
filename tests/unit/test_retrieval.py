"""Shaping what a retriever returned: documents read, the context a task shows (bounded, in order), meta facts."""

from __future__ import annotations

import json

import pytest
from langchain_core.documents import Document

from ls_langchain.errors import RecordFormatError
from ls_langchain.labeling import LabelStudioMode, default_config, read_layout
from ls_langchain.masking import mask_record
from ls_langchain.retrieval import CONTEXT_NOTE_SOURCE, Retrieval, context_of, read_documents, retrieval_meta
from ls_langchain.tasks import RunRecord, build_task


def retrieval(*texts: str, query: str = "q", run_id: str = "r", count: int | None = None) -> Retrieval:
    documents = read_documents([Document(text, metadata={"source": f"{text[:3]}.md"}) for text in texts])
    total = len(texts) if count is None else count
    return Retrieval(run_id, query, tuple(documents), total, started=10.0, ended=10.25)


def test_documents_keep_text_id_source_and_score() -> None:
    documents = [
        Document("Paris is in France.", id="d1", metadata={"source": "france.md", "relevance_score": 0.91}),
        Document("Berlin.", id="d2", metadata={"url": "https://example.com/de", "score": 3}),
        Document("No origin.", metadata={"score": float("nan")}),
    ]
    assert read_documents(documents) == [
        {"id": "d1", "source": "france.md", "text": "Paris is in France.", "chars": 19, "score": 0.91},
        {"id": "d2", "source": "https://example.com/de", "text": "Berlin.", "chars": 7, "score": 3.0},
        {"id": None, "source": "document 3", "text": "No origin.", "chars": 10},
    ]


def test_a_source_names_its_page_and_falls_back_to_the_id() -> None:
    [paged, unnamed] = read_documents(
        [Document("x", metadata={"source": "manual.pdf", "page_label": "12"}), Document("y", id="chunk-7")]
    )
    assert (paged["source"], unnamed["source"]) == ("manual.pdf, page 12", "chunk-7")


def test_a_source_url_loses_its_credentials() -> None:
    url = "https://alice:hunter2@docs.example.com:8443/a?page=2&api_key=sk-123&token=t0k"
    [document] = read_documents([Document("x", metadata={"source": url})])
    assert document["source"] == "https://docs.example.com:8443/a?page=2"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_documents_that_are_not_documents_still_read() -> None:
    [plain, odd] = read_documents(["a bare string", Unprintable()])
    assert (plain["text"], plain["source"]) == ("a bare string", "document 1")
    assert odd["text"].startswith("<") and odd["source"] == "document 2"  # its repr, not an error


def test_context_lists_every_retrieval_in_order() -> None:
    first = retrieval("Alpha one.", "Beta two.")
    second = retrieval("Gamma three.")
    assert context_of([first, second]) == [
        {"source": "Alp.md", "text": "Alpha one."},
        {"source": "Bet.md", "text": "Beta two."},
        {"source": "Gam.md", "text": "Gamma three."},
    ]


def test_no_document_means_no_context() -> None:
    assert context_of([]) is None
    assert context_of([retrieval()]) is None  # it found nothing; meta.retrieval still names it


def test_context_within_the_limit_has_no_note() -> None:
    assert context_of([retrieval("a" * 10, "b" * 10)], limit=20) == [
        {"source": "aaa.md", "text": "a" * 10},
        {"source": "bbb.md", "text": "b" * 10},
    ]


def test_context_past_the_limit_is_cut_with_a_note_saying_what_is_left_out() -> None:
    context = context_of([retrieval("a" * 10, "b" * 10), retrieval("c" * 7)], limit=15)
    assert context is not None
    assert context[:2] == [{"source": "aaa.md", "text": "a" * 10}, {"source": "bbb.md", "text": "b" * 5 + "…"}]
    note = context[2]
    assert note["source"] == CONTEXT_NOTE_SOURCE
    assert "1 more document and 12 characters of text" in note["text"]
    assert "15 characters" in note["text"]
    assert len(context) == 3


def test_documents_past_the_kept_count_are_named_in_the_note() -> None:
    context = context_of([retrieval("short", count=250)])
    assert context is not None and context[-1]["source"] == CONTEXT_NOTE_SOURCE
    assert "249 more documents" in context[-1]["text"]


def test_a_long_document_is_kept_short_from_the_start() -> None:
    [document] = read_documents([Document("x" * 50)], limit=8)
    assert (document["text"], document["chars"]) == ("x" * 8, 50)


def test_meta_keeps_query_ids_sources_scores_and_latency() -> None:
    documents = read_documents(
        [Document("a", id="d1", metadata={"source": "a.md", "score": 0.5}), Document("b", id="d2")]
    )
    facts = retrieval_meta([Retrieval("run-1", "what?", tuple(documents), 2, started=1.0, ended=1.0421)])
    assert facts == [
        {
            "run_id": "run-1",
            "query": "what?",
            "latency_ms": 42.1,
            "document_count": 2,
            "document_ids": ["d1", "d2"],
            "sources": ["a.md", "d2"],
            "scores": [0.5, None],
        }
    ]


def test_meta_of_a_failed_retrieval_says_what_failed() -> None:
    failed = Retrieval("r", "q", (), 0, 1.0, 2.0, error={"type": "TimeoutError", "message": "index down"})
    [facts] = retrieval_meta([failed])
    assert facts["error"] == {"type": "TimeoutError", "message": "index down"} and "scores" not in facts


def test_default_configs_carry_the_context_and_an_empty_list_without_one() -> None:
    context = [{"source": "a.md", "text": "Alpha."}]
    for mode in LabelStudioMode:
        layout = read_layout(default_config(mode))
        with_context = build_task(RunRecord(id="r", responses=["x"], prompt="p", context=context), layout)
        without = build_task(RunRecord(id="r", responses=["x"], prompt="p"), layout)
        assert (with_context["data"]["context"], without["data"]["context"]) == (context, [])


def test_custom_configs_get_the_context_only_when_they_reference_it() -> None:
    record = RunRecord(id="r", responses=["x"], prompt="p", context=[{"source": "a.md", "text": "Alpha."}])
    plain = read_layout('<View><Text name="t" value="$prompt"/><TextArea name="response" toName="t"/></View>')
    showing = read_layout(
        '<View><Text name="t" value="$prompt"/><Paragraphs name="docs" value="$context" nameKey="source"'
        ' textKey="text"/><TextArea name="response" toName="t"/></View>'
    )
    assert "context" not in build_task(record, plain)["data"]
    assert build_task(record, showing)["data"]["context"] == record.context


def test_the_mask_applies_to_the_documents() -> None:
    record = RunRecord(
        id="r",
        responses=["x"],
        prompt="p",
        context=[{"source": "crm/alice@example.com", "text": "Call alice@example.com"}],
        meta={"retrieval": [{"query": "alice@example.com?"}]},
    )
    masked, failures = mask_record(record, lambda text: text.replace("alice@example.com", "<email>"))
    assert failures == 0 and "alice@example.com" not in json.dumps(masked.context) + json.dumps(masked.meta)
    assert masked.context == [{"source": "crm/<email>", "text": "Call <email>"}]


def test_a_record_with_context_survives_the_outbox_round_trip() -> None:
    record = RunRecord(id="r", responses=["x"], prompt="p", context=[{"source": "a.md", "text": "Alpha."}])
    assert RunRecord.from_json(record.to_json()) == record


def test_a_stored_record_with_a_damaged_context_is_refused_in_one_line() -> None:
    with pytest.raises(RecordFormatError, match="context of type str"):
        RunRecord.from_json(json.dumps({"v": 1, "run": {"id": "r", "responses": [], "context": "oops"}}))
