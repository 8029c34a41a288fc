"""Few-shot examples: what people submitted, kept per project, and the ones most like a task shown to the model.

An example is one task's input (its source text, as the model reads it, and its data, so that the prompt renders
for it as for any task) and a person's annotation written in the answer schema the model answers in
(``structured.answer_of``). The live pool grows with every submitted annotation; predictions read a published
snapshot of it (``ExamplePool``), whose version is a hash of its examples and goes into ``model_version``. A
snapshot is published by ``ls-langchain learn``, and when ``FEW_SHOT_REFRESH`` changes have come in since the last
one, so that Label Studio does not predict the whole project again after every single annotation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ls_langchain.predictor.inputs import MediaLoader
from ls_langchain.predictor.layout import Layout
from ls_langchain.predictor.structured import answer_of

if TYPE_CHECKING:
    from ls_langchain.predictor.settings import Settings
    from ls_langchain.predictor.state import ProjectState

__all__ = [
    "EMPTY_POOL",
    "Example",
    "ExamplePool",
    "after_change",
    "published_pool",
    "read_example",
    "snapshot_version",
]


@dataclass(frozen=True)
class Example:
    """One task's input and a person's answer to it, in the answer schema."""

    task_id: int
    annotation_id: int | None
    input: str  # the task's source text, as the model reads it: what similarity is measured on
    data: dict[str, Any]  # the task's data, so that the prompt renders for the example as for any task
    answer: dict[str, Any]
    updated_at: float  # when the annotation was last changed (epoch seconds): the pool keeps the most recent

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Example:
        return cls(**json.loads(text))


def _moment(value: Any) -> float:
    """An annotation's ISO 8601 time as epoch seconds; now, when it gives none."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


async def read_example(
    layout: Layout, loader: MediaLoader, task: Mapping[str, Any], annotation: Mapping[str, Any]
) -> Example | None:
    """The example one submitted annotation makes, or None: a skipped annotation, an image task (no text to compare
    or to show), or an annotation that answers nothing but the prompt."""
    data = task.get("data")
    if annotation.get("was_cancelled") or layout.source.tag == "Image" or not isinstance(data, Mapping):
        return None
    result = annotation.get("result")
    answer = answer_of(layout.controls, layout.responses, result if isinstance(result, list) else [])
    if answer is None or task.get("id") is None:
        return None
    return Example(
        task_id=int(task["id"]),
        annotation_id=int(annotation["id"]) if annotation.get("id") is not None else None,
        input=await loader.source_text(layout.source, data),
        data=dict(data),
        answer=answer,
        updated_at=_moment(annotation.get("updated_at") or annotation.get("created_at")),
    )


def snapshot_version(examples: Sequence[Example]) -> str:
    """A hash of a snapshot's examples: the same examples, the same version, on every worker and replica."""
    if not examples:
        return "pool-empty"
    digest = hashlib.sha256("\n".join(example.to_json() for example in examples).encode()).hexdigest()
    return f"pool-{digest[:12]}"


def _tokens(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    tokens: list[list[str]] = bm25s.tokenize(list(texts), stopwords="en", return_ids=False, show_progress=False)
    return tokens


class ExamplePool:
    """A published snapshot of a project's examples, most recent first, ranked against a task's text by BM25."""

    def __init__(self, examples: Sequence[Example]) -> None:
        self.examples = tuple(examples)
        self.version = snapshot_version(self.examples)
        self._index: Any = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.examples)

    def _scores(self, text: str) -> list[float]:
        """BM25 score of every example's input against ``text`` (the index is built once per snapshot)."""
        import bm25s

        with self._lock:
            if self._index is None:
                self._index = bm25s.BM25()
                self._index.index(_tokens([example.input for example in self.examples]), show_progress=False)
        [query] = _tokens([text])
        return [float(score) for score in self._index.get_scores(query)] if query else [0.0] * len(self.examples)

    def nearest(self, text: str, k: int, *, exclude_task: Any = None) -> list[Example]:
        """The ``k`` examples most like ``text``, the most similar last (nearest the task in the conversation); ties
        go to the more recent. The task ``exclude_task`` is never its own example."""
        if k <= 0 or not self.examples:
            return []
        scores = self._scores(text)
        ranked = sorted(range(len(self.examples)), key=lambda i: (-scores[i], i))
        chosen = [self.examples[i] for i in ranked if str(self.examples[i].task_id) != str(exclude_task)][:k]
        return chosen[::-1]


EMPTY_POOL = ExamplePool(())
_cache: OrderedDict[str, ExamplePool] = OrderedDict()
_cache_lock = threading.Lock()
_CACHED_POOLS = 16


def published_pool(state: ProjectState, project: str) -> ExamplePool:
    """The project's published snapshot, read from the shared state once per version and kept with its index."""
    version = state.pool_version(project)
    if not version:
        return EMPTY_POOL
    with _cache_lock:
        if version in _cache:
            _cache.move_to_end(version)
            return _cache[version]
    pool = ExamplePool(state.published_examples(project))
    with _cache_lock:
        _cache[pool.version] = pool
        while len(_cache) > _CACHED_POOLS:
            _cache.popitem(last=False)
    return pool


def after_change(state: ProjectState, project: str, pending: int, settings: Settings) -> str | None:
    """Publish a new snapshot once ``FEW_SHOT_REFRESH`` changes wait; returns its version when one was published."""
    if pending < settings.few_shot_refresh:
        return None
    return state.publish_examples(project, settings.few_shot_pool)
