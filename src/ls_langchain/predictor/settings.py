"""Every setting of the interactive backend: environment first, then a project's extra params, validated early.

The names and defaults are those of Label Studio's ``llm_interactive`` example, so an existing deployment keeps
its environment; the settings it lacked (concurrency, time limits, image fetching) have defaults that fit Label
Studio's 100 s predict timeout. Secrets never appear in ``repr`` or in the fingerprint behind ``model_version``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ls_langchain.errors import ConfigurationError
from ls_langchain.predictor.usage import parse_prices

__all__ = ["SECRET_FIELDS", "Settings", "parse_extra_params"]

logger = logging.getLogger(__name__)

#: Fields that hold credentials: left out of ``repr``, of the model fingerprint, and of every message.
SECRET_FIELDS = frozenset({"openai_api_key", "label_studio_api_key", "state_url"})
# Only the server's operator may say where state lives, which Label Studio gets the backend's key, and whether
# private addresses may be fetched: a project's extra params are set by whoever administers that project.
_ENV_ONLY = frozenset(
    {
        "model_dir",
        "state_url",
        "label_studio_url",
        "label_studio_api_key",
        "allow_private_urls",
        "allow_link_local_urls",
        "max_request_bytes",
    }
)
# Endpoints a project may redirect calls to; the backend's own key never follows them there.
_ENDPOINTS = frozenset({"azure_resource_endpoint"})
# The keys the example read from extra params, and the setting each one means.
_EXAMPLE_ALIASES = {
    "api_key": "openai_api_key",
    "provider": "openai_provider",
    "model": "openai_model",
    "api_version": "azure_api_version",
    "resource_endpoint": "azure_resource_endpoint",
    "deployment_name": "azure_deployment_name",
    "base_url": "ollama_endpoint",
}
# The range of each number: one project may not hold a worker for hours or make a million calls for one task.
# Timeouts must be above their lowest (0); the rest may equal it. The README's settings table states these.
_BOUNDS: dict[str, tuple[int, int]] = {
    "temperature": (0, 2),
    "num_responses": (1, 10),
    "max_concurrency": (1, 64),
    "llm_timeout": (0, 600),
    "predict_timeout": (0, 3600),
    "llm_max_attempts": (1, 10),
    "max_image_bytes": (1, 100_000_000),
    "max_request_bytes": (1, 1_000_000_000),
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """The backend's configuration; field ``x_y`` is read from the environment variable ``X_Y``."""

    prompt_prefix: str = "prompt"
    default_prompt: str | None = None
    use_internal_prompt_template: bool = True
    prompt_template: str = "Source Text: {text}\n\nTask Directive: {prompt}"
    openai_model: str | None = None
    openai_provider: str = "openai"
    temperature: float = 0.7
    num_responses: int = 1
    openai_api_key: str | None = field(default=None, repr=False)
    azure_resource_endpoint: str = ""
    azure_deployment_name: str | None = None
    azure_api_version: str = "2023-05-15"
    ollama_endpoint: str | None = None
    model_dir: str = "."
    # Not in the example: bounds that keep a batch inside Label Studio's predict timeout.
    max_concurrency: int = 4
    llm_timeout: float = 30.0
    predict_timeout: float = 90.0
    llm_max_attempts: int = 3
    # Images: inline them as data URIs (works with every provider) or pass public URLs on unchanged.
    inline_images: bool = True
    allow_private_urls: bool = False
    allow_link_local_urls: bool = False
    max_image_bytes: int = 20_000_000
    # The largest request body the server reads (Label Studio's /predict and webhook bodies carry the task data).
    max_request_bytes: int = 10_000_000
    label_studio_url: str | None = None
    label_studio_api_key: str | None = field(default=None, repr=False)
    # Where workers and replicas share per-project state: SQLite under MODEL_DIR, or redis://... (may hold a password).
    state_url: str | None = field(default=None, repr=False)
    # Prices per million tokens for the cost in each prediction's meta, added to the built-in list (JSON).
    model_prices: str = ""
    # Few-shot: the FEW_SHOT submitted examples most like each task, from the FEW_SHOT_POOL most recent ones; the
    # snapshot predictions use (and model_version names) moves after FEW_SHOT_REFRESH changes, or with `learn`.
    few_shot: int = 0
    few_shot_pool: int = 1000
    few_shot_refresh: int = 20

    def __post_init__(self) -> None:
        for name, (low, high) in _BOUNDS.items():
            value = getattr(self, name)
            above = value > low if name.endswith("_timeout") else value >= low
            _check(above and value <= high, f"{name.upper()} must be {_describe_bounds(name)}", value)
        _check(bool(self.prompt_prefix), "PROMPT_PREFIX must not be empty", self.prompt_prefix)
        _check(bool(self.openai_provider.strip()), "OPENAI_PROVIDER must not be empty", self.openai_provider)
        parse_prices(self.model_prices)
        _check(0 <= self.few_shot <= 50, "FEW_SHOT must be between 0 and 50", self.few_shot)
        _check(1 <= self.few_shot_pool <= 100_000, "FEW_SHOT_POOL must be between 1 and 100000", self.few_shot_pool)
        _check(
            1 <= self.few_shot_refresh <= 100_000,
            "FEW_SHOT_REFRESH must be between 1 and 100000",
            self.few_shot_refresh,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings named in ``environ`` (default: ``os.environ``), defaults for the rest.

        Only here may ``DEFAULT_PROMPT`` name a file (the operator's choice); its text is read now, and the file
        named in the log. Everywhere else (extra params, Python arguments) a prompt is text, never a path.
        """
        source = os.environ if environ is None else environ
        values = {f.name: source[f.name.upper()] for f in dataclasses.fields(cls) if f.name.upper() in source}
        if values.get("default_prompt"):
            values["default_prompt"] = _prompt_or_file(values["default_prompt"])
        return cls()._with(values, origin="environment variable")

    def merged(self, overrides: Mapping[str, Any]) -> Settings:
        """These settings with a project's extra params on top (setting names in any case, or the example's keys)."""
        values: dict[str, Any] = {}
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in overrides.items():
            name = _EXAMPLE_ALIASES.get(key, key.lower())
            if name not in names:
                known = ", ".join(sorted(n.upper() for n in names - _ENV_ONLY))
                raise ConfigurationError(f"Unknown extra param {key!r}: use one of {known}.")
            if name in _ENV_ONLY:
                raise ConfigurationError(f"{name.upper()} can only be set in the backend's environment.")
            values[name] = value
        moved = sorted(name.upper() for name in _ENDPOINTS & values.keys())
        if moved and self.openai_api_key and not values.get("openai_api_key"):
            raise ConfigurationError(
                f"Extra params that set {', '.join(moved)} must set OPENAI_API_KEY too: the backend's own key is "
                "only sent to the endpoints of its environment."
            )
        return self._with(values, origin="extra param")

    def fingerprint(self) -> dict[str, Any]:
        """What decides the model's answers, without secrets or operational limits: the input of model_version."""
        keep = {
            "use_internal_prompt_template",
            "prompt_template",
            "openai_model",
            "openai_provider",
            "temperature",
            "num_responses",
            "azure_resource_endpoint",
            "azure_deployment_name",
            "azure_api_version",
            "ollama_endpoint",
            "inline_images",
        }
        return {name: value for name, value in dataclasses.asdict(self).items() if name in keep}

    def secrets(self) -> tuple[str, ...]:
        """The credential values in use, so that messages can be scrubbed of them."""
        return tuple(value for name in sorted(SECRET_FIELDS) if (value := getattr(self, name)))

    def _with(self, values: Mapping[str, Any], *, origin: str) -> Settings:
        """A copy with ``values`` converted to each field's type; a value of the wrong shape is one clear error."""
        defaults = type(self)()
        converted = {
            f.name: _convert(f.name, values[f.name], getattr(defaults, f.name), origin)
            for f in dataclasses.fields(self)
            if f.name in values
        }
        return dataclasses.replace(self, **converted)


def _prompt_or_file(value: str) -> str:
    """The environment's DEFAULT_PROMPT as text: the content of the file it names, when it names one."""
    if "\n" in value or len(value) >= 4096 or not Path(value).is_file():
        return value
    try:
        text = Path(value).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"DEFAULT_PROMPT names the file {value}, which cannot be read: {exc}") from exc
    logger.warning("DEFAULT_PROMPT: read from the file %s (%d characters)", Path(value).resolve(), len(text))
    return text


def _describe_bounds(name: str) -> str:
    low, high = _BOUNDS[name]
    if name.endswith("_timeout"):
        return f"more than {low} and at most {high} seconds"
    return f"between {low} and {high}"


def _check(ok: bool, message: str, value: object) -> None:
    if not ok:
        raise ConfigurationError(f"{message}, got {value!r}.")


def _convert(name: str, value: Any, default: Any, origin: str) -> Any:
    """``value`` as the type of ``default``; strings from the environment are parsed."""
    label = f"{origin} {name.upper()}"
    if value is None:
        return None if default is None or name in SECRET_FIELDS else default
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigurationError(f"The {label} must be true/false or 1/0, got {value!r}.")
    if isinstance(default, int | float) and not isinstance(value, bool):
        try:
            return type(default)(value)
        except (TypeError, ValueError):
            kind = "a whole number" if isinstance(default, int) else "a number"
            raise ConfigurationError(f"The {label} must be {kind}, got {value!r}.") from None
    if isinstance(value, str):
        return value
    raise ConfigurationError(f"The {label} must be text, got {type(value).__name__}.")


def parse_extra_params(value: object) -> dict[str, Any]:
    """Label Studio's extra params, which arrive as an object, as a JSON string, or not at all."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"The model's extra params are not valid JSON ({exc.msg} at position {exc.pos}): "
                'write them as an object, e.g. {"TEMPERATURE": 0.2}.'
            ) from None
    if not isinstance(value, dict):
        raise ConfigurationError(
            f'The model\'s extra params must be a JSON object, e.g. {{"TEMPERATURE": 0.2}}, not {type(value).__name__}.'
        )
    return {str(key): item for key, item in value.items()}
