"""``LabelStudioCallbackHandler``: every LLM or chat-model call of a LangChain program becomes a Label Studio task.

The hooks only record: ``on_llm_end`` turns the run into a ``RunRecord`` and appends it to the durable outbox; a
background worker imports records in batches. Nothing on the LLM call's path touches the network, and nothing
the handler does can break the user's chain.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from ls_langchain.delivery import OutboxFullError, worker_for
from ls_langchain.destination import ProjectDestination, ProjectSpec
from ls_langchain.errors import ConfigurationError, LabelingConfigError, ProjectNotFoundError, StudioError
from ls_langchain.labeling import LabelStudioMode, default_config, read_layout
from ls_langchain.studio import Project, Studio
from ls_langchain.tasks import RunRecord, generation_text, json_safe, message_to_dict, pick_model_name

__all__ = ["DEFAULT_PROJECT_NAME", "LabelStudioCallbackHandler"]

logger = logging.getLogger("ls_langchain")

DEFAULT_PROJECT_NAME = "LangChain-%Y-%m-%d"
_DEFAULT_URL = "http://localhost:8080"
# Runs that started but never ended nor failed (a cancelled task, say) are forgotten past this many.
_MAX_OPEN_RUNS = 10_000


@dataclass
class _Run:
    """What the start hook saw, kept until the run ends."""

    prompts: list[str] | None
    messages: list[list[dict[str, Any]]] | None
    metadata: dict[str, Any]
    invocation_params: dict[str, Any]
    parent_run_id: UUID | None
    tags: list[str]
    class_name: str | None
    started: float = field(default_factory=time.time)


def _resolve_api_key(api_key: str | None) -> str:
    key = api_key or os.environ.get("LABEL_STUDIO_API_KEY")
    if not key:
        raise ConfigurationError(
            "No Label Studio API key: pass api_key=... or set LABEL_STUDIO_API_KEY "
            "(Label Studio: Account & Settings > Personal Access Token)."
        )
    return key


def _resolve_url(url: str | None) -> str:
    value = (url or os.environ.get("LABEL_STUDIO_URL") or _DEFAULT_URL).strip()
    try:
        parsed = httpx.URL(value)
    except Exception as exc:  # httpx raises InvalidURL and, for some inputs, TypeError
        raise ConfigurationError(f"Label Studio URL {value!r} is malformed: use e.g. {_DEFAULT_URL}.") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"Label Studio URL {value!r} is not an http(s) URL with a host: use e.g. {_DEFAULT_URL} "
            "(argument url= or LABEL_STUDIO_URL)."
        )
    return value.rstrip("/")


def _resolve_project_id(project_id: int | str | None) -> int | None:
    value = project_id if project_id is not None else os.environ.get("LABEL_STUDIO_PROJECT_ID") or None
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"Label Studio project id {value!r} is not a number (argument project_id= or LABEL_STUDIO_PROJECT_ID)."
        ) from exc


def _resolve_mode(mode: str | LabelStudioMode) -> LabelStudioMode:
    try:
        return LabelStudioMode(mode)
    except ValueError as exc:
        choices = ", ".join(repr(m.value) for m in LabelStudioMode)
        raise ConfigurationError(f"Unknown mode {mode!r}: use one of {choices}.") from exc


class LabelStudioCallbackHandler(BaseCallbackHandler):
    """Logs LLM and chat-model calls into a Label Studio project; a drop-in for langchain_community's handler."""

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
        outbox_dir: str | os.PathLike[str] | None = None,
        flush_at: int = 500,
        flush_interval: float = 1.0,
        retry_rejected_after: float = 30.0,
    ) -> None:
        super().__init__()
        self.mode = _resolve_mode(mode)
        self.url = _resolve_url(url)
        self.project_name = datetime.today().strftime(project_name)
        if len(self.project_name) < 3:
            raise ConfigurationError(f"Project name {self.project_name!r} is too short: Label Studio needs 3 or more.")
        self.project_config = project_config if project_config is not None else default_config(self.mode)
        read_layout(self.project_config)  # raises LabelingConfigError now rather than at the first import
        spec = ProjectSpec(self.url, _resolve_project_id(project_id), self.project_name, self.project_config)
        self._studio = Studio(self.url, _resolve_api_key(api_key))
        self._destination = ProjectDestination(self._studio, spec)
        self._worker = worker_for(
            Path(outbox_dir) if outbox_dir is not None else None,
            self._destination,
            flush_at=flush_at,
            flush_interval=flush_interval,
            retry_rejected_after=retry_rejected_after,
        )
        self._worker.outbox.register(spec.key, spec.describe())
        self._runs: dict[UUID, _Run] = {}
        self._connect()

    def _connect(self) -> None:
        """Find or create the project now, so a wrong project id or config fails here; an unreachable or refusing
        server is reported once and does not stop logging: records wait in the outbox."""
        try:
            project, _ = self._destination.resolve()
        except (ProjectNotFoundError, LabelingConfigError):
            raise
        except StudioError as exc:
            logger.error("ls-langchain: %s Runs are kept in %s until it works.", exc, self._worker.outbox.path)
            return
        logger.info("ls-langchain: logging into %s", self._studio.project_url(project.id))

    @property
    def project(self) -> Project | None:
        """The Label Studio project runs go to, once it has been reached."""
        return self._destination.project

    @property
    def project_id(self) -> int | None:
        project = self._destination.project
        return project.id if project else self._destination.spec.project_id

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is in Label Studio; False if ``timeout`` ran out first."""
        return self._worker.flush(timeout)

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush within ``timeout`` and stop the background worker; what is left stays in the outbox."""
        return self._worker.close(timeout)

    # LangChain hooks.

    def _start(
        self,
        run_id: UUID,
        serialized: dict[str, Any] | None,
        prompts: list[str] | None,
        messages: list[list[dict[str, Any]]] | None,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        invocation_params: dict[str, Any] | None,
    ) -> None:
        if len(self._runs) >= _MAX_OPEN_RUNS:
            oldest = min(self._runs, key=lambda key: self._runs[key].started)
            self._runs.pop(oldest, None)
        self._runs[run_id] = _Run(
            prompts=prompts,
            messages=messages,
            metadata=metadata or {},
            invocation_params=invocation_params or {},
            parent_run_id=parent_run_id,
            tags=tags or [],
            class_name=_class_name(serialized),
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
        self._start(
            run_id, serialized, list(prompts), None, parent_run_id, tags, metadata, kwargs.get("invocation_params")
        )

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
        try:
            dialogues = [[message_to_dict(message) for message in batch] for batch in messages]
        except Exception:  # an exotic message must not break the chain; log what can be read
            logger.exception("ls-langchain: could not read the messages of run %s", run_id)
            dialogues = [[{"role": "user", "content": str(batch)}] for batch in messages]
        self._start(run_id, serialized, None, dialogues, parent_run_id, tags, metadata, kwargs.get("invocation_params"))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        try:
            for record in _records(run_id, run, response):
                self._worker.submit(record.id, record.to_json())
        except OutboxFullError as exc:
            self._worker.outbox.note_dropped(self._destination.target)
            logger.warning("ls-langchain: %s; run %s was not logged. Is Label Studio reachable?", exc, run_id)
        except Exception:
            logger.exception("ls-langchain: could not log run %s", run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.pop(run_id, None)


def _class_name(serialized: dict[str, Any] | None) -> str | None:
    """The LangChain class of the model (``FakeListLLM``, say): a model name of last resort."""
    if not serialized:
        return None
    name = serialized.get("name") or (serialized.get("id") or [None])[-1]
    return str(name) if name else None


def _records(run_id: UUID, run: _Run, response: LLMResult) -> list[RunRecord]:
    """One record per prompt (or conversation) of the run, each holding all of that prompt's candidates."""
    inputs: Sequence[Any] = run.prompts if run.prompts is not None else run.messages or []
    model_name = pick_model_name(run.metadata, run.invocation_params, response.llm_output) or run.class_name
    meta = json_safe(
        {
            "run_id": str(run_id),
            "parent_run_id": str(run.parent_run_id) if run.parent_run_id else None,
            "tags": run.tags,
            "latency_ms": round((time.time() - run.started) * 1000, 1),
        }
    )
    records = []
    for index, generations in enumerate(response.generations):
        source = inputs[index] if index < len(inputs) else None
        records.append(
            RunRecord(
                id=str(run_id) if len(response.generations) == 1 else f"{run_id}:{index}",
                responses=[generation_text(generation) for generation in generations],
                prompt=source if isinstance(source, str) else None,
                messages=source if isinstance(source, list) else None,
                model_name=model_name,
                meta=meta,
            )
        )
    return records
