"""The control kinds: one entry per control tag the package fills or compares, in one table, ``CONTROL_KINDS``.

Each entry is a ``ControlKind`` (see ``labeling.model``) and gives, for its tag:

- ``schema(control)``: the JSON schema of the control's value in the model's structured answer (from the SDK's
  ``to_json_schema()`` where it fits the way we ask);
- ``read(control, value, text_of)``: the model's value validated into Label Studio result items, or none and the
  reason (nothing is ever guessed; Labels spans are quoted by the model and located in the text here, so their
  offsets always match it);
- ``reshape(control, value)`` and ``from_prose(control, lines)``: the other shapes a model plausibly writes the
  value in, and the value a plain-text answer names (a label alone), both validated by ``read`` afterwards;
- ``answer_from(control, values)``: a person's result values of the control written as the model's answer would hold
  them (``read`` the other way round; the backend's few-shot examples);
- ``evaluation(control)`` and ``values(control)``: the ``Evaluation`` family that compares its predictions with
  annotations, and every value a person can give (what a report lists);
- ``value_from_result(control, result)``: one Label Studio result item of the control read into a comparable
  value: a label or None (``SINGLE_CHOICE``), a frozenset of labels or of taxonomy paths (``MULTI_LABEL``), a
  number or None (``SCALAR``), a frozenset of ``(label, start, end)`` (``SPANS``), a text or None (``TEXT``).

``kind_of(control)`` is the lookup that refuses a tag without an entry. Adding a control kind is adding one class
and one line to ``CONTROL_KINDS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ls_langchain.errors import LabelingConfigError
from ls_langchain.labeling.model import ConfigControl, ControlKind, Evaluation, Value

__all__ = ["CONTROL_KINDS", "FILLABLE_TAGS", "kind_of", "taxonomy_paths"]

_WORD = re.compile(r"\w")
_Regions = tuple[list[dict[str, Any]], str | None]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    description = schema.pop("description", None)
    wrapped: dict[str, Any] = {"anyOf": [schema, {"type": "null"}]}
    if description:
        wrapped["description"] = description
    return wrapped


def _shown(value: Any, width: int = 80) -> str:
    return json.dumps(value)[:width]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _lines(text: Any) -> list[str]:
    return [text] if isinstance(text, str) else [str(line) for line in text or ()]


def _value(result: Mapping[str, Any]) -> Mapping[str, Any]:
    value = result.get("value")
    return value if isinstance(value, Mapping) else {}


def taxonomy_paths(control: ConfigControl) -> dict[str, tuple[str, ...]]:
    """The selectable paths of a Taxonomy as written for the model (``A / B``), each with its path as a tuple."""
    return {control.separator.join(path): path for path in control.paths}


_FINAL_PUNCTUATION = ".!?;:,"


def _prose_key(text: str) -> str:
    """A label as compared with prose: case, surrounding whitespace, quotes and final punctuation ignored."""
    return text.strip().strip("\"'`*").rstrip(_FINAL_PUNCTUATION).strip().casefold()


def _named(names: Mapping[str, str], lines: Sequence[str]) -> list[str] | None:
    """The values ``lines`` name, once each in their order, when every line names one; else None."""
    keys = [_prose_key(line) for line in lines]
    if not keys or not all(key in names for key in keys):
        return None
    return list(dict.fromkeys(names[key] for key in keys))


def _number(value: Any) -> Any:
    """A number written as a string, read as the number; anything else unchanged."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    return value


class _AsWritten:
    """A kind whose answers are read as written: no other shape is accepted and prose names no value."""

    def reshape(self, control: ConfigControl, value: Any) -> Any:
        """``value`` unchanged."""
        return value

    def from_prose(self, control: ConfigControl, lines: Sequence[str]) -> Any:
        """Nothing: prose is not read for this kind."""
        return None

    def values(self, control: ConfigControl) -> tuple[str, ...]:
        """None listed: the values are numbers or free text."""
        return ()


class ChoicesKind:
    """``<Choices>``: one label or none, or with ``choice="multiple"`` every label that applies."""

    filled = True

    @staticmethod
    def _multiple(control: ConfigControl) -> bool:
        return control.attrs.get("choice") == "multiple"

    def schema(self, control: ConfigControl) -> dict[str, Any]:
        """The SDK's enum of labels; a list when multiple, else one label or null."""
        schema = control.sdk_schema()
        if self._multiple(control):
            schema["description"] = f"{control.name}: every label that applies (empty if none)"
            return schema
        schema["description"] = f"{control.name}: the one label that applies, or null if none does"
        return _nullable(schema)

    def read(self, control: ConfigControl, value: Any, text_of: Mapping[str, str]) -> _Regions:
        """The chosen labels, in the config's order; a label not in the config is a reason."""
        labels = control.labels
        if self._multiple(control):
            if not _is_strings(value):
                return [], f"expected a list of labels, got {_shown(value)}"
            unknown = [v for v in value if v not in labels]
            if unknown:
                return [], f"{', '.join(map(repr, unknown))} not among its labels"
            chosen = [label for label in labels if label in value]
            return ([control.region(choices=chosen)] if chosen else []), None
        if value is None:
            return [], None
        if value not in labels:
            return [], f"{_shown(value)} is not one of its labels"
        return [control.region(choices=[value])], None

    def reshape(self, control: ConfigControl, value: Any) -> Any:
        """One label where a list was asked for becomes a list; a one-label list where one was asked for, the label."""
        if self._multiple(control):
            return [value] if isinstance(value, str) else value
        return value[0] if isinstance(value, list) and len(value) == 1 else value

    def from_prose(self, control: ConfigControl, lines: Sequence[str]) -> Any:
        """The label the whole answer is, or with ``choice="multiple"`` the labels its lines are, one per line."""
        chosen = _named({_prose_key(label): label for label in control.labels}, lines)
        if chosen is None or self._multiple(control):
            return chosen
        return chosen[0] if len(lines) == 1 else None

    def answer_from(self, control: ConfigControl, values: Sequence[Mapping[str, Any]]) -> Any:
        """The chosen labels, or with a single choice the first one (None when none is chosen)."""
        chosen = [str(label) for value in values for label in value.get("choices") or ()]
        if self._multiple(control):
            return chosen
        return chosen[0] if chosen else None

    def evaluation(self, control: ConfigControl) -> Evaluation:
        """Single choice, or multi-label with ``choice="multiple"``."""
        return Evaluation.MULTI_LABEL if self._multiple(control) else Evaluation.SINGLE_CHOICE

    def values(self, control: ConfigControl) -> tuple[str, ...]:
        """The labels."""
        return control.labels

    def value_from_result(self, control: ConfigControl, result: Mapping[str, Any]) -> Value:
        """The chosen label (or None), or with ``choice="multiple"`` the frozenset of chosen labels."""
        chosen = [str(label) for label in _value(result).get("choices") or ()]
        if self._multiple(control):
            return frozenset(chosen)
        return chosen[0] if chosen else None


class TaxonomyKind:
    """``<Taxonomy>``: every category that applies, each a path written with the tag's ``pathSeparator``."""

    filled = True

    def schema(self, control: ConfigControl) -> dict[str, Any]:
        """A list of the selectable paths, each one string."""
        return {
            "type": "array",
            "items": {"type": "string", "enum": list(taxonomy_paths(control))},
            "description": f"{control.name}: every category that applies, as its full path (empty if none)",
        }

    def read(self, control: ConfigControl, value: Any, text_of: Mapping[str, str]) -> _Regions:
        """The chosen paths, once each; a path not in the config is a reason."""
        paths = taxonomy_paths(control)
        if not _is_strings(value):
            return [], f"expected a list of category paths, got {_shown(value)}"
        unknown = [v for v in value if v not in paths]
        if unknown:
            return [], f"{', '.join(map(repr, unknown))} not among its category paths"
        chosen = [list(paths[v]) for v in dict.fromkeys(value)]
        return ([control.region(taxonomy=chosen)] if chosen else []), None

    def reshape(self, control: ConfigControl, value: Any) -> Any:
        """A path written as a list of steps is joined with the separator; one path becomes a list of one."""
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list):
            return value
        return [control.separator.join(map(str, v)) if isinstance(v, list) and v else v for v in value]

    def from_prose(self, control: ConfigControl, lines: Sequence[str]) -> Any:
        """The paths the answer's lines are, one per line: each its full path, or a leaf's own name when no other
        category shares it."""
        paths = taxonomy_paths(control)
        leaves: dict[str, list[str]] = {}
        for joined, steps in paths.items():
            leaves.setdefault(_prose_key(steps[-1]), []).append(joined)
        names = {leaf: joined[0] for leaf, joined in leaves.items() if len(joined) == 1}
        names.update({_prose_key(joined): joined for joined in paths})
        return _named(names, lines)

    def answer_from(self, control: ConfigControl, values: Sequence[Mapping[str, Any]]) -> Any:
        """Each chosen path once, written with the separator."""
        paths = [control.separator.join(map(str, path)) for value in values for path in value.get("taxonomy") or ()]
        return list(dict.fromkeys(paths))

    def evaluation(self, control: ConfigControl) -> Evaluation:
        """A set of paths."""
        return Evaluation.MULTI_LABEL

    def values(self, control: ConfigControl) -> tuple[str, ...]:
        """The selectable paths, written with the separator."""
        return tuple(taxonomy_paths(control))

    def value_from_result(self, control: ConfigControl, result: Mapping[str, Any]) -> Value:
        """The frozenset of chosen paths, each written with the separator (as ``schema`` names them)."""
        paths = _value(result).get("taxonomy") or ()
        return frozenset(control.separator.join(str(step) for step in path) for path in paths)


class RatingKind(_AsWritten):
    """``<Rating>``: a whole number of stars from 1 to ``maxRating``, or unrated."""

    filled = True

    @staticmethod
    def _top(control: ConfigControl) -> int:
        return int(control.attrs.get("maxRating") or 5)

    def schema(self, control: ConfigControl) -> dict[str, Any]:
        """The SDK's integer range, from 1; null leaves it unrated."""
        schema = {**control.sdk_schema(), "minimum": 1}
        schema["description"] = f"{control.name}: a rating from 1 to {schema['maximum']}, or null to leave it unrated"
        return _nullable(schema)

    def reshape(self, control: ConfigControl, value: Any) -> Any:
        """A rating written as a string, read as the number."""
        return _number(value)

    def read(self, control: ConfigControl, value: Any, text_of: Mapping[str, str]) -> _Regions:
        """The rating, when it is a whole number in range."""
        top = self._top(control)
        if value is None:
            return [], None
        if not _is_number(value) or value != int(value) or not 1 <= value <= top:
            return [], f"{_shown(value)} is not a whole rating from 1 to {top}"
        return [control.region(rating=int(value))], None

    def answer_from(self, control: ConfigControl, values: Sequence[Mapping[str, Any]]) -> Any:
        """The first rating, or None."""
        return next((value["rating"] for value in values if _is_number(value.get("rating"))), None)

    def evaluation(self, control: ConfigControl) -> Evaluation:
        """A number."""
        return Evaluation.SCALAR

    def values(self, control: ConfigControl) -> tuple[str, ...]:
        """Every number of stars, 1 to ``maxRating``."""
        return tuple(str(stars) for stars in range(1, self._top(control) + 1))

    def value_from_result(self, control: ConfigControl, result: Mapping[str, Any]) -> Value:
        """The rating, or None."""
        rating = _value(result).get("rating")
        return rating if _is_number(rating) else None


class NumberKind(_AsWritten):
    """``<Number>``: a number within the tag's ``min`` and ``max``, or none."""

    filled = True

    def schema(self, control: ConfigControl) -> dict[str, Any]:
        """The SDK's number range; null when the text gives none."""
        schema = control.sdk_schema()
        schema["description"] = f"{control.name}: a number, or null when the text gives none"
        return _nullable(schema)

    def reshape(self, control: ConfigControl, value: Any) -> Any:
        """A number written as a string, read as the number."""
        return _number(value)

    def read(self, control: ConfigControl, value: Any, text_of: Mapping[str, str]) -> _Regions:
        """The number, when it is within the bounds."""
        if value is None:
            return [], None
        low, high = (control.attrs.get(bound) for bound in ("min", "max"))
        if (
            not _is_number(value)
            or (low is not None and value < float(low))
            or (high is not None and value > float(high))
        ):
            return [], f"{_shown(value)} is not a number within [{low}, {high}]"
        return [control.region(number=value)], None

    def answer_from(self, control: ConfigControl, values: Sequence[Mapping[str, Any]]) -> Any:
        """The first number, or None."""
        return next((value["number"] for value in values if _is_number(value.get("number"))), None)

    def evaluation(self, control: ConfigControl) -> Evaluation:
        """A number."""
        return Evaluation.SCALAR

    def value_from_result(self, control: ConfigControl, result: Mapping[str, Any]) -> Value:
        """The number, or None."""
        number = _value(result).get("number")
        return number if _is_number(number) else None


def _spans(text: str, quote: str) -> list[tuple[int, int]]:
    """Where ``quote`` occurs in ``text`` as whole words at its edges: exactly, else ignoring case."""
    for flags in (0, re.IGNORECASE):
        found = []
        for match in re.finditer(re.escape(quote), text, flags):
            start, end = match.span()
            cut_before = _WORD.match(quote[0]) and start > 0 and _WORD.match(text[start - 1])
            cut_after = _WORD.match(quote[-1]) and end < len(text) and _WORD.match(text[end])
            if not (cut_before or cut_after):
                found.append((start, end))
        if found:
            return found
    return []


class LabelsKind(_AsWritten):
    """``<Labels>`` on a text: spans the model quotes with their label, located in the text here."""

    filled = True

    def schema(self, control: ConfigControl) -> dict[str, Any]:
        """A list of (label, exact quote); offsets are found in the text, never taken from the model."""
        return {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "label": {"type": "string", "enum": list(control.labels)},
                    "text": {"type": "string", "description": "the span, quoted exactly as it appears in the text"},
                },
                "required": ["label", "text"],
                "additionalProperties": False,
            },
            "description": f"{control.name}: every span of the text to label, each an exact quote with its label",
        }

    def read(self, control: ConfigControl, value: Any, text_of: Mapping[str, str]) -> _Regions:
        """A region for every occurrence of each quote; each quote not found is a reason."""
        text = text_of.get(control.to_name[0])
        if text is None:
            return [], f"its object {control.to_name[0]!r} holds no plain text to locate spans in"
        if not isinstance(value, list):
            return [], f"expected a list of spans, got {_shown(value)}"
        made: dict[tuple[int, int, str], dict[str, Any]] = {}
        problems = []
        for item in value:
            label, quote = (item.get("label"), item.get("text")) if isinstance(item, Mapping) else (None, None)
            if label not in control.labels or not isinstance(quote, str) or not quote.strip():
                problems.append(f"{_shown(item, 60)} is not a label and a quote")
                continue
            spans = _spans(text, quote.strip())
            if not spans:
                problems.append(f"{quote[:40]!r} does not occur in the text")
            for start, end in spans:
                region = control.region(label=[label], start=start, end=end)
                region["value"]["text"] = text[start:end]
                made.setdefault((start, end, str(label)), region)
        return list(made.values()), "; ".join(problems) or None

    def answer_from(self, control: ConfigControl, values: Sequence[Mapping[str, Any]]) -> Any:
        """Each (label, quote) once, as the model is asked to write it (a quote marks every place it occurs)."""
        spans = {
            (str(label), str(value["text"])): None
            for value in values
            for label in value.get("labels") or ()
            if value.get("text")
        }
        return [{"label": label, "text": text} for label, text in spans]

    def evaluation(self, control: ConfigControl) -> Evaluation:
        """A set of spans."""
        return Evaluation.SPANS

    def values(self, control: ConfigControl) -> tuple[str, ...]:
        """The labels."""
        return control.labels

    def value_from_result(self, control: ConfigControl, result: Mapping[str, Any]) -> Value:
        """The frozenset of ``(label, start, end)`` of the result item's span."""
        value = _value(result)
        start, end = value.get("start"), value.get("end")
        if not (isinstance(start, int | float) and isinstance(end, int | float)):
            return frozenset()
        return frozenset((str(label), int(start), int(end)) for label in value.get("labels") or ())


class TextAreaKind(_AsWritten):
    """``<TextArea>``: free text; the backend fills response TextAreas from the answer text, not a schema field."""

    filled = False

    def schema(self, control: ConfigControl) -> dict[str, Any]:
        """One text."""
        return {"type": "string", "description": f"{control.name}: the text"}

    def read(self, control: ConfigControl, value: Any, text_of: Mapping[str, str]) -> _Regions:
        """The text, or a list of texts; empty is nothing."""
        if value is None or value == "" or value == []:
            return [], None
        texts = [value] if isinstance(value, str) else value
        if not _is_strings(texts):
            return [], f"expected a text, got {_shown(value)}"
        return [control.region(text=texts)], None

    def answer_from(self, control: ConfigControl, values: Sequence[Mapping[str, Any]]) -> Any:
        """The texts, one per line."""
        return "\n".join(line for value in values for line in _lines(value.get("text")))

    def evaluation(self, control: ConfigControl) -> Evaluation:
        """Free text."""
        return Evaluation.TEXT

    def value_from_result(self, control: ConfigControl, result: Mapping[str, Any]) -> Value:
        """The text, lines joined with newlines, or None when the item holds none."""
        text = _value(result).get("text")
        if text is None:
            return None
        return "\n".join(str(line) for line in text) if isinstance(text, list) else str(text)


class PairwiseKind:
    """``<Pairwise>``: which of two objects (answers, say) is better, ``left`` (the first) or ``right``; the model can
    judge it, and a judgement compares like a single choice."""

    filled = True
    _SIDES = ("left", "right")

    def schema(self, control: ConfigControl) -> dict[str, Any]:
        """The SDK's ``left`` / ``right``, or null when neither is better."""
        schema = control.sdk_schema()
        schema["description"] = (
            f"{control.name}: which is better, {' (left) or '.join(control.to_name[:2])} (right); null if neither is"
        )
        return _nullable(schema)

    def read(self, control: ConfigControl, value: Any, text_of: Mapping[str, str]) -> _Regions:
        """The side chosen; anything but ``left`` or ``right`` is a reason."""
        if value is None:
            return [], None
        if value not in self._SIDES:
            return [], f"{_shown(value)} is neither 'left' nor 'right'"
        return [control.region(label=value)], None

    def _sides(self, control: ConfigControl) -> dict[str, str]:
        """What a model may write for each side: the side, or the name of the object on it."""
        names = {_prose_key(side): side for side in self._SIDES}
        names.update({_prose_key(name): side for name, side in zip(control.to_name, self._SIDES, strict=False)})
        return names

    def reshape(self, control: ConfigControl, value: Any) -> Any:
        """A side named by its object (``answer_b``) or in another case (``Left``) is the side."""
        return self._sides(control).get(_prose_key(value), value) if isinstance(value, str) else value

    def from_prose(self, control: ConfigControl, lines: Sequence[str]) -> Any:
        """The side a one-line answer names."""
        chosen = _named(self._sides(control), lines)
        return chosen[0] if chosen is not None and len(lines) == 1 else None

    def answer_from(self, control: ConfigControl, values: Sequence[Mapping[str, Any]]) -> Any:
        """The side a person chose, or None."""
        return next((str(value["selected"]) for value in values if value.get("selected") in self._SIDES), None)

    def evaluation(self, control: ConfigControl) -> Evaluation:
        """One of two sides: a single choice."""
        return Evaluation.SINGLE_CHOICE

    def values(self, control: ConfigControl) -> tuple[str, ...]:
        """``left`` and ``right``."""
        return self._SIDES

    def value_from_result(self, control: ConfigControl, result: Mapping[str, Any]) -> Value:
        """The side chosen, or None."""
        selected = _value(result).get("selected")
        return str(selected) if selected in self._SIDES else None


#: The control kinds by tag: what the backend fills and the evaluation compares. Other tags (Ranker,
#: region tools) have no entry; ``kind_of`` refuses them.
CONTROL_KINDS: Mapping[str, ControlKind] = {
    "Choices": ChoicesKind(),
    "Taxonomy": TaxonomyKind(),
    "Rating": RatingKind(),
    "Number": NumberKind(),
    "Labels": LabelsKind(),
    "TextArea": TextAreaKind(),
    "Pairwise": PairwiseKind(),
}
#: The control tags the backend fills from the structured answer (TextAreas go through the answer text).
FILLABLE_TAGS = tuple(tag for tag, kind in CONTROL_KINDS.items() if kind.filled)


def kind_of(control: ConfigControl) -> ControlKind:
    """The control kind of ``control``; a tag without an entry is a ``LabelingConfigError``, never a fallback."""
    kind = CONTROL_KINDS.get(control.tag)
    if kind is None:
        raise LabelingConfigError(
            f"<{control.tag} name={control.name!r}> is not a control this package fills or compares: use one of "
            f"{', '.join(CONTROL_KINDS)}."
        )
    return kind
