"""One typed description of a labeling config: what ``labeling.parse_config`` reads a config into.

``parse_config(xml)`` (in ``labeling/parse.py``) is the only place that reads a config: it returns a
``LabelingConfig`` of object tags (what a task shows) and control tags (what an annotator or the model fills), each
a frozen dataclass. The handler's task layout, the backend's layout and the export's layout are views computed from
it; none of them reads the XML again. A config that cannot be read is one ``LabelingConfigError`` with one wording.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

__all__ = [
    "DIALOGUE_TAGS",
    "INPUT_TAGS",
    "TEXT_TAGS",
    "ConfigControl",
    "ConfigObject",
    "ControlKind",
    "Evaluation",
    "LabelingConfig",
    "ObjectKind",
    "Value",
    "frozen_attrs",
]

#: Object tags whose value is one text.
TEXT_TAGS = ("Text", "HyperText")
#: Object tags whose value is a list of messages.
DIALOGUE_TAGS = ("Paragraphs",)
#: Object tags that can hold a logged prompt or conversation.
INPUT_TAGS = (*TEXT_TAGS, *DIALOGUE_TAGS)
# Label Studio's own defaults for the keys of a Paragraphs item.
_NAME_KEY, _TEXT_KEY = "author", "text"
_DEFAULT_SEPARATOR = " / "


class ObjectKind(str, enum.Enum):
    """What an object tag shows, as far as this package cares: one text, a dialogue, an image, or something else."""

    TEXT = "text"
    DIALOGUE = "dialogue"
    IMAGE = "image"
    OTHER = "other"


_OBJECT_KINDS = {
    **dict.fromkeys(TEXT_TAGS, ObjectKind.TEXT),
    **dict.fromkeys(DIALOGUE_TAGS, ObjectKind.DIALOGUE),
    "Image": ObjectKind.IMAGE,
}


class Evaluation(enum.Enum):
    """How a prediction of a control is compared with an annotation: the family of metrics that fits its values."""

    SINGLE_CHOICE = "single_choice"  # one label or none: Choices
    MULTI_LABEL = "multi_label"  # a set of labels or taxonomy paths: Choices choice="multiple", Taxonomy
    SCALAR = "scalar"  # a number: Rating, Number
    SPANS = "spans"  # a set of (label, start, end): Labels
    TEXT = "text"  # free text: TextArea


#: A result item of a control read into a comparable value: a label, a frozenset of labels or of taxonomy paths
#: (written with the separator) or of (label, start, end) spans, a number, a text, or None when it holds nothing.
Value = str | int | float | frozenset[str] | frozenset[tuple[str, int, int]] | None


class ControlKind(Protocol):
    """What the package knows about one control tag: how the model fills it and how its results are compared."""

    @property
    def filled(self) -> bool:
        """The backend fills it from the structured answer (TextAreas get the free-text answer instead)."""

    def schema(self, control: ConfigControl) -> dict[str, Any]:
        """The JSON schema of the control's value in the model's structured answer."""

    def read(
        self, control: ConfigControl, value: Any, text_of: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The Label Studio result items the model's ``value`` makes, or none and the reason it does not validate.

        ``text_of`` maps object names to their text (where Labels spans are located).
        """

    def reshape(self, control: ConfigControl, value: Any) -> Any:
        """``value`` in the shape ``schema`` asks for where a model plausibly wrote another (a number as a string, a
        taxonomy path as a list of steps); anything else unchanged, for ``read`` to validate."""

    def from_prose(self, control: ConfigControl, lines: Sequence[str]) -> Any:
        """The value a plain-text answer names (its lines, stripped and casefolded), or None when it names none:
        an answer that is exactly a label selects it."""

    def answer_from(self, control: ConfigControl, values: Sequence[Mapping[str, Any]]) -> Any:
        """The ``value`` objects of a person's result items of this control, written as the model's answer would
        hold them (``read`` the other way round; few-shot examples are made of these)."""

    def evaluation(self, control: ConfigControl) -> Evaluation:
        """The family of metrics that compares this control's predictions with annotations."""

    def values(self, control: ConfigControl) -> tuple[str, ...]:
        """Every value a person can give, as a report lists them (unused ones too); empty for numbers and text."""

    def value_from_result(self, control: ConfigControl, result: Mapping[str, Any]) -> Value:
        """One result item of this control (annotation or prediction) as a comparable value."""


def frozen_attrs(attrs: Mapping[str, Any]) -> Mapping[str, str]:
    """A tag's attributes as a read-only mapping of strings (unset ones left out)."""
    return MappingProxyType({str(key): str(value) for key, value in attrs.items() if value is not None})


@dataclass(frozen=True)
class ConfigObject:
    """An object tag (``Text``, ``Paragraphs``, ``Image``, ...): what a task shows and the data key it reads."""

    tag: str
    name: str
    value_key: str | None  # ``$prompt`` -> ``prompt``; None when the value is not a ``$variable``
    attrs: Mapping[str, str] = field(default_factory=lambda: frozen_attrs({}), hash=False)

    @property
    def kind(self) -> ObjectKind:
        """What the object shows: a text, a dialogue, an image, or another kind."""
        return _OBJECT_KINDS.get(self.tag, ObjectKind.OTHER)

    @property
    def name_key(self) -> str:
        """The key of a Paragraphs item's speaker (Label Studio's default: ``author``)."""
        return self.attrs.get("nameKey") or _NAME_KEY

    @property
    def text_key(self) -> str:
        """The key of a Paragraphs item's words (Label Studio's default: ``text``)."""
        return self.attrs.get("textKey") or _TEXT_KEY

    @property
    def is_url(self) -> bool:
        """The task holds a URL to the text (``valueType="url"``) rather than the text itself."""
        return self.attrs.get("valueType") == "url"


@dataclass(frozen=True)
class ConfigControl:
    """A control tag (``Choices``, ``TextArea``, ``Ranker``, ...) and the control kind that fills and compares it.

    ``kind`` is the entry of ``labeling.CONTROL_KINDS`` for the tag, or None for a tag this package neither fills
    nor compares (``Ranker``, region tools). ``paths`` are a Taxonomy's selectable paths, in order.
    """

    tag: str
    name: str
    to_name: tuple[str, ...]
    labels: tuple[str, ...]
    kind: ControlKind | None
    attrs: Mapping[str, str] = field(default_factory=lambda: frozen_attrs({}), hash=False)
    paths: tuple[tuple[str, ...], ...] = ()
    _sdk: Any = field(default=None, compare=False, repr=False)  # the SDK's tag, which builds result regions

    @property
    def separator(self) -> str:
        """How a Taxonomy path is written as one string (``pathSeparator``, Label Studio's default ``" / "``)."""
        return self.attrs.get("pathSeparator", _DEFAULT_SEPARATOR)

    def sdk_schema(self) -> dict[str, Any]:
        """The SDK's JSON schema of this control's value (``to_json_schema()``), a fresh dict each call."""
        schema: dict[str, Any] = self._built_by_sdk().to_json_schema()
        return schema

    def region(self, **value: Any) -> dict[str, Any]:
        """One Label Studio result item of this control holding ``value`` (built by the SDK, with a fresh id)."""
        made: dict[str, Any] = json.loads(self._built_by_sdk().label(**value).to_json())
        return made

    def _built_by_sdk(self) -> Any:
        if self._sdk is None:
            raise TypeError(f"{self.name!r} was not parsed from a config: only parse_config's controls reach the SDK")
        return self._sdk


@dataclass(frozen=True)
class LabelingConfig:
    """A labeling config as this package reads it: its object tags and control tags, in document order."""

    objects: tuple[ConfigObject, ...]
    controls: tuple[ConfigControl, ...]

    def object(self, name: str) -> ConfigObject | None:
        """The object tag of this name, if there is one."""
        return next((obj for obj in self.objects if obj.name == name), None)

    def control(self, name: str) -> ConfigControl | None:
        """The control tag of this name, if there is one."""
        return next((control for control in self.controls if control.name == name), None)

    def controls_of(self, *tags: str) -> tuple[ConfigControl, ...]:
        """The control tags of these tag names, in document order."""
        return tuple(control for control in self.controls if control.tag in tags)
