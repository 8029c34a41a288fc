"""Settings (names, defaults, env, extra params) and the safe prompt templates."""

from __future__ import annotations

import pytest

from ls_langchain.errors import ConfigurationError, PromptTemplateError
from ls_langchain.predictor.settings import Settings, parse_extra_params
from ls_langchain.predictor.templates import render


def test_defaults_are_those_of_the_example() -> None:
    settings = Settings.from_env({})
    assert settings.prompt_prefix == "prompt"
    assert settings.use_internal_prompt_template is True
    assert settings.prompt_template == "Source Text: {text}\n\nTask Directive: {prompt}"
    assert settings.openai_provider == "openai"
    assert settings.temperature == 0.7
    assert settings.num_responses == 1
    assert settings.azure_api_version == "2023-05-15"
    assert settings.default_prompt is None


def test_environment_values_are_parsed_by_type() -> None:
    settings = Settings.from_env(
        {"USE_INTERNAL_PROMPT_TEMPLATE": "0", "TEMPERATURE": "0.2", "NUM_RESPONSES": "3", "OPENAI_MODEL": "gpt-4o"}
    )
    assert (settings.use_internal_prompt_template, settings.temperature, settings.num_responses) == (False, 0.2, 3)
    assert settings.openai_model == "gpt-4o"


def test_a_bad_environment_value_is_one_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="NUM_RESPONSES must be a whole number, got 'two'"):
        Settings.from_env({"NUM_RESPONSES": "two"})
    with pytest.raises(ConfigurationError, match="TEMPERATURE must be between 0 and 2"):
        Settings.from_env({"TEMPERATURE": "7"})


def test_extra_params_take_setting_names_in_any_case_and_the_examples_keys() -> None:
    merged = Settings().merged({"temperature": 0, "NUM_RESPONSES": "2", "model": "llama3", "provider": "ollama"})
    assert (merged.temperature, merged.num_responses, merged.openai_model, merged.openai_provider) == (
        0.0,
        2,
        "llama3",
        "ollama",
    )


def test_an_unknown_extra_param_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"Unknown extra param 'temprature': use one of .*TEMPERATURE"):
        Settings().merged({"temprature": 0.1})
    with pytest.raises(ConfigurationError, match="MODEL_DIR can only be set in the backend's environment"):
        Settings().merged({"MODEL_DIR": "/tmp"})


@pytest.mark.parametrize(
    "name", ["LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "ALLOW_PRIVATE_URLS", "ALLOW_LINK_LOCAL_URLS"]
)
def test_what_guards_credentials_and_addresses_is_for_the_operator_only(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} can only be set in the backend's environment"):
        Settings(label_studio_api_key="ls-key").merged({name: "x"})


def test_the_backends_key_does_not_follow_an_endpoint_a_project_sets() -> None:
    backend = Settings(openai_api_key="sk-operator")
    with pytest.raises(ConfigurationError, match="set AZURE_RESOURCE_ENDPOINT must set OPENAI_API_KEY too"):
        backend.merged({"provider": "azure", "resource_endpoint": "https://elsewhere.example"})
    own = backend.merged({"resource_endpoint": "https://elsewhere.example", "api_key": "sk-project"})
    assert own.openai_api_key == "sk-project"


def test_extra_params_arrive_as_an_object_or_a_json_string() -> None:
    """Defect of the example: extra params sent as an object crashed /setup."""
    assert parse_extra_params({"TEMPERATURE": 0.1}) == {"TEMPERATURE": 0.1}
    assert parse_extra_params('{"TEMPERATURE": 0.1}') == {"TEMPERATURE": 0.1}
    assert parse_extra_params(None) == {} == parse_extra_params("")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        parse_extra_params("{TEMPERATURE: 0.1")
    with pytest.raises(ConfigurationError, match="must be a JSON object"):
        parse_extra_params("[1, 2]")


def test_secrets_stay_out_of_repr_and_fingerprint() -> None:
    settings = Settings(openai_api_key="sk-very-secret", label_studio_api_key="ls-secret")
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings.fingerprint())
    assert set(settings.secrets()) == {"sk-very-secret", "ls-secret"}


# templates: the example ran str.format on what people typed


def test_plain_fields_are_filled() -> None:
    assert render("Text: {text}, Labels: {labels}", {"text": "hi", "labels": "A, B"}) == "Text: hi, Labels: A, B"


def test_attribute_and_index_access_are_refused() -> None:
    with pytest.raises(PromptTemplateError, match=r"'\{text.__class__\}'.*without attribute or index access"):
        render("{text.__class__}", {"text": "hi"})
    with pytest.raises(PromptTemplateError, match="without attribute or index access"):
        render("{text[0]}", {"text": "hi"})


def test_an_unknown_field_is_named_with_the_fields_that_exist() -> None:
    with pytest.raises(PromptTemplateError, match=r"uses \{title\}.*the fields are \{labels\}, \{text\}"):
        render("About {title}", {"text": "hi", "labels": "A"})


def test_literal_braces_and_json_examples_survive() -> None:
    template = 'Answer as {"label": "<one of {labels}>", "nested": {"x": [1, {"y": 2}]}} for {{text}} and {text}'
    assert render(template, {"labels": "A, B", "text": "hi"}) == (
        'Answer as {"label": "<one of A, B>", "nested": {"x": [1, {"y": 2}]}} for {text} and hi'
    )
    assert render("set() is {} and {1} and { spaced }", {}) == "set() is {} and {1} and { spaced }"
