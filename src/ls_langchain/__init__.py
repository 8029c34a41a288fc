"""Connect LangChain to Label Studio: log LLM runs as tasks, prefill annotations, export what people made of them."""

from importlib.metadata import version as _version

from ls_langchain.errors import (
    AuthenticationError,
    ConfigurationError,
    LabelingConfigError,
    LSLangChainError,
    ProjectNotFoundError,
    RequestRejectedError,
    StudioError,
    StudioUnreachableError,
)
from ls_langchain.handler import LabelStudioCallbackHandler
from ls_langchain.labeling import LabelStudioMode

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "LSLangChainError",
    "LabelStudioCallbackHandler",
    "LabelStudioMode",
    "LabelingConfigError",
    "ProjectNotFoundError",
    "RequestRejectedError",
    "StudioError",
    "StudioUnreachableError",
    "__version__",
]

__version__ = _version("ls-langchain")
