"""Pure functions for what a retriever gave a model: the documents as a task shows them, and the facts for ``meta``.

The handler keeps each retriever run of a root run as a ``Retrieval``; a model call later in that root run carries
them as ``data.context`` (a list of ``{"source", "text"}``, cut at ``CONTEXT_LIMIT`` characters with a note saying
what was left out) and as ``meta.retrieval`` (query, document ids, sources, scores, latency).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ls_langchain.jsonsafe import text_of
from ls_langchain.runmeta import milliseconds, names_secret

__all__ = [
    "CONTEXT_LIMIT",
    "CONTEXT_NOTE_SOURCE",
    "Retrieval",
    "context_of",
    "query_text",
    "read_documents",
    "retrieval_meta",
]

#: Characters of document text a task carries at most; what is past it is named in a closing note.
CONTEXT_LIMIT = 20_000
#: The ``source`` of the note that closes a context cut at ``CONTEXT_LIMIT``.
CONTEXT_NOTE_SOURCE = "ls-langchain"
# Documents kept per retriever run: ids and sources past this many would only weigh on memory and meta.
_MAX_DOCUMENTS = 100
_MAX_QUERY = 2_000
# Where loaders and vector stores put a document's origin, best first.
_SOURCE_KEYS = ("source", "url", "file_path", "path", "filename", "title")
# Where retrievers and rerankers put a document's score.
_SCORE_KEYS = ("relevance_score", "score", "similarity_score")


@dataclass(frozen=True)
class Retrieval:
    """One retriever run: the query, the documents it returned (``read_documents``), when it ran (``time.time()``
    seconds) and, if it failed, what failed (``runmeta.error_facts``)."""

    run_id: str
    query: str
    documents: tuple[dict[str, Any], ...]
    document_count: int
    started: float
    ended: float
    error: dict[str, str] | None = None


def _safe_source(source: str) -> str:
    """A source without credentials: a URL loses its user and password and query parameters that name secrets."""
    if "://" not in source:
        return source
    try:
        parts = urlsplit(source)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        query = urlencode([(key, value) for key, value in parse_qsl(parts.query) if not names_secret(key)])
        return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))
    except ValueError:  # not a URL after all
        return source


def _source(metadata: Mapping[str, Any], document_id: str | None, position: int) -> str:
    for key in _SOURCE_KEYS:
        value = metadata.get(key)
        if value not in (None, ""):
            source = _safe_source(text_of(value))
            page = metadata.get("page_label")
            return f"{source}, page {page}" if page not in (None, "") else source
    return document_id or f"document {position}"


def _score(metadata: Mapping[str, Any]) -> float | None:
    for key in _SCORE_KEYS:
        value = metadata.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def read_documents(documents: Sequence[Any], limit: int = CONTEXT_LIMIT) -> list[dict[str, Any]]:
    """The documents as dicts of ``id``, ``source``, ``text`` (at most ``limit`` characters), ``chars`` (the full
    length) and ``score`` where the retriever gave one; the first ``_MAX_DOCUMENTS`` only. Anything that is not a
    ``Document`` is read as its text."""
    result = []
    for position, document in enumerate(documents[:_MAX_DOCUMENTS], start=1):
        metadata = getattr(document, "metadata", None)
        metadata = metadata if isinstance(metadata, Mapping) else {}
        raw_id = getattr(document, "id", None) or metadata.get("id")
        document_id = text_of(raw_id) if raw_id not in (None, "") else None
        text = getattr(document, "page_content", None)
        text = text if isinstance(text, str) else text_of(document)
        entry: dict[str, Any] = {
            "id": document_id,
            "source": _source(metadata, document_id, position),
            "text": text[:limit],
            "chars": len(text),
        }
        score = _score(metadata)
        if score is not None:
            entry["score"] = score
        result.append(entry)
    return result


def query_text(query: Any) -> str:
    """The query as text, cut to a length that keeps ``meta`` small."""
    text = query if isinstance(query, str) else text_of(query)
    return text[:_MAX_QUERY]


def context_of(retrievals: Sequence[Retrieval], limit: int = CONTEXT_LIMIT) -> list[dict[str, str]] | None:
    """The documents of ``retrievals`` in order, as ``{"source", "text"}``, with at most ``limit`` characters of
    text; past that, the last document shown is cut and a note (source ``CONTEXT_NOTE_SOURCE``) says what is left
    out. None when no document was retrieved."""
    documents = [document for retrieval in retrievals for document in retrieval.documents]
    left_out = sum(retrieval.document_count - len(retrieval.documents) for retrieval in retrievals)
    if not documents and not left_out:
        return None
    context: list[dict[str, str]] = []
    room = limit
    shown = 0
    omitted_chars = 0
    for document in documents:
        if room <= 0:
            omitted_chars += document["chars"]
            continue
        text = document["text"]
        if document["chars"] > room:
            omitted_chars += document["chars"] - room
            text = text[:room] + "…"
        context.append({"source": document["source"], "text": text})
        room -= min(document["chars"], room)
        shown += 1
    left_out += len(documents) - shown
    if omitted_chars or left_out:
        context.append({"source": CONTEXT_NOTE_SOURCE, "text": _cut_note(limit, omitted_chars, left_out)})
    return context


def _cut_note(limit: int, omitted_chars: int, omitted_documents: int) -> str:
    parts = []
    if omitted_documents:
        parts.append(f"{omitted_documents} more document{'s' if omitted_documents != 1 else ''}")
    if omitted_chars:
        parts.append(f"{omitted_chars:,} characters of text")
    return (
        f"Cut off here: {' and '.join(parts)} retrieved in this run are not shown "
        f"(a task shows up to {limit:,} characters of retrieved text; meta.retrieval names the documents)."
    )


def retrieval_meta(retrievals: Sequence[Retrieval]) -> list[dict[str, Any]]:
    """``meta.retrieval``: per retriever run, its query, latency, and the ids, sources and scores of its documents."""
    result = []
    for retrieval in retrievals:
        entry: dict[str, Any] = {
            "run_id": retrieval.run_id,
            "query": retrieval.query,
            "latency_ms": milliseconds(retrieval.ended - retrieval.started),
            "document_count": retrieval.document_count,
            "document_ids": [document["id"] for document in retrieval.documents],
            "sources": [document["source"] for document in retrieval.documents],
        }
        scores = [document.get("score") for document in retrieval.documents]
        if any(score is not None for score in scores):
            entry["scores"] = scores
        if retrieval.error is not None:
            entry["error"] = retrieval.error
        result.append(entry)
    return result
