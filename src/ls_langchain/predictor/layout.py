"""What a labeling config says to the backend: where the prompt is typed, what it is about, what to fill in.

Read with the SDK's ``LabelInterface``. The rules follow Label Studio's ``llm_interactive`` example: the prompt is
the first ``<TextArea>`` whose name starts with ``PROMPT_PREFIX`` and that points at a Text, HyperText, Paragraphs
or Image object; every other ``<TextArea>`` receives the responses; every ``<Choices>``, ``<Taxonomy>``,
``<Rating>`` and ``<Number>``, and every ``<Labels>`` on a ``<Text>``, is filled from the same structured answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from label_studio_sdk.label_interface import LabelInterface

from ls_langchain.errors import LabelingConfigError
from ls_langchain.predictor.structured import FILLABLE_TAGS

__all__ = ["SUPPORTED_OBJECTS", "Layout", "read_layout"]

SUPPORTED_OBJECTS = ("Text", "HyperText", "Paragraphs", "Image")


@dataclass(frozen=True)
class Layout:
    """The tags the backend reads and writes, as SDK tag objects."""

    interface: LabelInterface
    prompt: Any | None  # TextAreaTag where people type the prompt, echoed back; None: DEFAULT_PROMPT only
    source: Any  # the object tag the prompt points at (else the one the controls label): text, dialogue, image
    responses: tuple[Any, ...]  # TextAreaTag: each receives the NUM_RESPONSES answers
    controls: tuple[Any, ...]  # Choices, Taxonomy, Rating, Number, Labels (on Text): filled from the answer


def read_layout(label_config: str, prompt_prefix: str, *, has_default_prompt: bool = False) -> Layout:
    """The layout of ``label_config``, or a ``LabelingConfigError`` saying which tag is missing.

    With ``has_default_prompt`` a config without a prompt TextArea (say Text + Choices, to pre-label an existing
    classification project) is served in batch mode: every prediction uses ``DEFAULT_PROMPT``.
    """
    try:
        interface = LabelInterface(label_config)
    except Exception as exc:  # the SDK raises lxml and assertion errors of many kinds for a bad config
        raise LabelingConfigError(f"The labeling config cannot be read: {str(exc)[:200]}") from exc
    objects = {tag.name: tag for tag in interface.objects}
    text_areas = [tag for tag in interface.controls if tag.tag == "TextArea"]
    prompt = next(
        (
            tag
            for tag in text_areas
            if tag.name.startswith(prompt_prefix)
            and any(getattr(objects.get(name), "tag", None) in SUPPORTED_OBJECTS for name in tag.to_name)
        ),
        None,
    )
    if prompt is None and not has_default_prompt:
        raise LabelingConfigError(
            f'The labeling config has no <TextArea name="{prompt_prefix}..."> pointing at a '
            f"{', '.join(SUPPORTED_OBJECTS)} object, and no DEFAULT_PROMPT is set: add a TextArea for the prompt "
            "(or set PROMPT_PREFIX to its name), or set DEFAULT_PROMPT to predict without one."
        )
    targets = prompt.to_name if prompt is not None else [n for tag in interface.controls for n in tag.to_name or ()]
    source = next((objects[n] for n in targets if n in objects and objects[n].tag in SUPPORTED_OBJECTS), None)
    if source is None:
        raise LabelingConfigError(
            f"The labeling config has no {', '.join(SUPPORTED_OBJECTS)} object that its controls label: add one, "
            'e.g. <Text name="text" value="$text"/>.'
        )
    responses = tuple(tag for tag in text_areas if prompt is None or tag.name != prompt.name)
    controls = tuple(
        tag
        for tag in interface.controls
        if tag.tag in FILLABLE_TAGS
        and (tag.tag != "Labels" or getattr(objects.get(tag.to_name[0]), "tag", None) == "Text")
    )
    if not responses and not controls:
        raise LabelingConfigError(
            "The labeling config has nothing to fill in besides the prompt: add a <TextArea> for the response, or "
            f"one of {', '.join(FILLABLE_TAGS)}."
        )
    return Layout(interface=interface, prompt=prompt, source=source, responses=responses, controls=controls)
