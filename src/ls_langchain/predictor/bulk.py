"""``ls-langchain predict``: a whole project predicted outside Label Studio's 100 s request, and resumable.

Tasks are read page by page (by id, so that paging stays right while predictions are added), predicted
``MAX_CONCURRENCY`` at a time, and imported in bulk, one import at a time. Tasks that already hold a prediction of
the current ``model_version`` are not read at all, so a rerun resumes where the last one stopped. The first Ctrl-C
stops taking tasks and lets the ones in flight finish; a second one abandons them. Either way, every finished
prediction is imported before the run returns. An import whose outcome is unknown is retried only for the tasks
that Label Studio does not hold yet, so no task gets the same prediction twice.

With ``shard`` (``--shard I/N``), N runs on N machines share a project: each reads every page but predicts only
the tasks whose id is I-1 modulo N, so the shares are disjoint, cover every task, and do not move when tasks are
added; each share resumes on its own like a whole run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from langchain_core.language_models import BaseChatModel
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from ls_langchain.errors import ConfigurationError, StudioError
from ls_langchain.predictor.examples import published_pool
from ls_langchain.predictor.interactive import LLMInteractive, background_loop
from ls_langchain.predictor.models import build_chat_model
from ls_langchain.predictor.settings import Settings
from ls_langchain.predictor.state import STATE_FILE_NAME, ProjectRecord
from ls_langchain.predictor.stores import open_state
from ls_langchain.studio import Studio

__all__ = ["TASK_FILTERS", "BulkSummary", "Shard", "Which", "predict_project"]

Which = Literal["annotated", "unlabeled", "all"]
#: The Data Manager filters behind ``--filter``.
TASK_FILTERS: dict[str, list[dict[str, Any]]] = {
    "annotated": [{"filter": "filter:tasks:total_annotations", "operator": "greater", "type": "Number", "value": 0}],
    "unlabeled": [{"filter": "filter:tasks:total_annotations", "operator": "equal", "type": "Number", "value": 0}],
    "all": [],
}
Progress = Callable[[int, int | None], None]
# An import costs Label Studio about 0.8 s whatever its size (0.9 s for 1,000 predictions, 0.8 s for 50): few large
# ones leave the machine to the predictions. At most this many seconds of finished work wait for an import.
_FLUSH_EVERY = 10.0


def _version_filter(version: str, operator: str) -> dict[str, Any]:
    # The value must be a list: Label Studio iterates it (a string would be read character by character).
    return {
        "filter": "filter:tasks:predictions_model_versions",
        "operator": operator,
        "type": "List",
        "value": [version],
    }


@dataclass(frozen=True)
class Shard:
    """Share ``index`` (from 1) of ``count`` in a project's tasks: those whose id is ``index - 1`` modulo ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N`` as given to ``--shard``; anything else is one line saying what is expected."""
        index, _, count = text.partition("/")
        if not (index.strip().isdigit() and count.strip().isdigit()) or not 1 <= int(index) <= int(count):
            raise ConfigurationError(f"--shard must be I/N with 1 <= I <= N (e.g. 1/4), got {text!r}.")
        return cls(int(index), int(count))

    def holds(self, task_id: int) -> bool:
        return task_id % self.count == self.index - 1


@dataclass
class BulkSummary:
    """What a ``predict`` run did, and what it cost where the price is known."""

    project_id: int
    model_version: str
    to_predict: int = 0
    predicted: int = 0
    imported: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    priced: int = 0  # predictions whose model has a known price
    seconds: float = 0.0
    interrupted: bool = False
    errors: Counter[str] = field(default_factory=Counter)
    unfilled: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        """A few lines for a person: counts, speed, tokens, cost, and the commonest problems."""
        rate = self.predicted / self.seconds if self.seconds else 0.0
        lines = [
            f"Project {self.project_id}, model version {self.model_version}: {self.imported} predictions imported, "
            f"{self.failed} tasks failed, of {self.to_predict} to predict ({rate:.1f} tasks/s)"
            + (" - interrupted: run it again to resume." if self.interrupted else "."),
            f"Tokens: {self.input_tokens} in, {self.output_tokens} out"
            + (f"; cost ${self.cost_usd:.6f}" if self.priced else "; cost unknown (set MODEL_PRICES)")
            + (f" for the {self.priced} tasks with a known price." if 0 < self.priced < self.predicted else "."),
        ]
        lines += [f"{count} tasks failed: {error}" for error, count in self.errors.most_common(3)]
        lines += [f"{count} tasks left {control} empty (see --details)" for control, count in self.unfilled.items()]
        return "\n".join(lines)


def predict_project(
    studio: Studio,
    project_id: int,
    *,
    which: Which = "unlabeled",
    limit: int | None = None,
    prompt: str | None = None,
    settings: Settings | None = None,
    chat_model: BaseChatModel | None = None,
    progress: Progress | None = None,
    details: Path | None = None,
    batch_size: int = 500,
    page_size: int = 500,
    shard: Shard | None = None,
) -> BulkSummary:
    """Predict the project's tasks that lack a prediction of the current model version; see the module docstring.

    The prompt is ``prompt``, else the one people submitted last (shared state), else ``DEFAULT_PROMPT``; the
    project's extra params from ``/setup`` and, with ``FEW_SHOT``, its published examples apply as in the server.
    """
    if limit is not None and limit < 1:
        raise ConfigurationError(f"--limit must be at least 1, got {limit}.")
    base = settings if settings is not None else Settings.from_env()
    state = (
        open_state(base.model_dir, base.state_url)
        if base.state_url or (Path(base.model_dir) / STATE_FILE_NAME).exists()
        else None
    )
    record = state.get(str(project_id)) if state else ProjectRecord()
    project = studio.get_project(project_id)
    project_settings = base.merged(record.extra_params)
    backend = LLMInteractive(
        project.label_config,
        chat_model or build_chat_model(project_settings),
        prompt=record.prompt,
        examples=published_pool(state, str(project_id)) if state and project_settings.few_shot else None,
        base_settings=project_settings,
    )
    use_prompt = prompt or backend.current_prompt()
    if not use_prompt:
        raise ConfigurationError(
            f"No prompt for project {project_id}: pass --prompt, set DEFAULT_PROMPT, or submit one in Label Studio "
            "with the backend connected."
        )
    version = backend.model_version(use_prompt)
    if state:
        state.add_version(str(project_id), version)
    with contextlib.ExitStack() as stack:
        try:
            out = stack.enter_context(details.open("a", encoding="utf-8")) if details else None
        except OSError as exc:
            raise ConfigurationError(f"--details {details} cannot be written: {exc.strerror or exc}.") from None
        run = _Run(studio, project_id, backend, use_prompt, version, TASK_FILTERS[which], limit, progress, out, shard)
        run.sizes(batch_size=batch_size, page_size=page_size)
        # The backend's own long-lived loop: providers cache async clients that a loop per run would leave closed.
        loop = background_loop()
        future = asyncio.run_coroutine_threadsafe(run.run(), loop)
        while True:
            try:
                return future.result(timeout=0.5)
            except concurrent.futures.TimeoutError:
                continue
            except KeyboardInterrupt:
                loop.call_soon_threadsafe(run.interrupt)


class _Run:
    """One ``predict`` run: a producer of task pages, ``MAX_CONCURRENCY`` workers, one importer."""

    def __init__(
        self,
        studio: Studio,
        project_id: int,
        backend: LLMInteractive,
        prompt: str,
        version: str,
        filters: list[dict[str, Any]],
        limit: int | None,
        progress: Progress | None,
        details: IO[str] | None,
        shard: Shard | None = None,
    ) -> None:
        self.studio, self.project_id, self.backend, self.details = studio, project_id, backend, details
        self.shard = shard or Shard(1, 1)
        self.prompt, self.version, self.limit = prompt, version, limit
        self.filters = [*filters, _version_filter(version, "not_contains")]
        self.progress = progress or (lambda done, total: None)
        self.summary = BulkSummary(project_id, version)
        self.done: list[dict[str, Any]] = []
        self.workers = backend.settings.max_concurrency
        self.stopping = False
        self.failure: BaseException | None = None
        self.sizes(batch_size=500, page_size=500)
        self.ready, self.finished = asyncio.Event(), asyncio.Event()  # a batch is ready; the workers are done
        self.producer: asyncio.Task[None] | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def sizes(self, *, batch_size: int, page_size: int) -> None:
        """Predictions per import and tasks per page; the queue holds a page and then some, so that the next page
        is fetched while this one is predicted (a page takes Label Studio about 0.4 s)."""
        self.batch_size, self.page_size = batch_size, page_size
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=page_size + 2 * self.workers)

    async def run(self) -> BulkSummary:
        started = time.monotonic()
        if not self.stopping:  # an interrupt may come before the run has started
            self.producer = asyncio.create_task(self._produce())
        self.tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]
        importer = asyncio.create_task(self._import_loop())
        try:
            await asyncio.gather(*self.tasks, return_exceptions=True)
            if self.producer:
                self.producer.cancel()
            self.finished.set()
            self.ready.set()
            await importer
        finally:
            self.summary.seconds = time.monotonic() - started
        if self.failure is not None:
            raise self.failure
        return self.summary

    def interrupt(self) -> None:
        """Ctrl-C: the first stops taking tasks, a second abandons the ones in flight."""
        if self.summary.interrupted:
            for worker in self.tasks:
                worker.cancel()
        self.summary.interrupted = True
        self._stop()

    def _stop(self) -> None:
        """Take no more tasks: the producer ends, the queue empties, each worker finishes what it holds."""
        if self.stopping:
            return
        self.stopping = True
        if self.producer:
            self.producer.cancel()
        while not self.queue.empty():
            self.queue.get_nowait()
        for _ in range(self.workers):
            self.queue.put_nowait(None)

    async def _produce(self) -> None:
        after, sent, seen = 0, 0, 0
        try:
            while self.limit is None or sent < self.limit:
                # A shard reads everyone's pages (the filters cannot select by id modulo N) and keeps its own tasks.
                size = (
                    self.page_size
                    if self.limit is None or self.shard.count > 1
                    else min(self.page_size, self.limit - sent)
                )
                page, matching = await asyncio.to_thread(
                    self.studio.task_page, self.project_id, after_id=after, filters=self.filters, page_size=size
                )
                if not seen:
                    total = -(-matching // self.shard.count)  # an estimate while shards are read, exact otherwise
                    self.summary.to_predict = total if self.limit is None else min(total, self.limit)
                    self.progress(0, self.summary.to_predict)
                if not page:
                    break
                seen += len(page)
                after = int(page[-1]["id"])
                tasks = [task for task in page if self.shard.holds(int(task["id"]))]
                if self.limit is not None:
                    tasks = tasks[: self.limit - sent]
                for task in tasks:
                    await self.queue.put(task)
                sent += len(tasks)
        except StudioError as exc:
            self.failure = exc
            self._stop()
            return
        if self.shard.count > 1:
            self.summary.to_predict = sent
        for _ in range(self.workers):  # after the tasks queued: each worker ends when it reaches one
            await self.queue.put(None)

    async def _work(self) -> None:
        while (task := await self.queue.get()) is not None:
            prediction = await self.backend.apredict_task(task, self.prompt, self.version)
            self._record(task, prediction)

    def _record(self, task: Mapping[str, Any], prediction: dict[str, Any]) -> None:
        summary = self.summary
        meta = prediction.get("meta") or {}
        if prediction.get("error"):
            summary.failed += 1
            summary.errors[str(prediction["error"])] += 1
        else:
            summary.predicted += 1
            self.done.append({"task": task["id"], "result": prediction["result"], "model_version": self.version})
            if len(self.done) >= self.batch_size:
                self.ready.set()
        summary.input_tokens += int(meta.get("input_tokens", 0))
        summary.output_tokens += int(meta.get("output_tokens", 0))
        if "cost_usd" in meta:
            summary.cost_usd += float(meta["cost_usd"])
            summary.priced += 1
        summary.unfilled.update(list(meta.get("unfilled") or ()))
        if self.details is not None:
            line = {"task": task["id"], "model_version": self.version, "meta": meta, "error": prediction.get("error")}
            self.details.write(json.dumps(line) + "\n")
        self.progress(summary.predicted + summary.failed, summary.to_predict)

    async def _import_loop(self) -> None:
        """Import finished predictions one import at a time: full batches at once, the rest every ``_FLUSH_EVERY``
        seconds and at the end."""
        while True:
            try:
                await asyncio.wait_for(self.ready.wait(), timeout=_FLUSH_EVERY)
                quiet = False
            except TimeoutError:
                quiet = True
            self.ready.clear()
            while self.done and (quiet or self.finished.is_set() or len(self.done) >= self.batch_size):
                batch, self.done = self.done[: self.batch_size], self.done[self.batch_size :]
                try:
                    await self._send(batch)
                except StudioError as exc:  # what is not imported is predicted again by the next run
                    self.failure = self.failure or exc
                    self.done.clear()
                    self._stop()
            if self.finished.is_set() and not self.done:
                return

    async def _send(self, batch: list[dict[str, Any]]) -> None:
        """Import ``batch``; after an error that may have stored it anyway, send only what Label Studio lacks."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(4),
            wait=wait_exponential(multiplier=0.5, max=8),
            retry=retry_if_exception(lambda exc: isinstance(exc, StudioError) and exc.transient),
            reraise=True,
        )
        missing = batch
        async for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    missing = await self._not_stored(missing)
                if missing:
                    await asyncio.to_thread(self.studio.import_predictions, self.project_id, missing)
        self.summary.imported += len(batch)

    async def _not_stored(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The predictions of ``batch`` that Label Studio does not hold yet (after an import of unknown outcome)."""
        ids = [int(p["task"]) for p in batch]
        upto = {"filter": "filter:tasks:id", "operator": "less", "type": "Number", "value": max(ids) + 1}
        stored, _ = await asyncio.to_thread(
            self.studio.task_page,
            self.project_id,
            after_id=min(ids) - 1,
            filters=[upto, _version_filter(self.version, "contains")],
            page_size=max(ids) - min(ids) + 1,
        )
        held = {int(task["id"]) for task in stored}
        return [p for p in batch if int(p["task"]) not in held]
