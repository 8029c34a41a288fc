"""The package's one exception tree.

    LSLangChainError
    ├── ConfigurationError (also ValueError)   a bad argument or setting, found before any network call
    │   └── LabelingConfigError                the labeling config is invalid or lacks a needed tag
    ├── StudioError                            talking to Label Studio failed
    │   ├── StudioUnreachableError             nothing answered at the URL (refused, timeout, DNS)
    │   ├── AuthenticationError                401/403: the API key was refused
    │   ├── ProjectNotFoundError               no project with that id
    │   └── ImportRejectedError                an import was refused or came back incomplete
    └── LocalStudioError                       starting or driving a local Label Studio failed

Errors from the SDK and httpx are translated with ``raise ... from exc`` so that users read one line about
their own setup, not a library's traceback.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ImportRejectedError",
    "LSLangChainError",
    "LabelingConfigError",
    "LocalStudioError",
    "ProjectNotFoundError",
    "StudioError",
    "StudioUnreachableError",
]


class LSLangChainError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(LSLangChainError, ValueError):
    """A bad argument or setting, found before any network call."""


class LabelingConfigError(ConfigurationError):
    """The labeling config is not valid XML or lacks a tag the package needs."""


class StudioError(LSLangChainError):
    """Talking to Label Studio failed."""

    #: Whether the same request may succeed later without anyone changing anything.
    transient: bool = False
    #: Seconds the server asked us to wait (HTTP 429 Retry-After), when it said.
    retry_after: float | None = None


class StudioUnreachableError(StudioError):
    """Nothing answered at the Label Studio URL, or it answered with a server error."""

    transient = True


class AuthenticationError(StudioError):
    """Label Studio refused the API key (HTTP 401 or 403)."""


class ProjectNotFoundError(StudioError):
    """No Label Studio project has the requested id."""


class ImportRejectedError(StudioError):
    """Label Studio refused an import (HTTP 400) or stored it incompletely."""


class LocalStudioError(LSLangChainError):
    """Starting, stopping or driving a local Label Studio server failed."""
