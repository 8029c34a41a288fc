"""``LabelStudioCallbackHandler``: every LLM or chat-model call of a LangChain program becomes a Label Studio task.

The hooks only record: the start hooks keep what the run was asked, ``on_llm_new_token`` notes the first token,
``on_llm_end`` (or ``on_llm_error`` with ``log_errors``) turns the run into ``RunRecord``s, masks them and appends
them to the durable outbox; a background worker imports records in batches. Chain, tool and retriever hooks remember
parent links, so each model call of an agent or a retrieval chain knows the root run it belongs to (the other
callbacks, agent actions and custom events, are events of runs already known and start none). Retriever hooks also
keep the documents they returned, per root run, for the model calls after them. Nothing on the LLM call's path
touches the network, and nothing the handler does can break the user's chain.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from ls_langchain.destination import ProjectDelivery, ProjectSpec, open_delivery
from ls_langchain.errors import (
    ConfigurationError,
    OutboxFullError,
)
from ls_langchain.jsonsafe import text_of
from ls_langchain.labeling import LabelStudioMode, TaskLayout, default_config, read_layout
from ls_langchain.masking import MASKED, Mask, mask_record
from ls_langchain.messages import conversation_to_dicts, generation_to_dict
from ls_langchain.retrieval import Retrieval, context_of, query_text, read_documents, retrieval_meta
from ls_langchain.runmeta import error_facts, pick_model_name, run_meta
from ls_langchain.studio import Project, resolve_api_key, resolve_url
from ls_langchain.tasks import RunRecord

__all__ = ["DEFAULT_PROJECT_NAME", "LabelStudioCallbackHandler"]

logger = logging.getLogger("ls_langchain")

DEFAULT_PROJECT_NAME = "LangChain-%Y-%m-%d"
# Runs that started but never ended nor failed (a cancelled task, say) are forgotten past this many.
_MAX_OPEN_RUNS = 10_000
# Label Studio refuses longer project titles (its Project.title field).
_MAX_TITLE = 50
# Root runs whose retrieved documents are kept for the model calls after them; a root the handler never sees end
# (it was given only to the retriever and the model) is forgotten past this many.
_MAX_RETRIEVING_ROOTS = 1_000
# Retriever runs kept per root run, a bound for agents that retrieve in a loop.
_MAX_RETRIEVALS_PER_ROOT = 100
_ENABLED_ENV = "LS_LANGCHAIN_ENABLED"
_SAMPLE_RATE_ENV = "LS_LANGCHAIN_SAMPLE_RATE"
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@dataclass
class _Run:
    """What the start hook saw, kept until the run ends."""

    prompts: list[str] | None
    messages: list[list[dict[str, Any]]] | None
    metadata: dict[str, Any]
    invocation_params: dict[str, Any]
    parent_run_id: UUID | None
    root_run_id: UUID | None
    tags: list[str]
    class_name: str | None
    retrievals: tuple[Retrieval, ...] = ()
    started: float = field(default_factory=time.time)
    first_token: float | None = None


@dataclass(frozen=True)
class _Retrieving:
    """A retriever run under way: its query, its root run, when it started."""

    query: str
    root_run_id: UUID
    started: float = field(default_factory=time.time)


def _resolve_project_id(project_id: int | str | None) -> int | None:
    value = project_id if project_id is not None else os.environ.get("LABEL_STUDIO_PROJECT_ID") or None
    if value is None:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, (int, str)):  # 1.7 must not be read as project 1
            raise ValueError(value)
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"Label Studio project id {value!r} is not a whole number "
            "(argument project_id= or LABEL_STUDIO_PROJECT_ID)."
        ) from exc


def _resolve_enabled(enabled: bool | None) -> bool:
    if enabled is not None:
        return bool(enabled)
    raw = os.environ.get(_ENABLED_ENV, "").strip()
    if not raw or raw.lower() in _TRUE_WORDS:
        return True
    if raw.lower() in _FALSE_WORDS:
        return False
    raise ConfigurationError(f"{_ENABLED_ENV}={raw!r} is neither on nor off: use true/false, 1/0, yes/no or on/off.")


def _resolve_sample_rate(sample_rate: float | None) -> float:
    value: object = sample_rate
    if sample_rate is None:
        value = os.environ.get(_SAMPLE_RATE_ENV, "").strip() or "1"
        with contextlib.suppress(ValueError):
            value = float(str(value))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigurationError(
            f"Sample rate {value!r} is not a number from 0 to 1 (argument sample_rate= or {_SAMPLE_RATE_ENV}): "
            "0.1 logs one run in ten."
        )
    return float(value)


def _sampled(run_id: UUID, rate: float) -> bool:
    """Whether a run is logged: a hash of the id, so every process and handler answers the same for one run.

    The hooks pass the root run's id, so the model calls of one agent or chain run are all logged or none.
    """
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(run_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big") < rate * 2**64


def _resolve_mode(mode: str | LabelStudioMode) -> LabelStudioMode:
    try:
        return LabelStudioMode(mode)
    except ValueError as exc:
        choices = ", ".join(repr(m.value) for m in LabelStudioMode)
        raise ConfigurationError(f"Unknown mode {mode!r}: use one of {choices}.") from exc


def _warn_if_one_line(layout: TaskLayout, where: str) -> None:
    """Say so when Label Studio would edit the response on one line: edits then lose the answer's line breaks."""
    if not layout.response_multiline:
        logger.warning(
            "ls-langchain: %s edits its response TextArea %r on one line, so an answer someone edits loses its line "
            'breaks: give that <TextArea> rows="4" (any number above 1).',
            where,
            layout.response_name,
        )


class LabelStudioCallbackHandler(BaseCallbackHandler):
    """Logs LLM and chat-model calls into a Label Studio project; a drop-in for langchain_community's handler.

    ``sample_rate`` logs that share of runs (decided by run id), ``mask`` rewrites every text before it is stored,
    ``log_errors`` turns failed calls into tasks, and ``enabled=False`` (or ``LS_LANGCHAIN_ENABLED=false``) turns
    the handler into a no-op that needs no Label Studio settings at all.
    """

    # The hooks do no network I/O (a local SQLite append), so async chains may call them inline.
    run_inline = True
    raise_error = False

    def __init__(
        self,
        api_key: str | None = None,
        url: str | None = None,
        project_id: int | str | None = None,
        project_name: str = DEFAULT_PROJECT_NAME,
        project_config: str | None = None,
        mode: str | LabelStudioMode = LabelStudioMode.PROMPT,
        *,
        enabled: bool | None = None,
        sample_rate: float | None = None,
        mask: Mask | None = None,
        log_errors: bool = False,
        outbox_dir: str | os.PathLike[str] | None = None,
        flush_at: int = 500,
        flush_interval: float = 1.0,
        retry_rejected_after: float = 30.0,
    ) -> None:
        super().__init__()
        self.enabled = _resolve_enabled(enabled)
        self.sample_rate = _resolve_sample_rate(sample_rate)
        if mask is not None and not callable(mask):
            raise ConfigurationError(f"mask must be a function from str to str, got {type(mask).__name__}.")
        self.mask = mask
        self.log_errors = log_errors
        self.mode = _resolve_mode(mode)
        self.url = resolve_url(url)
        self.project_name = datetime.today().strftime(project_name)
        if len(self.project_name) < 3:
            raise ConfigurationError(f"Project name {self.project_name!r} is too short: Label Studio needs 3 or more.")
        if len(self.project_name) > _MAX_TITLE:
            raise ConfigurationError(
                f"Project name {self.project_name[:60]!r}... is {len(self.project_name)} characters long: Label "
                f"Studio allows at most {_MAX_TITLE}."
            )
        self.project_config = project_config if project_config is not None else default_config(self.mode)
        layout = read_layout(self.project_config)  # raises LabelingConfigError now rather than at the first import
        self._runs: dict[UUID, _Run] = {}
        self._parents: dict[UUID, UUID | None] = {}
        self._retrieving: dict[UUID, _Retrieving] = {}
        self._retrieved: dict[UUID, list[Retrieval]] = {}  # per root run, in the order retrievers ended
        self._delivery: ProjectDelivery | None = None
        if not self.enabled:
            return
        _warn_if_one_line(layout, "The labeling config")
        spec = ProjectSpec(self.url, _resolve_project_id(project_id), self.project_name, self.project_config)
        self._delivery = open_delivery(
            spec,
            resolve_api_key(api_key),
            outbox_dir=Path(outbox_dir) if outbox_dir is not None else None,
            flush_at=flush_at,
            flush_interval=flush_interval,
            retry_rejected_after=retry_rejected_after,
        )
        connected = self._delivery.connect()
        if connected is not None and layout.response_multiline:  # a project that existed has a config of its own
            project, project_layout = connected
            _warn_if_one_line(project_layout, f"Project {project.id} ({project.title!r})")

    @property
    def project(self) -> Project | None:
        """The Label Studio project runs go to, once it has been reached."""
        return self._delivery.project if self._delivery else None

    @property
    def project_id(self) -> int | None:
        if self._delivery is None:
            return None
        project = self._delivery.project
        return project.id if project else self._delivery.destination.spec.project_id

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is in Label Studio; False if ``timeout`` ran out first."""
        return self._delivery.flush(timeout) if self._delivery else True

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush within ``timeout`` and stop the background worker; what is left stays in the outbox."""
        return self._delivery.close(timeout) if self._delivery else True

    # A disabled handler asks LangChain not to call it at all.

    @property
    def ignore_llm(self) -> bool:
        return not self.enabled

    @property
    def ignore_chat_model(self) -> bool:
        return not self.enabled

    @property
    def ignore_chain(self) -> bool:
        return not self.enabled

    @property
    def ignore_agent(self) -> bool:
        return not self.enabled

    @property
    def ignore_retriever(self) -> bool:
        return not self.enabled

    # Chains, tools and retrievers: their parent links, to find the root run of each model call.

    def _enter(self, run_id: UUID, parent_run_id: UUID | None) -> None:
        if len(self._parents) >= _MAX_OPEN_RUNS:
            _forget_oldest(self._parents)
        self._parents[run_id] = parent_run_id

    def _root(self, parent_run_id: UUID | None) -> UUID | None:
        root = parent_run_id
        for _ in range(_MAX_OPEN_RUNS):  # bounded, should a cycle ever appear
            up = self._parents.get(root) if root is not None else None
            if up is None:
                return root
            root = up
        return root

    def on_chain_start(
        self, serialized: dict[str, Any], inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any
    ) -> None:
        self._enter(run_id, parent_run_id)

    def _exit(self, run_id: UUID) -> None:
        """A run ended: forget its parent link and, if it was a root run, the documents retrieved under it."""
        self._parents.pop(run_id, None)
        self._retrieved.pop(run_id, None)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **_: Any) -> None:
        self._exit(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **_: Any) -> None:
        self._exit(run_id)

    def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any
    ) -> None:
        self._enter(run_id, parent_run_id)

    def on_tool_end(self, output: Any, *, run_id: UUID, **_: Any) -> None:
        self._exit(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **_: Any) -> None:
        self._exit(run_id)

    # Retrievers: a parent link like a chain's, and what they returned for the model calls after them.

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **_: Any,
    ) -> None:
        self._enter(run_id, parent_run_id)
        root_run_id = self._root(parent_run_id) or run_id
        if not _sampled(root_run_id, self.sample_rate):
            return
        if len(self._retrieving) >= _MAX_OPEN_RUNS:
            _forget_oldest(self._retrieving)
        try:
            self._retrieving[run_id] = _Retrieving(query_text(query), root_run_id)
        except Exception:  # a query whose str() raises: the chain goes on
            logger.exception("ls-langchain: could not read the query of retriever run %s", run_id)

    def on_retriever_end(self, documents: Sequence[Document], *, run_id: UUID, **_: Any) -> None:
        self._keep_retrieval(run_id, documents, None)
        self._exit(run_id)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **_: Any) -> None:
        self._keep_retrieval(run_id, (), error)
        self._exit(run_id)

    def _keep_retrieval(self, run_id: UUID, documents: Sequence[Any], error: BaseException | None) -> None:
        """Keep what a retriever run returned (or that it failed) under its root run; never raises."""
        retrieving = self._retrieving.pop(run_id, None)
        if retrieving is None:
            return
        try:
            read = read_documents(documents)
            retrieval = Retrieval(
                run_id=str(run_id),
                query=retrieving.query,
                documents=tuple(read),
                document_count=len(documents),
                started=retrieving.started,
                ended=time.time(),
                error=error_facts(error) if error is not None else None,
            )
            kept = self._retrieved.get(retrieving.root_run_id)
            if kept is None:
                if len(self._retrieved) >= _MAX_RETRIEVING_ROOTS:
                    _forget_oldest(self._retrieved)
                kept = self._retrieved.setdefault(retrieving.root_run_id, [])
            if len(kept) < _MAX_RETRIEVALS_PER_ROOT:
                kept.append(retrieval)
        except Exception:
            logger.exception("ls-langchain: could not read the documents of retriever run %s", run_id)

    # LLM and chat-model hooks.

    def _start(
        self,
        run_id: UUID,
        root_run_id: UUID | None,
        serialized: dict[str, Any] | None,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        invocation_params: dict[str, Any] | None,
        prompts: list[str] | None = None,
        messages: list[list[dict[str, Any]]] | None = None,
    ) -> None:
        if len(self._runs) >= _MAX_OPEN_RUNS:
            _forget_oldest(self._runs)
        retrieved = self._retrieved.get(root_run_id) if root_run_id is not None else None
        self._runs[run_id] = _Run(
            prompts=prompts,
            messages=messages,
            metadata=metadata or {},
            invocation_params=invocation_params or {},
            parent_run_id=parent_run_id,
            root_run_id=root_run_id,
            tags=tags or [],
            class_name=_class_name(serialized),
            retrievals=tuple(retrieved) if retrieved else (),
        )

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        root_run_id = self._root(parent_run_id)
        if not _sampled(root_run_id or run_id, self.sample_rate):
            return
        params = kwargs.get("invocation_params")
        self._start(run_id, root_run_id, serialized, parent_run_id, tags, metadata, params, prompts=list(prompts))

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        root_run_id = self._root(parent_run_id)
        if not _sampled(root_run_id or run_id, self.sample_rate):
            return
        try:
            dialogues = [conversation_to_dicts(batch) for batch in messages]
        except Exception:  # an exotic message must not break the chain; log what can be read
            logger.exception("ls-langchain: could not read the messages of run %s", run_id)
            dialogues = [[{"role": "user", "content": text_of(batch)}] for batch in messages]
        params = kwargs.get("invocation_params")
        self._start(run_id, root_run_id, serialized, parent_run_id, tags, metadata, params, messages=dialogues)

    def on_llm_new_token(
        self, token: str | list[str | dict[str, Any]], *, chunk: Any = None, run_id: UUID, **_: Any
    ) -> None:
        run = self._runs.get(run_id)
        if run is not None and run.first_token is None and (token or _has_tool_call_chunk(chunk)):
            run.first_token = time.time()

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **_: Any) -> None:
        run = self._runs.pop(run_id, None)
        if run is not None:
            ended = time.time()
            self._deliver(run_id, lambda: _records(run_id, run, response, ended))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, response: LLMResult | None = None, **_: Any) -> None:
        run = self._runs.pop(run_id, None)
        if run is None or not self.log_errors:
            return
        ended = time.time()
        # A stream that broke off hands over what had arrived first; what follows is only the error's metadata.
        if run.first_token is not None and response is not None and response.generations and response.generations[0]:
            partial = LLMResult(generations=response.generations[:1])
            self._deliver(run_id, lambda: _records(run_id, run, partial, ended, error))
        else:
            self._deliver(run_id, lambda: _failed_records(run_id, run, error, ended))

    def _deliver(self, run_id: UUID, make_records: Callable[[], list[RunRecord]]) -> None:
        """Mask the run's records and append them to the outbox; whatever goes wrong is logged, never raised."""
        if self._delivery is None:
            return
        try:
            for record in make_records():
                if self.mask is not None:
                    record, failures = mask_record(record, self.mask)
                    if failures:
                        logger.warning(
                            "ls-langchain: the mask failed on %d value(s) of run %s; they were logged as %r.",
                            failures,
                            run_id,
                            MASKED,
                        )
                self._delivery.submit(record.id, record.to_json())
        except OutboxFullError as exc:
            self._delivery.note_dropped("the outbox was full")
            logger.warning("ls-langchain: %s; run %s was not logged. Is Label Studio reachable?", exc, run_id)
        except Exception:
            logger.exception("ls-langchain: could not log run %s", run_id)


def _forget_oldest(runs: dict[UUID, Any]) -> None:
    """Drop the entry added first (dicts keep insertion order): a run that never ended."""
    with contextlib.suppress(StopIteration, RuntimeError):  # emptied or changed by another thread meanwhile
        runs.pop(next(iter(runs)), None)


def _has_tool_call_chunk(chunk: Any) -> bool:
    return bool(getattr(getattr(chunk, "message", None), "tool_call_chunks", None))


def _class_name(serialized: dict[str, Any] | None) -> str | None:
    """The LangChain class of the model (``FakeListLLM``, say): a model name of last resort."""
    if not serialized:
        return None
    name = serialized.get("name") or (serialized.get("id") or [None])[-1]
    return str(name) if name else None


def _inputs(run: _Run) -> Sequence[Any]:
    return run.prompts if run.prompts is not None else run.messages or []


def _record_id(run_id: UUID, index: int, count: int) -> str:
    return str(run_id) if count == 1 else f"{run_id}:{index}"


def _meta(run_id: UUID, run: _Run, ended: float, **outcome: Any) -> dict[str, Any]:
    meta = run_meta(
        run_id=run_id,
        parent_run_id=run.parent_run_id,
        root_run_id=run.root_run_id,
        tags=run.tags,
        metadata=run.metadata,
        invocation_params=run.invocation_params,
        started=run.started,
        ended=ended,
        first_token=run.first_token,
        **outcome,
    )
    if run.retrievals:
        meta["retrieval"] = retrieval_meta(run.retrievals)
    return meta


def _records(
    run_id: UUID, run: _Run, response: LLMResult, ended: float, error: BaseException | None = None
) -> list[RunRecord]:
    """One record per prompt (or conversation) of the run, each holding all of that prompt's candidates (partial
    ones, with ``error`` in the meta, when a stream failed)."""
    inputs = _inputs(run)
    model_name = pick_model_name(run.metadata, run.invocation_params, response.llm_output) or run.class_name
    count = len(response.generations)
    # The provider's llm_output covers the whole call: it describes one prompt only when there was one.
    llm_output = response.llm_output if count == 1 else None
    records = []
    for index, generations in enumerate(response.generations):
        source = inputs[index] if index < len(inputs) else None
        candidates = [generation_to_dict(generation) for generation in generations]
        tool_calls = [candidate.get("tool_calls", []) for candidate in candidates]
        records.append(
            RunRecord(
                id=_record_id(run_id, index, count),
                responses=[text_of(candidate["content"]) for candidate in candidates],
                prompt=source if isinstance(source, str) else None,
                messages=source if isinstance(source, list) else None,
                model_name=model_name,
                meta=_meta(run_id, run, ended, generations=generations, llm_output=llm_output, error=error),
                response_tool_calls=tool_calls if any(tool_calls) else None,
                context=context_of(run.retrievals),
            )
        )
    return records


def _failed_records(run_id: UUID, run: _Run, error: BaseException, ended: float) -> list[RunRecord]:
    """For ``log_errors``: one record per prompt of a failed run, without responses, its meta saying what failed."""
    inputs = _inputs(run) or [None]
    model_name = pick_model_name(run.metadata, run.invocation_params) or run.class_name
    meta = _meta(run_id, run, ended, error=error)
    return [
        RunRecord(
            id=_record_id(run_id, index, len(inputs)),
            responses=[],
            prompt=source if isinstance(source, str) else None,
            messages=source if isinstance(source, list) else None,
            model_name=model_name,
            meta=meta,
            context=context_of(run.retrievals),
        )
        for index, source in enumerate(inputs)
    ]
