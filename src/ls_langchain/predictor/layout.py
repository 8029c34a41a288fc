"""What a labeling config says to the backend: where the prompt is typed, what it is about, what to fill in.

A view of ``labeling.LabelingConfig``. The rules follow Label Studio's ``llm_interactive`` example: the prompt is
the first ``<TextArea>`` whose name starts with ``PROMPT_PREFIX`` and that points at a Text, HyperText, Paragraphs
or Image object; every other ``<TextArea>`` receives the responses; every control whose kind is filled from the
answer (``labeling.FILLABLE_TAGS``: Choices, Taxonomy, Rating, Number, Pairwise, and Labels on a ``<Text>``) is
filled from the same structured answer.
"""

from __future__ import annotations

from dataclasses import dataclass

# Loaded with the backend, not at the first /setup: Label Studio gives /setup 3 s, and importing the SDK's config
# reader (jsf, faker, pandas) takes about a second on a quiet machine and several on a busy one.
import label_studio_sdk.label_interface  # noqa: F401

from ls_langchain.errors import LabelingConfigError
from ls_langchain.labeling import (
    FILLABLE_TAGS,
    INPUT_TAGS,
    ConfigControl,
    ConfigObject,
    LabelingConfig,
    parse_config,
)

__all__ = ["SUPPORTED_OBJECTS", "Layout", "backend_layout", "read_layout"]

SUPPORTED_OBJECTS = (*INPUT_TAGS, "Image")


@dataclass(frozen=True)
class Layout:
    """The tags the backend reads and writes."""

    config: LabelingConfig
    prompt: ConfigControl | None  # the TextArea where people type the prompt, echoed back; None: DEFAULT_PROMPT only
    source: ConfigObject  # the object the prompt points at (else the one the controls label): text, dialogue, image
    responses: tuple[ConfigControl, ...]  # TextAreas: each receives the NUM_RESPONSES answers
    controls: tuple[ConfigControl, ...]  # Choices, Taxonomy, Rating, Number, Labels (on Text): filled from the answer


def backend_layout(config: LabelingConfig, prompt_prefix: str, *, has_default_prompt: bool = False) -> Layout:
    """The backend's layout of ``config``, or a ``LabelingConfigError`` saying which tag is missing.

    With ``has_default_prompt`` a config without a prompt TextArea (say Text + Choices, to pre-label an existing
    classification project) is served in batch mode: every prediction uses ``DEFAULT_PROMPT``.
    """
    objects = {obj.name: obj for obj in config.objects}

    def tag_of(name: str) -> str | None:
        obj = objects.get(name)
        return obj.tag if obj is not None else None

    text_areas = config.controls_of("TextArea")
    prompt = next(
        (
            tag
            for tag in text_areas
            if tag.name.startswith(prompt_prefix) and any(tag_of(name) in SUPPORTED_OBJECTS for name in tag.to_name)
        ),
        None,
    )
    if prompt is None and not has_default_prompt:
        raise LabelingConfigError(
            f'The labeling config has no <TextArea name="{prompt_prefix}..."> pointing at a '
            f"{', '.join(SUPPORTED_OBJECTS)} object, and no DEFAULT_PROMPT is set: add a TextArea for the prompt "
            "(or set PROMPT_PREFIX to its name), or set DEFAULT_PROMPT to predict without one."
        )
    targets = prompt.to_name if prompt is not None else [name for tag in config.controls for name in tag.to_name]
    source = next((objects[name] for name in targets if tag_of(name) in SUPPORTED_OBJECTS), None)
    if source is None:
        raise LabelingConfigError(
            f"The labeling config has no {', '.join(SUPPORTED_OBJECTS)} object that its controls label: add one, "
            'e.g. <Text name="text" value="$text"/>.'
        )
    responses = tuple(tag for tag in text_areas if prompt is None or tag.name != prompt.name)
    controls = tuple(
        tag
        for tag in config.controls_of(*FILLABLE_TAGS)
        if tag.tag != "Labels" or (bool(tag.to_name) and tag_of(tag.to_name[0]) == "Text")
    )
    if not responses and not controls:
        raise LabelingConfigError(
            "The labeling config has nothing to fill in besides the prompt: add a <TextArea> for the response, or "
            f"one of {', '.join(FILLABLE_TAGS)}."
        )
    return Layout(config=config, prompt=prompt, source=source, responses=responses, controls=controls)


def read_layout(label_config: str, prompt_prefix: str, *, has_default_prompt: bool = False) -> Layout:
    """The backend's layout of a config given as XML: ``backend_layout(parse_config(label_config), ...)``."""
    return backend_layout(parse_config(label_config), prompt_prefix, has_default_prompt=has_default_prompt)
