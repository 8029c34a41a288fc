"""The chat model named by ``OPENAI_PROVIDER``: OpenAI, Azure OpenAI, Ollama's OpenAI-compatible endpoint, any
LangChain ``provider:model`` through ``init_chat_model``, or ``offline`` (a demo double, no network).

Building a model makes no network call, so a missing key or an unknown provider is found when Label Studio calls
``/setup``. The SDK's own retries are off: ``LLMInteractive`` retries transient errors itself, within its deadline.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from ls_langchain.errors import ConfigurationError
from ls_langchain.predictor.offline import OfflineChatModel
from ls_langchain.predictor.settings import Settings

__all__ = ["build_chat_model", "scrub"]

_DEFAULT_MODELS = {"openai": "gpt-3.5-turbo", "azure": "gpt-35-turbo"}


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every credential replaced, so that no message can leak one."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _require(settings: Settings, **needed: Any) -> None:
    missing = [name.upper() for name, value in needed.items() if not value]
    if missing:
        raise ConfigurationError(
            f"OPENAI_PROVIDER={settings.openai_provider} needs {', '.join(missing)}: set it in the backend's "
            "environment or in the model's extra params."
        )


def build_chat_model(settings: Settings) -> BaseChatModel:
    """A chat model for ``settings``; raises ``ConfigurationError`` with one line on any problem."""
    provider = settings.openai_provider.strip()
    common: dict[str, Any] = {"temperature": settings.temperature}
    try:
        if provider in ("openai", "azure", "ollama"):
            return _openai_family(provider, settings, common)
        if provider == "offline":
            return OfflineChatModel()
        from langchain.chat_models import init_chat_model

        if ":" in provider:
            model: object = init_chat_model(provider, **common)
        else:
            _require(settings, openai_model=settings.openai_model)
            model = init_chat_model(settings.openai_model or "", model_provider=provider, **common)
        if not isinstance(model, BaseChatModel):
            raise ConfigurationError(f"OPENAI_PROVIDER={provider} does not name a chat model.")
        return model
    except ConfigurationError:
        raise
    except ImportError as exc:
        raise ConfigurationError(
            f"OPENAI_PROVIDER={provider} needs a package that is not installed: {scrub(str(exc), settings.secrets())}"
        ) from None
    except Exception as exc:  # each provider class fails in its own way; the user needs the one line
        first_line = scrub(str(exc), settings.secrets()).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise ConfigurationError(
            f"Cannot set up the chat model for OPENAI_PROVIDER={provider}: {first_line or type(exc).__name__}"
        ) from None


def _openai_family(provider: str, settings: Settings, common: dict[str, Any]) -> BaseChatModel:
    from langchain_openai import AzureChatOpenAI, ChatOpenAI

    common = {**common, "timeout": settings.llm_timeout, "max_retries": 0}
    if provider == "openai":
        _require(settings, openai_api_key=settings.openai_api_key)
        model = settings.openai_model or _DEFAULT_MODELS["openai"]
        return ChatOpenAI(model=model, api_key=SecretStr(settings.openai_api_key or ""), **common)
    if provider == "azure":
        _require(
            settings,
            openai_api_key=settings.openai_api_key,
            azure_resource_endpoint=settings.azure_resource_endpoint,
            azure_deployment_name=settings.azure_deployment_name,
        )
        return AzureChatOpenAI(
            model=settings.openai_model or _DEFAULT_MODELS["azure"],
            api_key=SecretStr(settings.openai_api_key or ""),
            azure_endpoint=settings.azure_resource_endpoint.rstrip("/"),
            azure_deployment=settings.azure_deployment_name,
            api_version=settings.azure_api_version,
            **common,
        )
    _require(settings, ollama_endpoint=settings.ollama_endpoint, openai_model=settings.openai_model)
    # Ollama ignores the key, but the OpenAI client insists on one.
    model = settings.openai_model or ""
    return ChatOpenAI(model=model, base_url=settings.ollama_endpoint, api_key=SecretStr("ollama"), **common)
