"""The package's one exception tree.

    LSLangChainError
    ├── ConfigurationError (also ValueError)   a bad argument or setting, found before any network call
    │   ├── LabelingConfigError                the labeling config is invalid or lacks a needed tag
    │   └── PromptTemplateError                a prompt template uses a field it may not (unknown, attribute, index)
    ├── StudioError                            talking to Label Studio failed
    │   ├── StudioUnreachableError             nothing answered at the URL (refused, timeout, DNS)
    │   ├── AuthenticationError                401/403: the API key was refused
    │   ├── ProjectNotFoundError               no project with that id
    │   ├── RequestRejectedError               HTTP 400: the request's content (an import, a project) was refused
    │   └── IncompleteImportError              an import answered 201 but stored fewer tasks or predictions
    ├── ExportError                            a project has nothing the requested export can be made from
    ├── LocalStudioError                       starting or driving a local Label Studio failed
    ├── OutboxFullError                        the outbox holds its maximum of undelivered runs; a new one was refused
    ├── RecordFormatError (also ValueError)    a stored record cannot be read (another version wrote it, or damage)
    ├── RecordsHeldError                       records that cannot go until someone acts: held with the reason
    ├── StateError                             the ML backend's shared state (Redis) could not be read or written
    └── PredictionError                        the ML backend could not predict one task
        ├── TaskInputError                     the task's data could not be read or fetched (bad URL, blocked host)
        └── LLMCallError                       the chat model failed or timed out, after brief retries

Errors from the SDK and httpx are translated with ``raise ... from exc`` so that users read one line about
their own setup, not a library's traceback.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ExportError",
    "IncompleteImportError",
    "LLMCallError",
    "LSLangChainError",
    "LabelingConfigError",
    "LocalStudioError",
    "OutboxFullError",
    "PredictionError",
    "ProjectNotFoundError",
    "PromptTemplateError",
    "RecordFormatError",
    "RecordsHeldError",
    "RequestRejectedError",
    "StateError",
    "StudioError",
    "StudioUnreachableError",
    "TaskInputError",
]


class LSLangChainError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(LSLangChainError, ValueError):
    """A bad argument or setting, found before any network call."""


class LabelingConfigError(ConfigurationError):
    """The labeling config is not valid XML or lacks a tag the package needs."""


class PromptTemplateError(ConfigurationError):
    """A prompt template names a field the task does not have, or uses attribute or index access."""


class StudioError(LSLangChainError):
    """Talking to Label Studio failed."""

    #: Whether the same request may succeed later without anyone changing anything.
    transient: bool = False
    #: Whether the server refused what was sent, so that smaller parts of it may still be accepted.
    content_rejected: bool = False
    #: Seconds the server asked us to wait (HTTP 429 Retry-After), when it said.
    retry_after: float | None = None
    #: Whether the request went out but its answer did not come in time: the server may still be acting on it.
    timed_out: bool = False


class StudioUnreachableError(StudioError):
    """Nothing answered at the Label Studio URL, or it answered with a server error."""

    transient = True


class AuthenticationError(StudioError):
    """Label Studio refused the API key (HTTP 401 or 403)."""


class ProjectNotFoundError(StudioError):
    """No Label Studio project has the requested id."""


class RequestRejectedError(StudioError):
    """Label Studio refused the content of a request (HTTP 400): sent alone, other records may go through."""

    content_rejected = True


class IncompleteImportError(StudioError):
    """An import was answered as a success but stored fewer tasks or predictions than were sent.

    Seen when two imports run at once against a Label Studio on SQLite; the import is undone and sent again.
    """

    transient = True

    def __init__(self, message: str, task_ids: tuple[int, ...]) -> None:
        super().__init__(message)
        self.task_ids = task_ids


class ExportError(LSLangChainError):
    """A project has nothing the requested export can be made from (no tasks at all, for one)."""


class LocalStudioError(LSLangChainError):
    """Starting, stopping or driving a local Label Studio server failed."""


class OutboxFullError(LSLangChainError):
    """The outbox holds ``max_records`` undelivered runs already; the new one was not stored."""


class RecordFormatError(LSLangChainError, ValueError):
    """A stored record cannot be read: written by another version of the package, or damaged."""


class RecordsHeldError(LSLangChainError):
    """Records that cannot go to their destination until someone acts (or ``retry_after`` seconds pass).

    Raised by an exporter before it sends anything. ``reasons`` maps a record's sequence number to why it is held;
    empty means every record of the batch, for the error's own message. The worker holds them and sends the rest.
    """

    def __init__(self, message: str, reasons: Mapping[int, str] | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.reasons: Mapping[int, str] = reasons or {}
        self.retry_after = retry_after


class StateError(LSLangChainError):
    """The ML backend's shared per-project state (Redis under ``STATE_URL``) could not be read or written."""


class PredictionError(LSLangChainError):
    """The ML backend could not predict one task; the other tasks of the batch go on."""


class TaskInputError(PredictionError):
    """A task's data could not be turned into model input: a missing field, a refused URL, a failed download."""


class LLMCallError(PredictionError):
    """The chat model failed or timed out, after the brief retries of transient errors."""
